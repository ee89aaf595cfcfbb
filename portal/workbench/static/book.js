// Book of business: "select all on this page" and the count of ticked customers.
(function () {
  "use strict";
  function init() {
    var all = document.getElementById("select-page");
    var picks = Array.prototype.slice.call(document.querySelectorAll("#book-table input.pick"));
    var count = document.getElementById("picked-count");
    var chosen = document.querySelector("input[name=target_set][value=chosen]");
    function update() {
      var n = picks.filter(function (p) { return p.checked; }).length;
      if (count) { count.textContent = String(n); }
      if (all) {
        all.checked = n > 0 && n === picks.length;
        all.indeterminate = n > 0 && n < picks.length;
      }
      if (n > 0 && chosen) { chosen.checked = true; }
    }
    if (all) {
      all.addEventListener("change", function () {
        picks.forEach(function (p) { p.checked = all.checked; });
        update();
      });
    }
    picks.forEach(function (p) { p.addEventListener("change", update); });
    update();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
