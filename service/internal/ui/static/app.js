// Progressive enhancement for GopherOps pages. Every page works without this
// file: confirmations are <details> blocks, the dashboard has a reload link.
// With it, those blocks become modal dialogs, the temporary password gets a
// copy button, oversized avatars are caught before upload and the dashboard
// refreshes itself. No inline script anywhere, so the CSP can forbid it.
"use strict";

(function () {
  // <details data-dialog> blocks become buttons that open a modal <dialog>.
  function enhanceDialogs() {
    if (typeof HTMLDialogElement !== "function") return;
    document.querySelectorAll("details[data-dialog]").forEach(function (details) {
      var summary = details.querySelector("summary");
      var body = details.querySelector(".dialog-body");
      if (!summary || !body) return;
      var dialog = document.createElement("dialog");
      var title = body.querySelector(".dialog-title");
      if (title) {
        title.id = title.id || "dialog-title-" + Math.random().toString(36).slice(2);
        dialog.setAttribute("aria-labelledby", title.id);
      }
      var open = document.createElement("button");
      open.type = "button";
      open.className = summary.className.replace(/\bbutton\b/, "").trim();
      open.textContent = summary.textContent;
      open.setAttribute("aria-haspopup", "dialog");
      open.addEventListener("click", function () { dialog.showModal(); });

      var cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "secondary";
      cancel.textContent = "Cancel";
      cancel.addEventListener("click", function () { dialog.close(); });
      var actions = body.querySelector(".dialog-actions");
      if (actions) actions.insertBefore(cancel, actions.firstChild);

      dialog.appendChild(body);
      // A click on the backdrop (outside the dialog's box) closes it.
      dialog.addEventListener("click", function (ev) {
        if (ev.target !== dialog) return;
        var r = dialog.getBoundingClientRect();
        if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) dialog.close();
      });
      var wasOpen = details.open;
      details.replaceWith(open);
      document.body.appendChild(dialog);
      if (wasOpen) {
        dialog.showModal();
        var bad = dialog.querySelector("[aria-invalid=true]");
        if (bad) bad.focus();
      }
    });
  }

  // The first invalid field of a page gets the focus, else the field the
  // page asks for. autofocus alone does not do it when the address has a
  // #fragment (as after the redirect to the password form).
  function focusInvalid() {
    if (document.querySelector("dialog[open]")) return;
    var el = document.querySelector("main [aria-invalid=true]") || document.querySelector("main [autofocus]");
    if (el && document.activeElement !== el) el.focus();
  }

  // Copy buttons: data-copy names the element whose text is copied.
  function enhanceCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = source.textContent;
        var done = function () { button.textContent = "Copied"; };
        var select = function () {
          var range = document.createRange();
          range.selectNodeContents(source);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          button.textContent = "Selected: press Ctrl+C";
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, select);
        } else {
          select();
        }
      });
    });
  }

  // Avatars larger than the server accepts are refused before upload.
  function enhanceUploads() {
    document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
      var max = Number(input.getAttribute("data-max-bytes"));
      var err = document.getElementById(input.id.replace(/-file$/, "") + "-error");
      input.addEventListener("change", function () {
        var f = input.files && input.files[0];
        var tooBig = f && f.size > max;
        input.setCustomValidity(tooBig ? "Choose an image of at most 1 MiB." : "");
        if (err) {
          err.textContent = tooBig ? "Avatar must be at most 1 MiB; this file is " + (f.size / 1048576).toFixed(1) + " MiB." : "";
          err.hidden = !tooBig;
        }
        if (tooBig) {
          input.setAttribute("aria-invalid", "true");
        } else {
          input.removeAttribute("aria-invalid");
        }
      });
    });
  }

  // The live dashboard: fetch the server-rendered fragment and swap it in,
  // so every figure keeps the one format the server gives it. When a fetch
  // fails the page says how old its figures are and keeps retrying.
  function enhanceDashboard() {
    var dash = document.getElementById("dashboard");
    if (!dash) return;
    var url = dash.getAttribute("data-live");
    var stale = document.querySelector("[data-stale]");
    var updated = document.querySelector("[data-updated]");
    var note = document.querySelector("[data-refresh-note]");
    if (note) note.textContent = "Refreshes every 5 seconds.";
    var period = 5000;
    var failures = 0;

    function clockNow() { return new Date().toISOString().slice(11, 19) + " UTC"; }

    function markStale(reason) {
      failures++;
      var live = dash.querySelector(".live");
      if (live) live.classList.add("is-stale");
      if (stale) {
        stale.hidden = false;
        stale.textContent = "Stale: the figures below are from " + (updated ? updated.textContent : "earlier") +
          ". " + reason + " at " + clockNow() + "; retrying every 5 seconds.";
      }
    }

    function fresh(html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var live = doc.querySelector(".live");
      if (!live) throw new Error("unexpected answer");
      dash.replaceChildren(document.importNode(live, true));
      if (updated) {
        updated.textContent = live.getAttribute("data-server-clock");
        updated.setAttribute("datetime", live.getAttribute("data-server-time"));
      }
      failures = 0;
      if (stale) { stale.hidden = true; stale.textContent = ""; }
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store" })
        .then(function (r) {
          if (r.redirected) {
            // Signed out, or sent to change a password: go where the server says.
            window.location.href = r.url;
            throw new Error("redirected");
          }
          if (!r.ok) throw new Error("The server answered " + r.status);
          return r.text();
        })
        .then(fresh)
        .catch(function (e) {
          if (e && e.message === "redirected") return;
          markStale(e && /^The server/.test(e.message) ? e.message : "The server could not be reached");
        })
        .finally(function () { window.setTimeout(poll, period); });
    }
    window.setTimeout(poll, period);
  }

  enhanceDialogs();
  focusInvalid();
  // Scrolling to a #fragment after the load resets the focus: set it again.
  window.addEventListener("load", function () {
    if (document.activeElement === document.body) focusInvalid();
  });
  enhanceCopy();
  enhanceUploads();
  enhanceDashboard();
})();
