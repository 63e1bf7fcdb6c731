// Stocktake review: a header checkbox [data-select-all=<name>] selects every checkbox of that name in
// its form. Delegated, installed once (htmx swaps the table and boosted navigation reruns this file).
(function () {
  "use strict";
  if (window.scanappCountReview) { return; }
  window.scanappCountReview = true;
  document.addEventListener("change", function (event) {
    var all = event.target.closest && event.target.closest("[data-select-all]");
    if (!all || !all.form) { return; }
    var name = all.getAttribute("data-select-all");
    var boxes = all.form.querySelectorAll('input[type=checkbox][name="' + name + '"]:not(:disabled)');
    for (var i = 0; i < boxes.length; i++) { boxes[i].checked = all.checked; }
  });
})();
