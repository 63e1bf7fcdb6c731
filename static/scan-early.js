// Loaded synchronously by the scan field macro, before the field's form exists: until scan.js is
// ready (it is deferred), an Enter or "Go" in a scan field must not submit the form as a plain
// form (the page would show the server's fragment, and the next fast scan would reuse the key
// printed in it). Each such scan is kept here, in order, and scan.js sends it when it starts.
(function () {
  "use strict";
  if (window.ScanAppEarly) { return; }
  var early = window.ScanAppEarly = { scans: [] };

  function keep(input) {
    var field = input.closest("[data-scan-field]");
    var text = input.value;
    input.value = "";
    if (field && text && text.trim()) { early.scans.push({ field: field.id, text: text }); }
  }

  document.addEventListener("keydown", function (event) {
    if (window.ScanAppScanReady) { return; }
    var input = event.target;
    if (!input.classList || !input.classList.contains("scan-input")) { return; }
    if (event.key !== "Enter" || event.isComposing) { return; }
    event.preventDefault();
    keep(input);
  }, true);

  document.addEventListener("submit", function (event) {
    if (window.ScanAppScanReady) { return; }
    var form = event.target;
    if (!form.classList || !form.classList.contains("scan-form")) { return; }
    event.preventDefault();
    var input = form.querySelector(".scan-input");
    if (input) { keep(input); }
  }, true);
})();
