// ScanApp page glue: CSRF on every htmx request, and focus for scan inputs after swaps.
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrfToken();
  });
  // Not when the worker has already tapped into another field while the swap settled: the
  // characters typed there would jump to the scan field.
  function typingElsewhere(target) {
    var active = document.activeElement;
    return active && active !== target && active !== document.body && document.body.contains(active) &&
      active.matches("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea, select");
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.target.querySelector && event.target.querySelector("[autofocus]");
    if (target && !typingElsewhere(target)) { target.focus(); }
  });
})();
