/* repro view: the page's script. Reads the JSON the page carries (or its server sends), and puts
 * every value into the page as text — never as markup: records are data. */
(function () {
  "use strict";

  // -- values as text -------------------------------------------------------------------------

  /** Control characters (ANSI escapes among them) as their visible pictures; logs keep lines. */
  function shown(text, keepLines) {
    return String(text).replace(/[\u0000-\u001f\u007f]/g, function (c) {
      if (keepLines && (c === "\n" || c === "\t")) return c;
      return c === "\u007f" ? "\u2421" : String.fromCharCode(0x2400 + c.charCodeAt(0));
    });
  }

  /** An element with attributes (never innerHTML) and children (strings become text nodes). */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var key in attrs) {
        var value = attrs[key];
        if (value === undefined || value === null || value === false) continue;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(shown(child)));
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function isNum(v) { return typeof v === "number"; }

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (isNum(v)) return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
    return shown(v);
  }

  function full(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "boolean") return v ? "true" : "false";
    return shown(String(v));
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    var m = Math.round(seconds), s = m % 60; m = (m - s) / 60;
    if (m < 60) return m + "m" + (s < 10 ? "0" : "") + s + "s";
    var h = Math.floor(m / 60); m = m % 60;
    return h + "h" + (m < 10 ? "0" : "") + m + "m";
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(epoch) {
    var d = new Date(epoch * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function short(digest) { return digest ? String(digest).replace(/^sha256:/, "").slice(0, 12) : ""; }

  // -- the data -------------------------------------------------------------------------------

  var meta = JSON.parse(document.getElementById("repro-meta").textContent);
  var D = JSON.parse(document.getElementById("repro-data").textContent);
  var N = D.count;
  var ids = D.id;
  var rowOf = new Map();
  for (var r = 0; r < N; r++) rowOf.set(ids[r], r);
  var orphaned = new Set(D.orphaned);

  function statusOf(i) { return orphaned.has(i) ? "orphaned" : D.statuses[D.status[i]]; }

  function column(spec, group) {
    var c = { name: spec.name, group: group, varies: !("constant" in spec), numeric: true };
    if ("constant" in spec) {
      var where = spec.where === -1 ? null : new Set(D.presence[spec.where]);
      c.get = function (i) { return where === null || where.has(i) ? spec.constant : null; };
      c.numeric = isNum(spec.constant);
    } else if (spec.rows) {
      var map = new Map();
      for (var k = 0; k < spec.rows.length; k++) map.set(spec.rows[k], spec.values[k]);
      c.get = function (i) { var v = map.get(i); return v === undefined ? null : v; };
      c.numeric = spec.values.every(function (v) { return v === null || isNum(v); });
    } else {
      c.get = function (i) { return spec.values[i]; };
      c.numeric = spec.values.every(function (v) { return v === null || isNum(v); });
    }
    return c;
  }

  var fixed = [
    { name: "run", key: "run", get: function (i) { return ids[i]; } },
    { name: "manifest", key: "manifest", get: function (i) { return D.manifests[D.manifest[i]]; } },
    { name: "status", key: "status", get: statusOf },
    { name: "started", key: "started", get: function (i) { return D.started[i]; }, numeric: true, show: when },
    { name: "duration", key: "duration", get: function (i) { return D.duration[i]; }, numeric: true, show: duration },
    { name: "user", key: "user", get: function (i) { return D.user[i] < 0 ? null : D.users[D.user[i]]; } },
  ];
  var params = D.params.map(function (s) { return column(s, "param"); });
  var metrics = D.metrics.map(function (s) { return column(s, "metric"); });
  var byName = new Map();
  params.concat(metrics).forEach(function (c) { if (!byName.has(c.name)) byName.set(c.name, c); });
  var errorColumn = { name: "error", key: "error", get: function (i) { var e = D.errors[i]; return e === undefined ? null : e; } };
  var hasErrors = Object.keys(D.errors).length > 0;
  var METRIC_COLUMNS = 12;

  // -- state ----------------------------------------------------------------------------------

  var state = {
    view: new Int32Array(0),   // the rows shown, in order
    sort: null, desc: false,
    allColumns: false,
    chosen: new Set(),         // rows chosen in a plot
    onlyChosen: false,
    picked: [],                // rows ticked for a diff (two at most)
    query: "",
  };
  var hooks = (window.reproView = { ready: null, plots: 0 });

  // -- the filter: text and --where conditions ------------------------------------------------

  var CONDITION = /^([^=<>!\s][^=<>!]*?)(!=|=|>|<)(.*)$/;

  function parseValue(text) {
    var t = text.trim();
    if (/^"(.*)"$/.test(t) || /^'(.*)'$/.test(t)) return t.slice(1, -1);
    if (t === "true") return true;
    if (t === "false") return false;
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
    return t;
  }

  function same(a, b) {
    if (typeof a === "boolean" || typeof b === "boolean") return a === b;
    if (isNum(a) && isNum(b)) return a === b;
    return a !== null && a !== undefined && String(a) === String(b);
  }

  function tokens(text) {
    var out = [], re = /"[^"]*"|'[^']*'|\S+/g, m;
    while ((m = re.exec(text))) out.push(m[0]);
    return out;
  }

  /** The filter box's text as a test of a row, or an error message. */
  function compile(text) {
    var tests = [], problems = [];
    tokens(text).forEach(function (token) {
      var m = CONDITION.exec(token);
      if (m) {
        var name = m[1].trim(), op = m[2], value = parseValue(m[3]);
        var col = byName.get(name) || fixed.filter(function (f) { return f.key === name; })[0];
        if (!col) { problems.push("no parameter or metric named " + name); tests.push(function () { return false; }); return; }
        if ((op === ">" || op === "<") && !isNum(value)) { problems.push(op + " compares numbers"); return; }
        tests.push(function (i) {
          var v = col.get(i);
          if (op === "=") return same(v, value);
          if (op === "!=") return v !== null && !same(v, value);
          if (!isNum(v)) return false;
          return op === ">" ? v > value : v < value;
        });
      } else {
        var needle = token.replace(/^["']|["']$/g, "").toLowerCase();
        tests.push(function (i) { return haystack(i).indexOf(needle) >= 0; });
      }
    });
    return { test: function (i) { for (var k = 0; k < tests.length; k++) if (!tests[k](i)) return false; return true; }, problems: problems };
  }

  var hay = null;
  function haystack(i) {
    if (hay === null) hay = new Array(N);
    var h = hay[i];
    if (h === undefined) {
      var parts = [ids[i], D.manifests[D.manifest[i]], statusOf(i), D.user[i] < 0 ? "" : D.users[D.user[i]], D.errors[i] || ""];
      params.forEach(function (c) { var v = c.get(i); if (v !== null) parts.push(c.name + "=" + full(v)); });
      h = hay[i] = parts.join(" ").toLowerCase();
    }
    return h;
  }

  function compareValues(a, b) {
    var an = a === null || a === undefined, bn = b === null || b === undefined;
    if (an || bn) return an === bn ? 0 : an ? 1 : -1;
    if (isNum(a) && isNum(b)) return a - b;
    if (isNum(a)) return -1;
    if (isNum(b)) return 1;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function refresh() {
    var compiled = compile(state.query);
    var hint = document.getElementById("hint");
    hint.textContent = compiled.problems.join("; ");
    document.getElementById("filter").classList.toggle("bad", compiled.problems.length > 0);
    var rows = [];
    for (var i = 0; i < N; i++) {
      if (state.onlyChosen && !state.chosen.has(i)) continue;
      if (compiled.test(i)) rows.push(i);
    }
    if (state.sort) {
      var col = state.sort, sign = state.desc ? -1 : 1;
      var values = new Map();
      rows.forEach(function (i) { values.set(i, col.get(i)); });
      rows.sort(function (a, b) {
        var va = values.get(a), vb = values.get(b);
        var missing = (va === null || va === undefined) - (vb === null || vb === undefined);
        return missing || sign * compareValues(va, vb) || a - b;
      });
    }
    state.view = Int32Array.from(rows);
    if (box.scrollTop > rows.length * ROW) box.scrollTop = 0;  // a shorter list: back to its top
    document.getElementById("count").textContent =
      rows.length === N ? N + " runs" : rows.length + " of " + N + " runs";
    drawTable(true);
    drawPlots();
    hooks.query = state.query;
    hooks.shown = rows.length;
  }

  // -- the table: only the rows in sight are in the page --------------------------------------

  var ROW = 26, table, tbody, box, head;

  function shownColumns() {
    var p = params.filter(function (c) { return state.allColumns || c.varies; });
    var m = metrics.filter(function (c) { return state.allColumns || c.varies; });
    if (!state.allColumns) m = m.slice(0, METRIC_COLUMNS);
    return fixed.concat(p, m, hasErrors ? [errorColumn] : []);
  }

  function buildTable() {
    box = el("div", { id: "table-box" });
    table = el("table", { class: "runs", id: "runs" });
    head = el("thead");
    tbody = el("tbody");
    table.appendChild(head);
    table.appendChild(tbody);
    box.appendChild(table);
    box.addEventListener("scroll", function () { requestAnimationFrame(function () { drawTable(false); }); });
    return box;
  }

  function drawHead(columns) {
    clear(head);
    var tr = el("tr", null, el("th", { title: "tick two runs to compare them" }, "diff"));
    columns.forEach(function (c) {
      var cls = (c.group ? "group-" + c.group : "") + (state.sort === c ? (state.desc ? " sorted-desc" : " sorted-asc") : "");
      tr.appendChild(el("th", {
        class: cls, title: (c.group || "run") + " " + c.name + (c.varies === false ? " (the same in every run)" : ""),
        onclick: function () {
          if (state.sort === c) state.desc = !state.desc; else { state.sort = c; state.desc = false; }
          refresh();
        },
      }, c.name));
    });
    head.appendChild(tr);
  }

  var lastWindow = "";
  function drawTable(force) {
    var columns = shownColumns();
    var total = state.view.length;
    var height = box.clientHeight || 600;
    var inSight = Math.ceil(height / ROW) + 20;
    var first = Math.max(0, Math.min(Math.floor(box.scrollTop / ROW) - 10, total - inSight));
    var last = Math.min(total, first + inSight);
    var key = first + ":" + last + ":" + total;
    if (!force && key === lastWindow) return;
    lastWindow = key;
    if (force) drawHead(columns);
    clear(tbody);
    tbody.appendChild(el("tr", { class: "spacer" }, el("td", { colspan: columns.length + 1 })));
    tbody.firstChild.firstChild.style.height = first * ROW + "px";
    for (var k = first; k < last; k++) tbody.appendChild(rowElement(state.view[k], columns));
    tbody.appendChild(el("tr", { class: "spacer" }, el("td", { colspan: columns.length + 1 })));
    tbody.lastChild.firstChild.style.height = (total - last) * ROW + "px";
  }

  function rowElement(i, columns) {
    var tr = el("tr", { class: (state.chosen.has(i) ? "chosen " : "") + (state.picked.indexOf(i) >= 0 ? "picked" : ""), "data-run": ids[i] });
    var tick = el("input", { type: "checkbox", title: "compare", "aria-label": "compare " + ids[i] });
    tick.checked = state.picked.indexOf(i) >= 0;
    tick.addEventListener("change", function () { pick(i, tick.checked); });
    tr.appendChild(el("td", null, tick));
    columns.forEach(function (c) {
      var v = c.get(i);
      if (c.key === "run") {
        tr.appendChild(el("td", { class: "mono" }, el("a", { href: "#run=" + ids[i], title: "this run's page" }, v)));
      } else if (c.key === "status") {
        tr.appendChild(el("td", null, el("span", { class: "status s-" + v }, v)));
      } else if (c.key === "error") {
        tr.appendChild(el("td", { class: "err", title: full(v) }, v === null ? "" : v));
      } else {
        var text = c.show ? (v === null || v === undefined ? "" : c.show(v)) : fmt(v);
        tr.appendChild(el("td", { class: isNum(v) ? "num" : null, title: c.show ? null : full(v) }, text));
      }
    });
    return tr;
  }

  function pick(i, on) {
    state.picked = state.picked.filter(function (p) { return p !== i; });
    if (on) state.picked.push(i);
    if (state.picked.length > 2) state.picked.shift();
    restyleRows();
    drawDiff();
  }

  /** Marks on the rows in sight (chosen in a plot, ticked for a diff), without redrawing them. */
  function restyleRows() {
    Array.prototype.forEach.call(tbody.rows, function (tr) {
      var i = rowOf.get(tr.getAttribute("data-run"));
      if (i === undefined) return;
      var ticked = state.picked.indexOf(i) >= 0;
      tr.className = (state.chosen.has(i) ? "chosen " : "") + (ticked ? "picked" : "");
      tr.cells[0].firstChild.checked = ticked;
    });
  }

  // -- plots: a metric against a parameter, per manifest; parallel coordinates ---------------

  var COLOURS = ["#0969da", "#cf222e", "#1a7f37", "#bc4c00", "#8250df", "#0a7e8c", "#bf3989", "#6e7781", "#9a6700", "#2da44e", "#d4a72c", "#953800"];
  var plotsBox, plotState = new Map(), charts = [];

  function manifestRows(m) {
    var rows = [];
    for (var k = 0; k < state.view.length; k++) if (D.manifest[state.view[k]] === m) rows.push(state.view[k]);
    return rows;
  }

  function varyingWithin(cols, rows) {
    return cols.filter(function (c) {
      var seen = null, present = 0;
      for (var k = 0; k < rows.length; k++) {
        var v = c.get(rows[k]);
        if (v === null || v === undefined) continue;
        present++;
        var key = typeof v + ":" + v;
        if (seen === null) seen = key; else if (seen !== key) return true;
      }
      return false;
    });
  }

  function distinct(col, rows) {
    var values = new Map();
    rows.forEach(function (i) { var v = col.get(i); if (v !== null && v !== undefined) values.set(typeof v + ":" + v, v); });
    return Array.from(values.values()).sort(compareValues);
  }

  function drawPlots() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    clear(plotsBox);
    var order = D.manifests.map(function (name, m) { return m; }).sort(function (a, b) { return D.manifests[a].localeCompare(D.manifests[b]); });
    var opened = 0;
    order.forEach(function (m) {
      var name = D.manifests[m];
      var rows = manifestRows(m);
      if (!rows.length) return;
      var chosen = plotState.get(name);
      if (!chosen) plotState.set(name, (chosen = { open: plotState.size === 0 }));
      var figure = el("details", { class: "plot", "data-manifest": name });
      figure.open = chosen.open;
      figure.appendChild(el("summary", null, el("strong", null, name), " — " + rows.length + " runs"));
      var body = el("div", { class: "plot-body" });
      figure.appendChild(body);
      figure.addEventListener("toggle", function () {
        chosen.open = figure.open;
        if (figure.open && !body.firstChild) drawManifest(body, name, rows, chosen);
      });
      plotsBox.appendChild(figure);
      if (chosen.open) { opened++; drawManifest(body, name, rows, chosen); }
    });
    hooks.plots = charts.length;
    if (hooks.ready === null && !charts.length) hooks.ready = performance.now();  // a table without plots
  }

  function drawManifest(body, name, rows, chosen) {
    var axes = varyingWithin(params, rows);
    var numbers = varyingWithin(metrics, rows).filter(function (c) { return c.numeric; });
    if (!axes.length || !numbers.length) {
      body.appendChild(el("p", { class: "muted" }, !axes.length ? "No parameter varies among these runs: nothing to plot against." : "No numeric metric varies among these runs."));
      return;
    }
    var metric = numbers.filter(function (c) { return c.name === chosen.metric; })[0] || numbers[0];
    var numericAxes = axes.filter(function (c) { return c.numeric; });
    var x = axes.filter(function (c) { return c.name === chosen.x; })[0] || numericAxes[0] || axes[0];
    chosen.metric = metric.name;
    chosen.x = x.name;
    var controls = el("div", { class: "axes" });
    controls.appendChild(choice("metric", numbers, metric, function (v) { chosen.metric = v; drawPlots(); }));
    controls.appendChild(choice("against", axes, x, function (v) { chosen.x = v; drawPlots(); }));
    body.appendChild(controls);
    var figures = el("div", { class: "figures" });
    body.appendChild(figures);
    var line = el("div", { class: "figure" });
    figures.appendChild(line);
    linePlot(line, rows, metric, x, axes.filter(function (c) { return c !== x; }), axes.length < 3);
    if (axes.length >= 3) {
      var pc = el("div", { class: "figure" });
      figures.appendChild(pc);
      parallel(pc, rows, axes, metric);
    }
    hooks.plots = charts.length;
  }

  function choice(label, cols, current, change) {
    var select = el("select", { "aria-label": label, onchange: function () { change(select.value); } });
    cols.forEach(function (c) {
      var option = el("option", { value: c.name }, c.name);
      option.selected = c === current;
      select.appendChild(option);
    });
    return el("label", null, label + " ", select);
  }

  /** ``metric`` against ``x``: one series per combination of the other parameters that take few
   * values (at most 12 series); a point is the mean of the runs at it. Returns points drawn. */
  function linePlot(figure, rows, metric, x, others, alone) {
    var groupBy = [], combos = 1;
    others.map(function (c) { return { c: c, n: distinct(c, rows).length }; })
      .sort(function (a, b) { return a.n - b.n; })
      .forEach(function (o) { if (combos * o.n <= 12) { groupBy.push(o.c); combos *= o.n; } });
    var xs = distinct(x, rows);
    var categorical = !x.numeric;
    var position = new Map();
    xs.forEach(function (v, k) { position.set(typeof v + ":" + v, categorical ? k : v); });
    var series = new Map();
    rows.forEach(function (i) {
      var y = metric.get(i), xv = x.get(i);
      if (!isNum(y) || xv === null || xv === undefined) return;
      var label = groupBy.map(function (c) { return c.name + "=" + full(c.get(i)); }).join(", ") || metric.name;
      var s = series.get(label);
      if (!s) series.set(label, (s = new Map()));
      var p = position.get(typeof xv + ":" + xv);
      var point = s.get(p);
      if (!point) s.set(p, (point = { sum: 0, rows: [] }));
      point.sum += y;
      point.rows.push(i);
    });
    var labels = Array.from(series.keys()).sort(function (a, b) { return a.localeCompare(b, undefined, { numeric: true }); });
    var positions = xs.map(function (v) { return position.get(typeof v + ":" + v); });
    var data = [positions];
    var pointRows = [];
    var count = 0;
    labels.forEach(function (label) {
      var s = series.get(label);
      var ys = positions.map(function (p) { var pt = s.get(p); if (pt) count++; return pt ? pt.sum / pt.rows.length : null; });
      data.push(ys);
      pointRows.push(positions.map(function (p) { var pt = s.get(p); return pt ? pt.rows : []; }));
    });
    if (!count) return 0;
    var logX = !categorical && xs.length > 2 && xs[0] > 0 && xs[xs.length - 1] / xs[0] >= 8;
    var holder = el("div", { class: "chart" });
    figure.appendChild(holder);
    var opts = {
      width: alone ? Math.min(900, Math.max(420, document.documentElement.clientWidth - 100))
        : Math.min(640, Math.max(420, (document.documentElement.clientWidth - 100) / 2)),
      height: 300,
      scales: { x: { time: false, distr: logX ? 3 : 1, log: 2 } },
      axes: [
        { label: x.name + (logX ? " (log scale)" : ""), values: categorical ? function (u, splits) {
          return splits.map(function (v) { return Number.isInteger(v) && xs[v] !== undefined ? fmt(xs[v]) : ""; });
        } : undefined, splits: categorical || xs.length <= 12 ? function () { return positions; } : undefined },
        { label: metric.name.length > 32 ? "\u2026" + metric.name.slice(-31) : metric.name, size: 70,
          values: function (u, splits) { return splits.map(function (v) { return fmt(v); }); } },
      ],
      series: [{ label: x.name, value: function (u, v) { return v === null ? "" : categorical ? fmt(xs[v]) : fmt(v); } }].concat(labels.map(function (label, k) {
        return { label: label, stroke: COLOURS[k % COLOURS.length], width: 1.5, spanGaps: true,
          points: { show: true, size: 7, fill: COLOURS[k % COLOURS.length] },
          value: function (u, v) { return v === null ? "" : fmt(v); } };
      })),
      cursor: { drag: { x: true, y: true, setScale: false } },
      legend: { live: true },
      hooks: {
        draw: [function () { if (hooks.ready === null) hooks.ready = performance.now(); }],
        setSelect: [function (u) {
          var s = u.select;
          if (s.width < 3 && s.height < 3) return;
          var picked = [], slack = 5;  // a point's marker counts, not only its centre
          for (var k = 1; k < data.length; k++) {
            if (!u.series[k].show) continue;
            for (var j = 0; j < positions.length; j++) {
              if (data[k][j] === null) continue;
              var px = u.valToPos(positions[j], "x"), py = u.valToPos(data[k][j], "y");
              if (px >= s.left - slack && px <= s.left + s.width + slack && py >= s.top - slack && py <= s.top + s.height + slack) {
                picked = picked.concat(pointRows[k - 1][j]);
              }
            }
          }
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          choose(picked, "chosen in the plot of " + metric.name);
        }],
      },
    };
    var chart = new uPlot(opts, data, holder);
    chart.over.addEventListener("click", function (event) {
      if (chart.select.width > 2) return;
      var rect = chart.over.getBoundingClientRect();
      var cx = event.clientX - rect.left, cy = event.clientY - rect.top, best = null, bestDistance = 12;
      for (var k = 1; k < data.length; k++) {
        if (!chart.series[k].show) continue;
        for (var j = 0; j < positions.length; j++) {
          if (data[k][j] === null) continue;
          var dx = chart.valToPos(positions[j], "x") - cx, dy = chart.valToPos(data[k][j], "y") - cy;
          var distance = Math.sqrt(dx * dx + dy * dy);
          if (distance < bestDistance) { bestDistance = distance; best = pointRows[k - 1][j]; }
        }
      }
      if (best) choose(best, "chosen in the plot of " + metric.name);
    });
    charts.push(chart);
    var excluded = others.filter(function (c) { return groupBy.indexOf(c) < 0; });
    figure.appendChild(el("p", { class: "help" },
      "Each point: the mean of the runs there" + (excluded.length ? " (over " + excluded.map(function (c) { return c.name; }).join(", ") + ")" : "") +
      ". Drag a box or click a point to choose its runs in the table."));
    hooks.points = (hooks.points || 0) + count;
    return count;
  }

  /** Parallel coordinates: one line per run across the parameters and the metric; drag along an
   * axis to keep the runs in a range (double-click it to let all through). */
  function parallel(figure, rows, axes, metric) {
    var cols = axes.concat([metric]);
    var width = Math.min(640, Math.max(420, (document.documentElement.clientWidth - 100) / 2)), height = 300;
    var canvas = el("canvas", { class: "pc", width: width, height: height, "aria-label": "parallel coordinates" });
    figure.appendChild(canvas);
    figure.appendChild(el("p", { class: "help" }, "Drag along an axis to keep a range; double-click it to clear. The runs kept are chosen in the table."));
    var top = 24, bottom = height - 20, left = 50, step = (width - 2 * left) / (cols.length - 1);
    var scales = cols.map(function (c) {
      var values = distinct(c, rows);
      if (c.numeric) {
        var lo = values[0], hi = values[values.length - 1];
        return function (v) { return isNum(v) ? bottom - (hi === lo ? 0.5 : (v - lo) / (hi - lo)) * (bottom - top) : null; };
      }
      var at = new Map();
      values.forEach(function (v, k) { at.set(typeof v + ":" + v, k); });
      return function (v) { var k = at.get(typeof v + ":" + v); return k === undefined ? null : bottom - (values.length === 1 ? 0.5 : k / (values.length - 1)) * (bottom - top); };
    });
    var brushes = cols.map(function () { return null; });
    var ys = rows.map(function (i) { return cols.map(function (c, a) { return scales[a](c.get(i)); }); });
    function kept(k) {
      for (var a = 0; a < cols.length; a++) {
        var b = brushes[a];
        if (b && (ys[k][a] === null || ys[k][a] < b[0] || ys[k][a] > b[1])) return false;
      }
      return true;
    }
    function draw() {
      var g = canvas.getContext("2d");
      g.clearRect(0, 0, width, height);
      var any = brushes.some(function (b) { return b; });
      [false, true].forEach(function (front) {
        g.strokeStyle = front ? "rgba(9,105,218,0.35)" : "rgba(140,149,159,0.18)";
        g.beginPath();
        for (var k = 0; k < rows.length; k++) {
          if ((any ? kept(k) : true) !== front) continue;
          var started = false;
          for (var a = 0; a < cols.length; a++) {
            var y = ys[k][a];
            if (y === null) { started = false; continue; }
            if (started) g.lineTo(left + a * step, y); else g.moveTo(left + a * step, y);
            started = true;
          }
        }
        g.stroke();
      });
      g.fillStyle = "#1f2328";
      g.font = "12px system-ui, sans-serif";
      g.textAlign = "center";
      cols.forEach(function (c, a) {
        var xa = left + a * step;
        g.strokeStyle = "#59636e";
        g.beginPath(); g.moveTo(xa, top); g.lineTo(xa, bottom); g.stroke();
        g.fillText(shown(c.name), xa, 14);
        if (brushes[a]) { g.fillStyle = "rgba(212,167,44,0.35)"; g.fillRect(xa - 7, brushes[a][0], 14, brushes[a][1] - brushes[a][0]); g.fillStyle = "#1f2328"; }
      });
    }
    var dragging = null;
    function axisAt(event) {
      var rect = canvas.getBoundingClientRect();
      var px = event.clientX - rect.left, py = event.clientY - rect.top;
      var a = Math.round((px - left) / step);
      return a >= 0 && a < cols.length && Math.abs(px - (left + a * step)) < 16 ? { a: a, y: py } : null;
    }
    canvas.addEventListener("mousedown", function (event) { var at = axisAt(event); if (at) dragging = { a: at.a, y0: at.y }; });
    canvas.addEventListener("mousemove", function (event) {
      if (!dragging) return;
      var rect = canvas.getBoundingClientRect(), y = event.clientY - rect.top;
      brushes[dragging.a] = [Math.min(dragging.y0, y), Math.max(dragging.y0, y)];
      draw();
    });
    canvas.addEventListener("mouseup", function () {
      if (!dragging) return;
      var b = brushes[dragging.a];
      if (b && b[1] - b[0] < 3) brushes[dragging.a] = null;
      dragging = null;
      draw();
      var any = brushes.some(function (x) { return x; });
      choose(any ? rows.filter(function (i, k) { return kept(k); }) : [], "kept in the parallel coordinates");
    });
    canvas.addEventListener("dblclick", function (event) { var at = axisAt(event); if (at) { brushes[at.a] = null; draw(); choose([], ""); } });
    draw();
  }

  function choose(rows, why) {
    state.chosen = new Set(rows);
    var note = document.getElementById("chosen");
    clear(note);
    if (rows.length) {
      note.appendChild(document.createTextNode(rows.length + " runs " + why + " "));
      var only = el("label", null, el("input", { type: "checkbox", id: "only-chosen" }), " show only them");
      only.firstChild.checked = state.onlyChosen;
      only.firstChild.addEventListener("change", function (e) { state.onlyChosen = e.target.checked; refresh(); });
      note.appendChild(only);
      note.appendChild(el("button", { onclick: function () { state.onlyChosen = false; choose([], ""); refresh(); } }, "clear"));
      var firstRow = state.view.indexOf(rows[0]);
      if (firstRow >= 0) box.scrollTop = Math.max(0, firstRow * ROW - ROW * 2);
    }
    drawTable(false);
    restyleRows();
  }

  // -- a run's details: packed in the file, or asked of the server ---------------------------

  var packed = null;
  function details(i) {
    if (meta.live) {
      return fetch("api/runs/" + encodeURIComponent(ids[i])).then(function (r) {
        if (!r.ok) throw new Error("the server answered " + r.status);
        return r.json();
      });
    }
    if (packed === null) {
      var source = document.getElementById("repro-details");
      packed = Promise.resolve().then(function () {
        if (typeof DecompressionStream === "undefined") throw new Error("this browser cannot unpack the run details (it lacks DecompressionStream)");
        var text = atob(source.textContent.trim());
        var bytes = new Uint8Array(text.length);
        for (var k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
        return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
      }).then(JSON.parse);
    }
    return packed.then(function (all) { return all[i]; });
  }

  // -- two runs side by side -------------------------------------------------------------------

  var diffBox;
  function drawDiff() {
    clear(diffBox);
    if (state.picked.length !== 2) {
      diffBox.classList.add("hidden");
      return;
    }
    diffBox.classList.remove("hidden");
    var a = state.picked[0], b = state.picked[1];
    diffBox.appendChild(el("h2", null, "What differs: ", el("a", { href: "#run=" + ids[a] }, ids[a]), " → ", el("a", { href: "#run=" + ids[b] }, ids[b])));
    var wait = el("p", { class: "muted" }, "reading both records…");
    diffBox.appendChild(wait);
    Promise.all([details(a), details(b)]).then(function (both) {
      if (state.picked[0] !== a || state.picked[1] !== b) return;
      diffBox.removeChild(wait);
      renderDiff(diffBox, both[0], both[1]);
    }).catch(function (error) { wait.textContent = String(error.message || error); });
  }

  function sameValue(x, y) { return JSON.stringify(x) === JSON.stringify(y); }

  function renderDiff(into, A, B) {
    var p = differing(A.params, B.params);
    into.appendChild(el("h3", null, "parameters"));
    into.appendChild(p.length ? pairTable(["parameter", "A", "B"], p.map(function (n) { return [n, full(A.params[n]), full(B.params[n])]; })) : el("p", { class: "muted" }, "the same"));
    into.appendChild(el("h3", null, "metrics"));
    var am = A.metrics || {}, bm = B.metrics || {};
    var m = differing(am, bm);
    if (!m.length) into.appendChild(el("p", { class: "muted" }, A.metrics || B.metrics ? "the same" : "neither run has metrics"));
    else {
      var t = el("table", null, el("tr", null, el("th", null, "metric"), el("th", null, "A"), el("th", null, "B"), el("th", null, "B − A"), el("th", null, "change")));
      m.forEach(function (n) {
        var x = am[n], y = bm[n], delta = isNum(x) && isNum(y) ? y - x : null;
        var rel = delta !== null && x !== 0 ? delta / Math.abs(x) : null;
        t.appendChild(el("tr", null, el("td", null, n), el("td", { class: "num" }, full(x)), el("td", { class: "num" }, full(y)),
          el("td", { class: "num " + (delta > 0 ? "up" : delta < 0 ? "down" : "") }, delta === null ? "" : (delta > 0 ? "+" : "") + fmt(delta)),
          el("td", { class: "num" }, rel === null ? "" : (rel > 0 ? "+" : "") + (rel * 100).toFixed(2) + " %")));
      });
      into.appendChild(t);
    }
    into.appendChild(el("h3", null, "outputs that changed"));
    var files = new Map();
    ((A.outputs || {}).files || []).forEach(function (f) { files.set(f[0], [f, null]); });
    ((B.outputs || {}).files || []).forEach(function (f) { var e = files.get(f[0]); if (e) e[1] = f; else files.set(f[0], [null, f]); });
    var changed = Array.from(files.entries()).filter(function (e) { return !e[1][0] || !e[1][1] || e[1][0][3] !== e[1][1][3] || e[1][0][1] !== e[1][1][1]; });
    changed.sort(function (x, y) { return x[0].localeCompare(y[0]); });
    into.appendChild(changed.length ? pairTable(["file", "A", "B"], changed.map(function (e) {
      return [e[0], e[1][0] ? short(e[1][0][3]) + "  " + e[1][0][2] + " B" : "(none)", e[1][1] ? short(e[1][1][3]) + "  " + e[1][1][2] + " B" : "(none)"];
    })) : el("p", { class: "muted" }, (A.outputs && B.outputs) ? "none: every file has the same sha256" : "no outputs recorded"));
    into.appendChild(el("h3", null, "provenance"));
    var rows = [];
    var pa = flatten(A.provenance, ""), pb = flatten(B.provenance, "");
    differing(pa, pb).forEach(function (n) { rows.push([n, full(pa[n]), full(pb[n])]); });
    into.appendChild(rows.length ? pairTable(["what", "A", "B"], rows) : el("p", { class: "muted" }, "the same commit, diff, image, inputs, host and versions"));
  }

  function flatten(object, prefix) {
    var out = {};
    Object.keys(object || {}).forEach(function (k) {
      var v = object[k], name = prefix ? prefix + " " + k : k;
      if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(out, flatten(v, name));
      else out[name] = Array.isArray(v) ? JSON.stringify(v) : v;
    });
    return out;
  }

  function differing(a, b) {
    var names = new Set(Object.keys(a || {}).concat(Object.keys(b || {})));
    return Array.from(names).filter(function (n) { return !sameValue((a || {})[n], (b || {})[n]); }).sort();
  }

  function pairTable(headers, rows) {
    var t = el("table");
    var tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    t.appendChild(tr);
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (c, k) { row.appendChild(el("td", { class: k ? "mono" : null }, c)); });
      t.appendChild(row);
    });
    return t;
  }

  // -- a run's page ----------------------------------------------------------------------------

  var runPage, mainPart, following = null;

  function openRun(id) {
    stopFollowing();
    var i = rowOf.get(id);
    clear(runPage);
    runPage.classList.remove("hidden");
    mainPart.classList.add("hidden");
    window.scrollTo(0, 0);
    runPage.appendChild(el("p", null, el("a", { href: "#" }, "← all runs")));
    if (i === undefined) { runPage.appendChild(el("p", null, "No run " + id + " on this page.")); return; }
    var status = statusOf(i);
    runPage.appendChild(el("h2", null, "run ", el("span", { class: "mono" }, id), " ", el("span", { class: "status s-" + status }, status)));
    var wait = el("p", { class: "muted" }, "reading the record…");
    runPage.appendChild(wait);
    details(i).then(function (d) {
      if (location.hash !== "#run=" + id) return;
      runPage.removeChild(wait);
      renderRun(d, i, status);
    }).catch(function (error) { wait.textContent = String(error.message || error); });
  }

  function renderRun(d, i, status) {
    var page = runPage;
    if (d.error) page.appendChild(el("div", { class: "error-box" }, d.error));
    (d.notes || []).forEach(function (n) { page.appendChild(el("div", { class: "error-box" }, n)); });
    if (status === "orphaned") page.appendChild(el("div", { class: "error-box" }, "Its driver died while it ran; the next repro run, ps or log adopts or finishes it."));
    page.appendChild(el("h3", null, "record"));
    var dl = el("dl", { class: "words" });
    d.words.forEach(function (w) { dl.appendChild(el("dt", null, w[0])); dl.appendChild(el("dd", { class: "mono" }, w[1])); });
    page.appendChild(dl);
    var names = Object.keys(d.metrics || {});
    page.appendChild(el("h3", null, "metrics (" + names.length + ")"));
    if (names.length) {
      var box = el("div");
      var search = el("input", { type: "search", placeholder: "filter metrics", "aria-label": "filter metrics" });
      var list = el("table");
      var render = function () {
        clear(list);
        var needle = search.value.toLowerCase(), shownCount = 0;
        names.forEach(function (n) {
          if (needle && n.toLowerCase().indexOf(needle) < 0) return;
          if (shownCount++ > 2000) return;
          list.appendChild(el("tr", null, el("td", null, n), el("td", { class: "num mono" }, full(d.metrics[n]))));
        });
      };
      search.addEventListener("input", render);
      if (names.length > 20) box.appendChild(search);
      box.appendChild(list);
      page.appendChild(box);
      render();
    } else page.appendChild(el("p", { class: "muted" }, "none"));
    ["stdout", "stderr"].forEach(function (stream) {
      var log = (d.logs || {})[stream] || { tail: "", size: 0 };
      page.appendChild(el("h3", null, stream + " — last lines (" + log.size + " bytes in all)"));
      var pre = el("pre", { class: "log", "data-stream": stream }, document.createTextNode(shown(log.tail, true)));
      page.appendChild(pre);
      if (meta.live && statusOf(i) === "running" || meta.live && statusOf(i) === "orphaned") follow(ids[i], stream, pre, log.size);
    });
    page.appendChild(el("h3", null, "outputs"));
    if (!d.outputs) page.appendChild(el("p", { class: "muted" }, "none recorded (yet)"));
    else {
      page.appendChild(el("p", { class: "mono" }, "tree " + d.outputs.digest + (d.outputs.omitted ? " (the file list was left out: the disk was full)" : "")));
      var t = el("table", null, el("tr", null, el("th", null, "file"), el("th", null, "bytes"), el("th", null, "sha256")));
      d.outputs.files.forEach(function (f) {
        var name = meta.live && f[1] === "file"
          ? el("a", { href: "files/" + encodeURIComponent(ids[i]) + "/outputs/" + f[0].split("/").map(encodeURIComponent).join("/"), download: f[0].split("/").pop() }, f[0])
          : f[0];
        t.appendChild(el("tr", null, el("td", null, name), el("td", { class: "num" }, f[1] === "file" ? String(f[2]) : f[1]), el("td", { class: "mono" }, f[3] || "")));
      });
      page.appendChild(t);
    }
    page.appendChild(el("h3", null, "verify"));
    if (!d.verdicts || !d.verdicts.length) page.appendChild(el("p", { class: "muted" }, "not rerun yet (repro verify " + ids[i] + ")"));
    else d.verdicts.forEach(function (v) {
      page.appendChild(el("p", null, el("span", { class: "verdict-" + v.state }, v.state), " by rerun ", el("a", { href: "#run=" + v.rerun, class: "mono" }, v.rerun),
        v.differs && v.differs.length ? " — differs: " + v.differs.join(", ") : ""));
    });
    if (d.claims) {
      page.appendChild(el("h3", null, "claims"));
      if (!d.claims.length) page.appendChild(el("p", { class: "muted" }, "none"));
      d.claims.forEach(function (c) {
        page.appendChild(el("p", null, el("span", { class: "verdict-" + (c.verdict || "") }, c.verdict || ""), " ", c.name || c.id || "", c.detail ? " — " + c.detail : ""));
      });
    }
  }

  // -- live: the log as it is written, the running points ------------------------------------

  function follow(id, stream, pre, offset) {
    var handle = { stop: false };
    following = following || [];
    following.push(handle);
    function poll() {
      if (handle.stop) return;
      fetch("api/runs/" + encodeURIComponent(id) + "/log?stream=" + stream + "&offset=" + offset).then(function (r) { return r.json(); }).then(function (answer) {
        if (handle.stop) return;
        if (answer.text) {
          pre.appendChild(document.createTextNode(shown(answer.text, true)));
          pre.scrollTop = pre.scrollHeight;
        }
        offset = answer.offset;
        if (answer.running) setTimeout(poll, 400);
      }).catch(function () { setTimeout(poll, 1000); });
    }
    poll();
  }

  function stopFollowing() {
    (following || []).forEach(function (h) { h.stop = true; });
    following = null;
  }

  function watchRunning(section) {
    var known = null;
    function poll() {
      fetch("api/running").then(function (r) { return r.json(); }).then(function (points) {
        clear(section);
        section.appendChild(el("h2", null, "running now (" + points.length + ")"));
        if (points.length) {
          var t = el("table", null, el("tr", null, el("th", null, "run"), el("th", null, "manifest"), el("th", null, "point"), el("th", null, "state"), el("th", null, "started"), el("th", null, "elapsed")));
          points.forEach(function (p) {
            t.appendChild(el("tr", { "data-run": p.id }, el("td", { class: "mono" }, el("a", { href: "#run=" + p.id }, p.id)), el("td", null, p.manifest), el("td", null, p.label),
              el("td", null, el("span", { class: "status s-" + p.state }, p.state)), el("td", null, when(p.started)), el("td", null, duration(p.elapsed))));
          });
          section.appendChild(t);
        } else section.appendChild(el("p", { class: "muted" }, "nothing is running"));
        var now = points.map(function (p) { return p.id; }).sort().join(" ");
        if (known !== null && now !== known) {
          section.appendChild(el("p", null, "Runs started or ended since this page was read: ", el("a", { onclick: function () { location.reload(); } }, "reload")));
        }
        if (known === null) known = now;
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 2000); });
    }
    poll();
  }

  // -- the page ----------------------------------------------------------------------------------

  function route() {
    var m = /^#run=(.+)$/.exec(location.hash);
    if (m) { openRun(decodeURIComponent(m[1])); return; }
    stopFollowing();
    runPage.classList.add("hidden");
    mainPart.classList.remove("hidden");
    drawTable(true);
  }

  function start() {
    var app = document.getElementById("app");
    clear(app);
    var summary = document.getElementById("summary");
    summary.textContent = N + " runs of " + D.manifests.length + " manifest" + (D.manifests.length === 1 ? "" : "s") +
      (meta.live ? ", live from the store (read-only)" : ", written " + when(Date.parse(meta.generated) / 1000)) +
      ". Outputs are named by their sha256.";
    mainPart = el("div", { id: "main" });
    runPage = el("section", { id: "run-page", class: "hidden" });
    if (meta.live) { var running = el("section", { id: "running" }); mainPart.appendChild(running); watchRunning(running); }
    var filter = el("input", { id: "filter", type: "search", placeholder: "filter: text, or size=4 policy!=lru ipc>1.5 status=failed", "aria-label": "filter runs" });
    var timer = null;
    filter.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.query = filter.value; refresh(); }, 120);
    });
    var all = el("label", { title: "also the parameters and metrics that are the same in every run" }, el("input", { type: "checkbox", id: "all-columns" }), " all columns");
    all.firstChild.addEventListener("change", function (e) { state.allColumns = e.target.checked; drawTable(true); });
    mainPart.appendChild(el("div", { id: "controls" }, filter, el("span", { id: "count" }), all, el("span", { id: "chosen" }), el("span", { id: "hint" })));
    plotsBox = el("section", { id: "plots" });
    diffBox = el("section", { id: "diff", class: "panel hidden" });
    mainPart.appendChild(plotsBox);
    mainPart.appendChild(diffBox);
    mainPart.appendChild(buildTable());
    mainPart.appendChild(el("p", { class: "muted" }, "Tick two runs to see what differs; a run's id opens its page. Without JavaScript, this page shows the table alone."));
    app.appendChild(mainPart);
    app.appendChild(runPage);
    refresh();
    window.addEventListener("hashchange", route);
    if (location.hash) route();
  }

  if (meta.version !== 1) {
    document.getElementById("app").appendChild(el("p", null, "This page's data is of version " + meta.version + "; this script reads version 1."));
    return;
  }
  start();
})();
