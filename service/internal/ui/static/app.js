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
        var bad = dialog.querySelector("[autofocus]") || dialog.querySelector("[aria-invalid=true]");
        if (bad) bad.focus();
      }
    });
  }

  // The field the page asks for gets the focus (the server marks the first
  // invalid one, or the password after a refused sign-in), else the first
  // invalid field. autofocus alone does not do it when the address has a
  // #fragment (as after the redirect to the password form).
  function focusInvalid() {
    if (document.querySelector("dialog[open]")) return;
    var el = document.querySelector("main [autofocus]") || document.querySelector("main [aria-invalid=true]");
    if (el && document.activeElement !== el) el.focus();
  }

  // Password fields get a button that shows what was typed, and hides it
  // again; the field keeps its focus and its caret.
  function enhancePasswords(root) {
    (root || document).querySelectorAll("input[type=password][data-reveal]").forEach(function (input) {
      var wrap = document.createElement("div");
      wrap.className = "password";
      input.parentNode.insertBefore(wrap, input);
      wrap.appendChild(input);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small";
      button.textContent = "Show";
      button.setAttribute("aria-controls", input.id);
      var label = document.querySelector("label[for='" + input.id + "']");
      var what = label ? label.textContent.trim().toLowerCase() : "password";
      button.setAttribute("aria-label", "Show " + what);
      button.addEventListener("click", function () {
        var show = input.type === "password";
        input.type = show ? "text" : "password";
        button.textContent = show ? "Hide" : "Show";
        button.setAttribute("aria-label", (show ? "Hide " : "Show ") + what);
      });
      wrap.appendChild(button);
      // A password is never sent, or kept by the browser, as plain text.
      if (input.form) input.form.addEventListener("submit", function () { input.type = "password"; });
    });
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

  // Times come from the server in UTC, each in a <time datetime> element.
  // With a script they are shown in the browser's time zone: data-relative
  // ones say how long ago ("5 minutes ago") with the exact local time on
  // hover, data-clock ones show the local clock time, data-local ones the
  // local date and time.
  var exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });
  var localFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  var clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" });
  var relativeFormat = typeof Intl.RelativeTimeFormat === "function" ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

  function relative(date) {
    var seconds = (date.getTime() - Date.now()) / 1000;
    var abs = Math.abs(seconds);
    if (!relativeFormat) return localFormat.format(date);
    if (abs < 45) return relativeFormat.format(0, "second");
    var units = [["minute", 60], ["hour", 3600], ["day", 86400], ["month", 2629800], ["year", 31557600]];
    var unit = units[0];
    for (var i = 0; i < units.length; i++) if (abs >= units[i][1] * (i === 0 ? 0.75 : 0.9)) unit = units[i];
    return relativeFormat.format(Math.round(seconds / unit[1]), unit[0]);
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      if (el.hasAttribute("data-relative")) {
        el.textContent = relative(date);
        el.title = exactFormat.format(date);
      } else if (el.hasAttribute("data-clock")) {
        el.textContent = clockFormat.format(date);
      } else if (el.hasAttribute("data-local")) {
        el.textContent = localFormat.format(date);
        el.title = exactFormat.format(date);
      }
    });
  }

  // Charts: hovering or focusing one shows the value of a bucket; with the
  // keyboard, the arrow keys (and Home, End) move between buckets. The
  // values are also in each chart's table, without a script too.
  function enhanceCharts(root) {
    root.querySelectorAll("svg[data-chart]").forEach(function (svg) {
      var area = svg.parentNode;
      var ys = svg.getAttribute("data-ys").split(" ");
      var values = svg.getAttribute("data-values").split("|");
      var start = new Date(svg.getAttribute("data-start")).getTime();
      var step = Number(svg.getAttribute("data-step")) * 1000;
      var n = values.length;
      if (!n || isNaN(start)) return;
      var fig = svg.closest("figure");
      var hint = document.createElement("span");
      hint.className = "visually-hidden";
      hint.id = fig.id + "-hint";
      hint.textContent = "Use the left and right arrow keys to read the value of every 10 seconds.";
      area.appendChild(hint);
      svg.setAttribute("tabindex", "0");
      svg.setAttribute("aria-describedby", hint.id);
      var marker = document.createElement("div");
      marker.className = "marker";
      marker.hidden = true;
      var readout = document.createElement("p");
      readout.className = "readout";
      readout.setAttribute("aria-live", "polite");
      readout.hidden = true;
      area.appendChild(marker);
      area.appendChild(readout);

      function show(i) {
        i = Math.max(0, Math.min(n - 1, i));
        svg.setAttribute("data-index", String(i));
        var w = area.clientWidth, h = area.clientHeight;
        var x = n > 1 ? i / (n - 1) * w : 0;
        marker.hidden = false;
        marker.style.left = x + "px";
        marker.style.setProperty("--y", ys[i] === "" ? "-100px" : (Number(ys[i]) / 150 * h) + "px");
        readout.textContent = clockFormat.format(new Date(start + i * step)) + ": " + values[i];
        readout.hidden = false;
        var half = readout.offsetWidth / 2;
        readout.style.left = Math.max(half, Math.min(w - half, x)) + "px";
      }
      function hide() {
        if (document.activeElement === svg) return;
        marker.hidden = true;
        readout.hidden = true;
      }
      function latest() {
        for (var i = n - 1; i >= 0; i--) if (ys[i] !== "") return i;
        return n - 1;
      }
      svg.addEventListener("mousemove", function (ev) {
        var r = svg.getBoundingClientRect();
        show(Math.round((ev.clientX - r.left) / r.width * (n - 1)));
      });
      svg.addEventListener("mouseleave", hide);
      svg.addEventListener("focus", function () {
        var i = svg.getAttribute("data-index");
        show(i === null ? latest() : Number(i));
      });
      svg.addEventListener("blur", function () { marker.hidden = true; readout.hidden = true; });
      svg.addEventListener("keydown", function (ev) {
        var i = svg.getAttribute("data-index");
        i = i === null ? latest() : Number(i);
        var next = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: n - 1 }[ev.key];
        if (next === undefined) return;
        ev.preventDefault();
        show(next);
      });
    });
  }

  // A confirmation (delete, reset, a bulk action) is a page of its own
  // without a script. With one, its form opens in a modal dialog over the
  // page it was asked from: the same server-rendered form, fetched.
  function confirmDialog(fetched) {
    return fetched.then(function (r) {
      if (!r.ok || r.redirected) throw new Error("not a confirmation");
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var form = doc.querySelector("form.confirm-form");
      if (!form) throw new Error("not a confirmation");
      closeMenus();
      var dialog = document.createElement("dialog");
      var body = document.importNode(form, true);
      body.classList.add("dialog-body");
      var title = body.querySelector(".dialog-title");
      if (title) {
        var h = document.createElement("h2");
        h.className = title.className;
        h.id = "dialog-title-" + Math.random().toString(36).slice(2);
        h.textContent = title.textContent;
        title.replaceWith(h);
        dialog.setAttribute("aria-labelledby", h.id);
      }
      dialog.appendChild(body);
      var cancel = body.querySelector("[data-cancel]");
      if (cancel) cancel.addEventListener("click", function (ev) { ev.preventDefault(); dialog.close(); });
      dialog.addEventListener("close", function () { dialog.remove(); });
      document.body.appendChild(dialog);
      enhancePasswords(dialog);
      dialog.showModal();
      var first = dialog.querySelector("input:not([type=hidden])") || dialog.querySelector("button[type=submit]");
      if (first) first.focus();
    });
  }

  function enhanceConfirmLinks() {
    document.querySelectorAll("a[data-confirm]").forEach(function (link) {
      link.setAttribute("aria-haspopup", "dialog");
      link.addEventListener("click", function (ev) {
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey || typeof HTMLDialogElement !== "function") return;
        ev.preventDefault();
        confirmDialog(fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/html" } }))
          .catch(function () { window.location.href = link.href; });
      });
    });
  }

  // Row menus: one open at a time, closed by Escape or a click elsewhere.
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (m) { if (m !== except) m.open = false; });
  }
  function enhanceMenus() {
    document.querySelectorAll("details.menu").forEach(function (menu) {
      menu.addEventListener("toggle", function () { if (menu.open) closeMenus(menu); });
    });
    document.addEventListener("click", function (ev) {
      if (!ev.target.closest || !ev.target.closest("details.menu")) closeMenus();
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape") return;
      var open = document.querySelector("details.menu[open]");
      if (open) {
        open.open = false;
        open.querySelector("summary").focus();
      }
    });
  }

  // The users list's selection: a box that selects the whole page, the
  // count on the apply button, and the confirmation in a dialog.
  function enhanceBulk() {
    var form = document.querySelector("form[data-bulk]");
    if (!form) return;
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input[type=checkbox][form=bulk]"));
    var head = document.querySelector("table.users th.select");
    var button = form.querySelector("button[type=submit]");
    var all = null;
    if (head && boxes.length) {
      all = document.createElement("input");
      all.type = "checkbox";
      all.id = "select-all";
      all.setAttribute("aria-label", "Select every user of this page");
      head.replaceChildren(all);
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        update();
      });
    }
    function update() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      button.textContent = n ? "Apply to " + n + " selected…" : "Apply…";
      if (all) {
        all.checked = n > 0 && n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      }
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
    form.addEventListener("submit", function (ev) {
      if (typeof HTMLDialogElement !== "function") return;
      ev.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      // getAttribute: the form's "action" field shadows form.action.
      confirmDialog(fetch(form.getAttribute("action"), { method: "POST", credentials: "same-origin", body: body,
        headers: { Accept: "text/html" } })).catch(function () { form.submit(); });
    });
  }

  // The audit trail's time range is typed in the browser's time zone: the
  // form sends its offset from UTC along.
  function enhanceAuditFilters() {
    var form = document.querySelector("form[data-audit-filters]");
    if (!form) return;
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
    form.querySelectorAll("[data-tz-label]").forEach(function (el) { el.textContent = "(" + zone + ")"; });
    form.addEventListener("submit", function () {
      var typed = form.querySelector("[name=from]").value || form.querySelector("[name=to]").value;
      var at = typed ? new Date(typed) : new Date();
      form.querySelector("[data-tzo]").value = String(-at.getTimezoneOffset());
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

    function clockNow() { return clockFormat.format(new Date()); }

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
      // Keep the chart a keyboard user is reading, at the same bucket, and
      // the value tables that are open.
      var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest("figure.chart") : null;
      var focusedIndex = focused ? focused.querySelector("svg[data-chart]").getAttribute("data-index") : null;
      var open = Array.prototype.map.call(dash.querySelectorAll("figure.chart details[open]"), function (d) { return d.closest("figure").id; });
      var node = document.importNode(live, true);
      open.forEach(function (id) { var d = node.querySelector("#" + id + " details"); if (d) d.open = true; });
      dash.replaceChildren(node);
      localTimes(dash);
      enhanceCharts(dash);
      if (focused) {
        var svg = dash.querySelector("#" + focused.id + " svg[data-chart]");
        if (svg) {
          if (focusedIndex !== null) svg.setAttribute("data-index", focusedIndex);
          svg.focus();
        }
      }
      if (updated) {
        updated.setAttribute("datetime", live.getAttribute("data-server-time"));
        updated.textContent = clockFormat.format(new Date(live.getAttribute("data-server-time")));
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

  enhancePasswords();
  enhanceDialogs();
  enhanceConfirmLinks();
  enhanceMenus();
  enhanceBulk();
  enhanceAuditFilters();
  localTimes(document);
  window.setInterval(function () { localTimes(document); }, 60000);
  enhanceCharts(document);
  focusInvalid();
  // Scrolling to a #fragment after the load resets the focus: set it again.
  window.addEventListener("load", function () {
    if (document.activeElement === document.body) focusInvalid();
  });
  enhanceCopy();
  enhanceUploads();
  enhanceDashboard();
})();
