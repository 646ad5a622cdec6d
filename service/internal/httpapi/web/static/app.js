// Progressive enhancement for GopherOps pages. Every page works without this
// file; with it, forms gain confirmations and dialogs and the dashboard
// refreshes itself. No inline script anywhere, so the CSP can forbid it.
"use strict";

(function () {
  // Ask before destructive submits.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  // Turn <details data-dialog> blocks into modal dialogs.
  if (typeof HTMLDialogElement === "function") {
    document.querySelectorAll("details[data-dialog]").forEach(function (details) {
      var summary = details.querySelector("summary");
      var form = details.querySelector("form");
      if (!summary || !form) return;
      var dialog = document.createElement("dialog");
      var title = document.createElement("h2");
      title.textContent = summary.textContent;
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Cancel";
      close.className = "link";
      close.style.color = "inherit";
      close.addEventListener("click", function () { dialog.close(); });
      dialog.appendChild(title);
      dialog.appendChild(form);
      dialog.appendChild(close);
      var open = document.createElement("button");
      open.type = "button";
      open.textContent = summary.textContent;
      open.addEventListener("click", function () { dialog.showModal(); });
      var wasOpen = details.open;
      details.replaceWith(open);
      document.body.appendChild(dialog);
      if (wasOpen) dialog.showModal();
    });
  }

  // Live dashboard: poll the status endpoint and update the fields in place.
  var dash = document.getElementById("dashboard");
  if (!dash) return;
  var url = dash.getAttribute("data-poll");

  function get(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }
  function format(value, kind) {
    switch (kind) {
      case "bytes": return (value / 1048576).toFixed(1) + " MiB";
      case "ms": return Number(value).toFixed(2) + " ms";
      case "updown": return value ? "up" : "down";
      case "duration":
        var s = Math.floor(value), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
        return (d ? d + "d " : "") + (h ? h + "h " : "") + m + "m " + (s % 60) + "s";
      default: return String(value);
    }
  }
  function render(data) {
    document.querySelectorAll("[data-field]").forEach(function (el) {
      var field = el.getAttribute("data-field");
      var v = get(data, field);
      if (v === undefined) return;
      if (field === "server_time") v = new Date(v).toLocaleTimeString();
      el.textContent = format(v, el.getAttribute("data-format"));
      if (el.getAttribute("data-format") === "updown") el.classList.toggle("down", !v);
    });
    var tbody = document.querySelector("[data-audit]");
    if (tbody && Array.isArray(data.recent_audit)) {
      tbody.replaceChildren.apply(tbody, data.recent_audit.map(function (e) {
        var tr = document.createElement("tr");
        [new Date(e.occurred_at).toLocaleString(), e.actor_name, e.action, e.target_name].forEach(function (t) {
          var td = document.createElement("td");
          td.textContent = t;
          tr.appendChild(td);
        });
        return tr;
      }));
    }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.href = "/login"; throw new Error("signed out"); }
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(render)
      .catch(function () { /* keep the last figures; the next poll retries */ })
      .finally(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 5000);
})();
