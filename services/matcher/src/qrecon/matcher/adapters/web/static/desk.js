// The review desk's keyboard shortcuts, live queue and manual-match residual.
// Plain DOM on top of htmx (no framework): j/k move between lines, Enter opens one,
// c/r/u press the confirm/reject/undo buttons, m and / focus the searches, q the queue.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function move(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("[data-nav]"));
    if (!links.length) return;
    var i = links.indexOf(document.activeElement);
    var next = i < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, i + step));
    links[next].focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) return;
    if (event.key === "j") { event.preventDefault(); move(1); return; }
    if (event.key === "k") { event.preventDefault(); move(-1); return; }
    var target = document.querySelector('[data-key="' + (event.key === "/" ? "/" : event.key) + '"]');
    if (!target) return;
    event.preventDefault();
    if (target.tagName === "INPUT") target.focus();
    else target.click();
  });

  // The queue refreshes itself (new results, colleagues' decisions) unless focus is in it.
  setInterval(function () {
    var queue = document.getElementById("queue");
    if (!queue || !window.htmx || queue.contains(document.activeElement)) return;
    window.htmx.ajax("GET", queue.getAttribute("data-refresh"), { target: "#queue", swap: "innerHTML" });
  }, 5000);

  // Manual match: the line's residual once the picked amounts are allocated.
  function cents(text) {
    var clean = String(text || "").replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
    var value = Number(clean);
    return isFinite(value) ? Math.round(value * 100) : 0;
  }

  function residual() {
    var form = document.getElementById("match-form");
    var out = document.getElementById("residual");
    if (!form || !out) return;
    var left = Number(form.getAttribute("data-line-cents"));
    form.querySelectorAll('input[name="invoice_id"]:checked').forEach(function (box) {
      var amount = form.querySelector('input[name="amount_' + CSS.escape(box.value) + '"]');
      left -= cents(amount && amount.value);
    });
    var lang = document.documentElement.lang === "en" ? "en-GB" : "fr-FR";
    out.value = new Intl.NumberFormat(lang, { style: "currency", currency: form.getAttribute("data-currency") || "EUR" }).format(left / 100);
  }

  document.addEventListener("input", residual);
  document.addEventListener("change", residual);
  document.addEventListener("htmx:afterSwap", residual);

  // htmx posts carry the session's CSRF token as the forms do.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector('input[name="csrf_token"]');
    if (token) event.detail.headers["X-CSRF-Token"] = token.value;
  });
})();
