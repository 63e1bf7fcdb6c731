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
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.target.querySelector && event.target.querySelector("[autofocus]");
    if (target) { target.focus(); }
  });
})();
