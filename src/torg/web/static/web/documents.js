/* torg document form: add/remove lines, item search, live amounts and totals.
 * Amounts computed here are for display only: the server recomputes them on save. */
(function () {
  "use strict";
  var form = document.getElementById("doc-form");
  if (!form) { return; }
  var table = document.getElementById("doc-lines");
  var tbody = table.querySelector("tbody");
  var template = document.getElementById("line-template");
  var options = document.getElementById("item-options");
  var cfg = window.TORG_DOC || {};
  var lang = form.dataset.lang || document.documentElement.lang || "en";
  var dirty = false;

  function num(el) {
    if (!el) { return 0; }
    var v = parseFloat(String(el.value || "").replace(/\s/g, "").replace(",", "."));
    return isNaN(v) ? 0 : v;
  }
  function round(value, places) {
    var f = Math.pow(10, places);
    return Math.round((value + (value >= 0 ? 1 : -1) * Number.EPSILON) * f) / f;
  }
  function fmt(value, places) {
    return value.toLocaleString(lang, {minimumFractionDigits: places, maximumFractionDigits: places});
  }
  function role(row, name) { return row.querySelector('[data-role="' + name + '"]'); }
  function includesVat() {
    var box = form.querySelector('[name="prices_include_vat"]');
    return box ? box.checked : true;
  }

  function recalcRow(row) {
    var q = role(row, "quantity"), p = role(row, "price"), a = role(row, "amount"), d = role(row, "discount");
    if (a && q && p && a.readOnly) {
      var gross = round(num(q) * num(p), 2);
      a.value = (gross - (d ? round(gross * num(d) / 100, 2) : 0)).toFixed(2);
    }
    var rate = role(row, "vat_rate"), vat = role(row, "vat_amount");
    if (vat && rate && a) {
      var r = Math.max(parseInt(rate.value, 10) || 0, 0), amount = num(a);
      vat.value = (includesVat() ? round(amount * r / (100 + r), 2) : round(amount * r / 100, 2)).toFixed(2);
    }
    var book = role(row, "book_quantity"), diff = role(row, "difference");
    if (diff && book && q) { diff.value = round(num(q) - num(book), 3).toFixed(3); }
  }

  function recalcTotals() {
    table.querySelectorAll("[data-total]").forEach(function (cell) {
      var name = cell.dataset.total, sum = 0, places = 2;
      tbody.querySelectorAll('[data-role="' + name + '"]').forEach(function (el) { sum += num(el); });
      if (/quantity|difference/.test(name)) { places = 3; }
      cell.textContent = fmt(round(sum, places), places);
    });
    var n = 0;
    tbody.querySelectorAll("tr.torg-line").forEach(function (row) {
      n += 1;
      var cell = row.querySelector(".torg-line-no");
      if (cell) { cell.textContent = n; }
    });
  }

  function addLine() {
    var index = parseInt(table.dataset.nextIndex || "0", 10);
    table.dataset.nextIndex = String(index + 1);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    tbody.insertAdjacentHTML("beforeend", html);
    var row = tbody.lastElementChild;
    var search = row.querySelector(".js-item-search");
    if (search) { search.focus(); }
    recalcTotals();
    return row;
  }

  // ---- item search: fill the shared <datalist> as the user types; pick sets the hidden id
  var known = {};
  var timer = null;
  var latest = 0;
  function search(text) {
    if (!cfg.itemSearchUrl || !options) { return; }
    var ticket = ++latest;  // answers may arrive out of order: keep only the newest
    var query = "?q=" + encodeURIComponent(text);
    (cfg.searchParams || []).forEach(function (name) {  // header fields the answer depends on (an agreement)
      var el = form.querySelector('[name="' + name + '"]');
      if (el && el.value) { query += "&" + name + "=" + encodeURIComponent(el.value); }
    });
    fetch(cfg.itemSearchUrl + query, {headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { return r.ok ? r.json() : {items: []}; })
      .then(function (data) {
        if (ticket !== latest) { return; }
        options.innerHTML = "";
        data.items.forEach(function (item) {
          known[item.label] = item;
          var opt = document.createElement("option");
          opt.value = item.label;
          if (item.unit) { opt.label = item.unit; }
          options.appendChild(opt);
        });
      });
  }
  function pick(input) {
    var row = input.closest("tr");
    var hidden = row.querySelector('[data-role="item-id"]');
    var item = known[input.value];
    if (item) {
      hidden.value = item.id;
      input.classList.remove("is-invalid");
      var rate = role(row, "vat_rate");
      if (rate && item.vat_rate !== undefined && item.vat_rate !== null) { rate.value = String(item.vat_rate); }
      var price = role(row, "price"), discount = role(row, "discount");
      if (price && item.price !== undefined && item.price !== null && !num(price)) { price.value = item.price; }
      if (discount && item.discount && !num(discount)) { discount.value = item.discount; }
      recalcRow(row);
      recalcTotals();
    } else if (!input.value) {
      hidden.value = "";
    } else if (hidden.value && input.dataset.label !== input.value) {
      hidden.value = "";  // the text no longer names the chosen item: the server resolves exact names
    }
    input.dataset.label = input.value;
  }

  form.addEventListener("input", function (e) {
    var t = e.target;
    dirty = true;
    if (t.classList.contains("js-item-search")) {
      clearTimeout(timer);
      var text = t.value;
      if (known[text]) { pick(t); return; }
      timer = setTimeout(function () { search(text); }, 200);
      return;
    }
    var row = t.closest("tr.torg-line");
    if (row) { recalcRow(row); }
    if (t.name === "prices_include_vat") { tbody.querySelectorAll("tr.torg-line").forEach(recalcRow); }
    recalcTotals();
  });
  form.addEventListener("change", function (e) {
    var t = e.target;
    dirty = true;
    if (t.classList.contains("js-item-search")) { pick(t); return; }
    if (t.name === "prices_include_vat") { tbody.querySelectorAll("tr.torg-line").forEach(recalcRow); }
    if ((cfg.searchParams || []).indexOf(t.name) >= 0) { known = {}; if (options) { options.innerHTML = ""; } }
    var row = t.closest("tr.torg-line");
    if (row) { recalcRow(row); }
    recalcTotals();
  });
  form.addEventListener("focusin", function (e) {
    var t = e.target;
    if (t.classList.contains("js-item-search")) {
      t.dataset.label = t.value;
      if (!options.children.length) { search(t.value.length > 2 ? "" : t.value); }
    }
  });
  form.addEventListener("click", function (e) {
    var remove = e.target.closest(".js-remove-line");
    if (remove) {
      remove.closest("tr").remove();
      dirty = true;
      recalcTotals();
    }
    if (e.target.closest(".js-add-line")) { addLine(); }
  });
  form.addEventListener("keydown", function (e) {
    // Enter in a line adds the next line instead of submitting the whole form.
    if (e.key === "Enter" && e.target.closest("tr.torg-line") && e.target.tagName === "INPUT") {
      e.preventDefault();
      addLine();
    }
  });
  form.addEventListener("submit", function () { dirty = false; });

  // Post / Unpost / actions act on the saved document: warn when the form has unsaved edits.
  document.querySelectorAll("form.js-guard-dirty").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (dirty && !window.confirm(cfg.dirtyWarning)) { e.preventDefault(); return; }
      if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) { e.preventDefault(); }
    });
  });

  tbody.querySelectorAll("tr.torg-line").forEach(function (row) {
    var input = row.querySelector(".js-item-search");
    if (input) { input.dataset.label = input.value; }
    recalcRow(row);
  });
  recalcTotals();
  if (!tbody.querySelector("tr.torg-line") && template) { addLine(); dirty = false; }
})();
