// Live progress for the console (no framework, no inline script: the CSP allows only this file).
// Each element with data-progress-url is refreshed every 2 seconds from the console's JSON endpoint
// until nothing is pending; the text comes from the page's own (translated) data-template.
"use strict";
(function () {
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : all;
    });
  }
  function refresh(el) {
    fetch(el.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { return; }
        el.textContent = fill(el.dataset.template, {
          done: p.done, total: p.total, accepted: p.accepted, failed: p.failed + p.rejected
        });
        var bar = el.parentElement.querySelector("progress");
        if (bar) { bar.max = p.total || 1; bar.value = p.done; }
        if (p.pending > 0) { setTimeout(function () { refresh(el); }, 2000); }
      })
      .catch(function () { setTimeout(function () { refresh(el); }, 5000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url]").forEach(function (el) {
      setTimeout(function () { refresh(el); }, 2000);
    });
  });
})();
