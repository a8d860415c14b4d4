// Filter and sort the report's tables in the page: no library, no network.
"use strict";
(function () {
  function cellKey(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  }

  function compare(a, b) {
    var x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !isNaN(x) && !isNaN(y)) return x - y;
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function setUp(table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var input = document.querySelector('input[data-filter="' + table.id + '"]');
    var count = document.querySelector('[data-count="' + table.id + '"]');
    var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });

    function filter() {
      var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, i) {
        var keep = terms.every(function (term) { return texts[i].indexOf(term) !== -1; });
        row.hidden = !keep;
        if (keep) shown += 1;
      });
      if (count) count.textContent = shown + " of " + rows.length + " rows shown";
    }
    if (input) input.addEventListener("input", filter);

    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, index) {
      var button = th.querySelector("button.sort");
      if (!button) return;
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var order = rows.map(function (row, i) { return { row: row, key: cellKey(row, index), i: i }; });
        order.sort(function (a, b) { return (ascending ? 1 : -1) * compare(a.key, b.key) || a.i - b.i; });
        order.forEach(function (item) { body.appendChild(item.row); });
      });
    });
  }

  document.querySelectorAll("table.data").forEach(setUp);
})();
