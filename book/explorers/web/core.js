// core.js: what every explorer of the course shares -- the seeded random numbers that Python reproduces,
// float64 numerics, the settings kept in the page's URL hash, labelled controls, and SVG charts.
//
// This file is one JavaScript expression. book/explorers/page.py inlines it, with one explorer's own file,
// into the explorer's HTML output and keeps one copy per page and version:
//   registry["core@<hash>"] ??= (<this file>)
// so several explorers on a page, or a cell run twice, share it. No imports, no network: the same output
// runs in the static book, in JupyterLab, in Colab and in a page saved to disk.
(() => {
  "use strict";

  // --- seeded random numbers: the twin of book/explorers/prng.py (mulberry32), draw for draw -------------
  function prng(seed) {
    let a = seed >>> 0;
    function nextUint32() {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (t ^ (t >>> 14)) >>> 0;
    }
    const uniform = () => nextUint32() / 4294967296;
    function normal() {  // Box-Muller, one normal per pair of uniforms, as in Python
      const u1 = uniform();
      const u2 = uniform();
      return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }
    function permutation(n) {  // Fisher-Yates from 0..n-1, i from n - 1 down to 1
      const order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(uniform() * (i + 1));
        const t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      return order;
    }
    return { nextUint32, uniform, normal, permutation };
  }

  // --- numerics (float64, the formulas of book.softmax and book.cross_entropy) ----------------------------
  function max(values) {
    let m = -Infinity;
    for (const v of values) if (v > m) m = v;
    return m;
  }
  function argmax(values) {  // the first largest, as torch.argmax
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
    return best;
  }
  function logSumExp(z) {
    const m = max(z);
    if (!Number.isFinite(m)) return m;
    let s = 0;
    for (const v of z) s += Math.exp(v - m);
    return m + Math.log(s);
  }
  function softmax(z, temperature = 1) {  // divide first, then subtract the row maximum
    const s = temperature === 1 ? Array.from(z) : Array.from(z, (v) => v / temperature);
    const m = max(s);
    const e = s.map((v) => Math.exp(v - m));
    let total = 0;
    for (const v of e) total += v;
    return e.map((v) => v / total);
  }
  function entropy(p) {  // nats, 0 log 0 = 0
    let h = 0;
    for (const v of p) if (v > 0) h -= v * Math.log(v);
    return h;
  }
  // The accuracy with its 95 % interval, written as book.evaluation.accuracy_interval's str().
  function accuracyText(correct, n) {
    const p = correct / n;
    const half = 1.959963984540054 * Math.sqrt((p * (1 - p)) / n);
    const low = Math.max(0, p - half);
    const high = Math.min(1, p + half);
    const shown = (high - low) / 2;
    return `${(100 * p).toFixed(2)} % ± ${(100 * shown).toFixed(2)} (95 %: ${(100 * low).toFixed(2)}–` +
      `${(100 * high).toFixed(2)} %, n = ${n.toLocaleString("en-US")})`;
  }
  const subscript = (i) => String(i).replace(/[0-9]/g, (c) => "₀₁₂₃₄₅₆₇₈₉"[c]);
  const fixed = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
  function significant(x, digits = 3) {  // 0.1, 0.002, 20: no trailing zeros
    if (!Number.isFinite(x) || x === 0) return String(x);
    return String(Number(x.toPrecision(digits)));
  }

  // --- the page's language ------------------------------------------------------------------------------
  // Every word an explorer shows comes from the string tables web/strings.<language>.json, which page.py puts
  // beside the code; the language is the page's own (<html lang>): "zh-CN" (or any zh) is Chinese, anything
  // else English. The built book's two editions share one executed notebook, so the choice is made here.
  function language(lang = document.documentElement.lang) {
    return /^zh([-_]|$)/i.test(lang || "") ? "zh_CN" : "en";
  }
  // t(key, {name: value}): the text of `key` in the page's language with each {name} filled in; a key the
  // language's table lacks falls back to English (tests/test_explorers_language.py keeps the tables complete).
  function translator(tables, lang) {
    const english = (tables && tables.en) || {};
    const own = (tables && tables[language(lang)]) || english;
    return function t(key, values = {}) {
      const text = own[key] ?? english[key] ?? key;
      return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
    };
  }

  // --- DOM ---------------------------------------------------------------------------------------------
  const SVG_NS = "http://www.w3.org/2000/svg";
  function setAttributes(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    return node;
  }
  function h(tag, attrs, ...children) {
    const node = setAttributes(document.createElement(tag), attrs);
    for (const child of children.flat()) {
      if (child !== undefined && child !== null) node.append(child);
    }
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = setAttributes(document.createElementNS(SVG_NS, tag), attrs);
    for (const child of children.flat()) if (child) node.append(child);
    return node;
  }

  // --- settings in the URL hash ------------------------------------------------------------------------
  // "#section&softmax.T=0.5&softmax.o=2,1,0.1,-1": each explorer owns the keys of its namespace (its kind,
  // then -2, -3... for a second or third of the same kind on the page); every other part is left alone.
  // Only in a page of its own (the book): inside JupyterLab, Colab or VS Code the cell's arguments rule.
  function hashAvailable() {
    try {
      if (window.top !== window.self) return false;
    } catch (error) {
      return false;
    }
    return !document.querySelector(".jp-LabShell, .jp-NotebookPanel, #notebook-container, .jp-Notebook");
  }
  function hashParts() {
    const raw = window.location.hash.replace(/^#/, "");
    return raw ? raw.split("&") : [];
  }
  function readHash(ns) {
    const values = {};
    if (!hashAvailable()) return values;
    for (const part of hashParts()) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      const key = decodeURIComponent(part.slice(0, eq));
      if (key.startsWith(ns + ".")) values[key.slice(ns.length + 1)] = decodeURIComponent(part.slice(eq + 1));
    }
    return values;
  }
  const pendingHash = new Map();
  let hashTimer = null;
  function writeHash(ns, values) {
    if (!hashAvailable()) return;
    pendingHash.set(ns, values);
    if (hashTimer === null) hashTimer = setTimeout(flushHash, 120);  // one history entry per burst
  }
  function flushHash() {
    hashTimer = null;
    let parts = hashParts();
    for (const [ns, values] of pendingHash) {
      parts = parts.filter((part) => !decodeURIComponent(part.split("=")[0]).startsWith(ns + "."));
      for (const [key, value] of Object.entries(values)) {
        parts.push(`${encodeURIComponent(ns + "." + key)}=${encodeURIComponent(value).replace(/%2C/g, ",")}`);
      }
    }
    pendingHash.clear();
    const url = window.location.pathname + window.location.search + (parts.length ? "#" + parts.join("&") : "");
    window.history.replaceState(window.history.state, "", url);
  }

  // Settings from the hash, each parsed and checked by its schema entry; what is missing or invalid keeps the
  // default, and the explorer says which parts of the link it ignored.
  function restore(ns, schema, defaults) {
    const found = readHash(ns);
    const settings = { ...defaults };
    const ignored = [];
    for (const [key, text] of Object.entries(found)) {
      const entry = schema[key];
      const value = entry ? entry(text) : undefined;
      if (value === undefined) ignored.push(`${ns}.${key}=${text}`);
      else settings[key] = value;
    }
    return { settings, ignored, fromLink: Object.keys(found).length > 0 };
  }
  const parse = {
    number(lo, hi) {
      return (text) => {
        const v = Number(text);
        return text.trim() !== "" && Number.isFinite(v) && v >= lo && v <= hi ? v : undefined;
      };
    },
    integer(lo, hi) {
      return (text) => {
        const v = Number(text);
        return /^\s*\d+\s*$/.test(text) && v >= lo && v <= hi ? v : undefined;
      };
    },
    oneOf(options) {
      return (text) => options.find((option) => String(option) === text);
    },
    numbers(count, lo, hi) {
      return (text) => {
        const values = text.split(",").map(Number);
        const ok = values.length === count && values.every((v) => Number.isFinite(v) && v >= lo && v <= hi);
        return ok ? values : undefined;
      };
    },
  };

  // --- controls: every one labelled and operable by keyboard -------------------------------------------
  let controlCount = 0;
  const nextId = (prefix) => `${prefix}-c${++controlCount}`;

  // A range input with its label and its value shown beside it. With `values`, the slider walks through that
  // list (a 1-2-5 ladder of learning rates); otherwise from min to max by step.
  // `toPosition` / `fromPosition` map values to the track and back (a log scale for the temperature).
  function slider({ prefix, label, value, min, max, step, values, format, onInput, toPosition, fromPosition }) {
    const id = nextId(prefix);
    const discrete = Array.isArray(values);
    toPosition ||= (v) => (discrete ? Math.max(0, values.indexOf(v)) : v);
    fromPosition ||= (p) => (discrete ? values[Math.round(p)] : p);
    const input = h("input", {
      type: "range", id, min: discrete ? 0 : min, max: discrete ? values.length - 1 : max,
      step: discrete ? 1 : step, value: toPosition(value),
    });
    const output = h("output", { for: id, class: "sx-value" });
    let current = value;
    function show() {
      output.textContent = format(current);
      input.setAttribute("aria-valuetext", format(current));
    }
    input.addEventListener("input", () => {
      current = fromPosition(Number(input.value));
      show();
      onInput(current);
    });
    show();
    const row = h("div", { class: "sx-row" }, h("label", { for: id }, label), input, output);
    return {
      element: row, input,
      get: () => current,
      set(v) {
        current = v;
        input.value = String(toPosition(v));
        show();
      },
    };
  }

  // Radio buttons in a fieldset: arrow keys move between them, a click picks one.
  function radios({ prefix, legend, options, value, onChange }) {
    const name = nextId(prefix);
    const inputs = [];
    const fieldset = h("fieldset", { class: "sx-radios" }, h("legend", {}, legend));
    for (const option of options) {
      const input = h("input", { type: "radio", name, value: String(option.value) });
      input.checked = option.value === value;
      input.addEventListener("change", () => {
        if (input.checked) onChange(option.value);
      });
      inputs.push([input, option.value]);
      fieldset.append(h("label", { class: "sx-radio" }, input, h("span", {}, option.label)));
    }
    return {
      element: fieldset,
      get: () => inputs.find(([input]) => input.checked)?.[1],
      set(v) {
        for (const [input, optionValue] of inputs) input.checked = optionValue === v;
      },
    };
  }

  function integerInput({ prefix, label, value, min, max, onChange }) {
    const id = nextId(prefix);
    const input = h("input", { type: "number", id, min, max, step: 1, value, inputmode: "numeric" });
    input.addEventListener("change", () => {
      // what was typed, made a whole number in range (the field shows what is used)
      const v = Math.min(max, Math.max(min, Math.round(Number(input.value)) || 0));
      input.value = String(v);
      onChange(v);
    });
    return {
      element: h("div", { class: "sx-row sx-row-short" }, h("label", { for: id }, label), input),
      get: () => Number(input.value),
      set(v) {
        input.value = String(v);
      },
    };
  }

  function button(label, onClick, attrs = {}) {
    return h("button", { type: "button", class: "sx-button", onclick: onClick, ...attrs }, label);
  }

  // --- charts ------------------------------------------------------------------------------------------
  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const power = 10 ** Math.floor(Math.log10(raw));
    const unit = raw / power;
    return (unit < 1.5 ? 1 : unit < 3 ? 2 : unit < 7 ? 5 : 10) * power;
  }
  function linearTicks(lo, hi, count, integer) {
    let step = niceStep(hi - lo, count);
    if (integer) step = Math.max(1, Math.round(step));
    const ticks = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
      ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
    }
    return ticks;
  }
  function logTicks(lo, hi) {
    const ticks = [];
    const decades = Math.log10(hi / lo);
    const mantissas = decades > 4 ? [1] : decades > 1.5 ? [1, 3] : [1, 2, 5];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of mantissas) {
        const v = m * 10 ** e;
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(Number(v.toPrecision(6)));
      }
    }
    return ticks;
  }
  function scale(lo, hi, from, to, log) {
    if (log) {
      const a = Math.log(lo);
      const span = Math.log(hi) - a || 1;
      return (v) => from + ((Math.log(v) - a) / span) * (to - from);
    }
    const span = hi - lo || 1;
    return (v) => from + ((v - lo) / span) * (to - from);
  }
  const tickText = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(0) : String(v));

  // The width of a text as the chart will draw it (measured in the chart itself, estimated when hidden).
  function measure(target, text, cls = "") {
    const probe = svg("text", { class: cls, text });
    target.append(probe);
    const width = probe.getComputedTextLength() || text.length * 6.6;
    probe.remove();
    return width;
  }

  // Axes, grid, labels, title and legend in a fresh <svg> of the given size; returns the scales and the group
  // to plot in. The legend (entries {label, cls, swatch: "bar" | "line", dash}) sits beside the title when
  // both fit, else in rows of its own below it.
  function axes(target, { width, height, title, x, y, margin, legend = [] }) {
    const m = { top: title ? 24 : 10, right: 12, bottom: 36, left: 48, ...margin };
    target.replaceChildren();
    setAttributes(target, { width, height, viewBox: `0 0 ${width} ${height}`, class: "sx-chart" });
    const inner = width - m.left - m.right;
    const sizes = legend.map((entry) => measure(target, entry.label) + 26);
    const total = sizes.reduce((a, b) => a + b, 0);
    const placed = [];  // [x, baseline] per entry
    if (legend.length && title && measure(target, title, "sx-chart-title") + 12 + total <= inner) {
      let at = width - m.right - total;
      sizes.forEach((size) => { placed.push([at, 15]); at += size; });
    } else if (legend.length) {
      let row = title ? 33 : 13;
      let at = m.left;
      sizes.forEach((size) => {
        if (at > m.left && at + size > width - m.right) {
          row += 16;
          at = m.left;
        }
        placed.push([at, row]);
        at += size;
      });
      m.top = row + 12;
    }
    const sx = scale(x.lo, x.hi, m.left, width - m.right, x.log);
    const sy = scale(y.lo, y.hi, height - m.bottom, m.top, y.log);
    const grid = svg("g", { class: "sx-grid" });
    const labels = svg("g", { class: "sx-axis" });
    const xTicks = x.ticks || (x.log ? logTicks(x.lo, x.hi) : linearTicks(x.lo, x.hi, Math.max(2, width / 70), x.integer));
    const yTicks = y.ticks || (y.log ? logTicks(y.lo, y.hi) : linearTicks(y.lo, y.hi, Math.max(2, height / 45)));
    for (const t of xTicks) {
      grid.append(svg("line", { x1: sx(t), x2: sx(t), y1: m.top, y2: height - m.bottom }));
      labels.append(svg("text", { x: sx(t), y: height - m.bottom + 14, "text-anchor": "middle",
        text: (x.format || tickText)(t) }));
    }
    for (const t of yTicks) {
      grid.append(svg("line", { x1: m.left, x2: width - m.right, y1: sy(t), y2: sy(t) }));
      labels.append(svg("text", { x: m.left - 5, y: sy(t) + 4, "text-anchor": "end",
        text: (y.format || tickText)(t) }));
    }
    labels.append(svg("line", { class: "sx-frame", x1: m.left, x2: width - m.right, y1: height - m.bottom,
      y2: height - m.bottom }));
    labels.append(svg("line", { class: "sx-frame", x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom }));
    if (x.label) {
      labels.append(svg("text", { x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle",
        text: x.label }));
    }
    if (y.label) {
      labels.append(svg("text", { transform: `translate(11 ${(m.top + height - m.bottom) / 2}) rotate(-90)`,
        "text-anchor": "middle", text: y.label }));
    }
    if (title) labels.append(svg("text", { class: "sx-chart-title", x: m.left, y: 15, text: title }));
    if (legend.length) {
      const group = svg("g", { class: "sx-legend" });
      legend.forEach((entry, i) => {
        const [at, baseline] = placed[i];
        const item = svg("g", { class: `sx-series ${entry.cls || ""}` });
        if (entry.swatch === "line") {
          item.append(svg("line", { class: "sx-swatch-line", x1: at, x2: at + 16, y1: baseline - 4, y2: baseline - 4,
            "stroke-dasharray": entry.dash }));
        } else {
          item.append(svg("rect", { class: "sx-swatch", x: at + 3, y: baseline - 9, width: 10, height: 10 }));
        }
        item.append(svg("text", { x: at + 20, y: baseline, text: entry.label }));
        group.append(item);
      });
      labels.append(group);
    }
    const plot = svg("g", { class: "sx-plot" });
    target.append(grid, plot, labels);
    return { sx, sy, plot, m, width, height };
  }

  // Line and dot series; points are [x, y] pairs (non-finite y leaves a gap), `whiskers` [x, low, high].
  function lineChart(target, spec) {
    const legend = spec.series.filter((s) => s.label)
      .map((s) => ({ label: s.label, cls: s.cls, swatch: "line", dash: s.dash }));
    const a = axes(target, { ...spec, legend });
    const clampY = (v) => Math.min(spec.height - a.m.bottom, Math.max(a.m.top, a.sy(v)));
    for (const series of spec.series) {
      const group = svg("g", { class: `sx-series ${series.cls || ""}` });
      if (series.whiskers) {
        for (const [x, lo, hi] of series.whiskers) {
          group.append(svg("line", { class: "sx-whisker", x1: a.sx(x), x2: a.sx(x), y1: clampY(lo), y2: clampY(hi) }));
        }
      }
      if (series.line !== false) {
        let d = "";
        let pen = false;
        for (const [x, y] of series.points) {
          if (!Number.isFinite(y) || (spec.y.log && y <= 0)) {
            pen = false;
            continue;
          }
          d += `${pen ? "L" : "M"}${a.sx(x).toFixed(1)} ${clampY(y).toFixed(1)}`;
          pen = true;
        }
        if (d) group.append(svg("path", { class: "sx-line", d, "stroke-dasharray": series.dash }));
      }
      if (series.dots) {
        for (const [x, y] of series.points) {
          if (Number.isFinite(y)) group.append(svg("circle", { class: "sx-dot", cx: a.sx(x), cy: clampY(y), r: series.dots }));
        }
      }
      a.plot.append(group);
    }
    for (const mark of spec.marks || []) {
      a.plot.append(svg("circle", { class: `sx-mark ${mark.cls || ""}`, cx: a.sx(mark.x), cy: clampY(mark.y), r: 5 }));
      if (mark.label) {
        const right = a.sx(mark.x) < (a.m.left + spec.width - a.m.right) / 2;
        a.plot.append(svg("text", { class: "sx-mark-label", x: a.sx(mark.x) + (right ? 9 : -9), y: clampY(mark.y) - 8,
          "text-anchor": right ? "start" : "end", text: mark.label }));
      }
    }
    return a;
  }

  // Bars per category, one bar per group side by side; labels above (or below) the bars when asked.
  function barChart(target, spec) {
    const n = spec.categories.length;
    const legend = [
      ...spec.groups.filter((g) => g.label).map((g) => ({ label: g.label, cls: g.cls, swatch: "bar" })),
      ...(spec.lines || []).filter((l) => l.label).map((l) => ({ label: l.label, cls: "sx-ink", swatch: "line", dash: "5 3" })),
    ];
    const a = axes(target, { ...spec, legend, x: { lo: -0.5, hi: n - 0.5, ticks: [] } });
    const slot = (a.sx(1) - a.sx(0)) * 0.8;
    const width = slot / spec.groups.length;
    spec.groups.forEach((group, g) => {
      const layer = svg("g", { class: `sx-series ${group.cls || ""}` });
      group.values.forEach((v, i) => {
        const x = a.sx(i) - slot / 2 + g * width;
        const top = a.sy(Math.max(0, v));
        const bottom = a.sy(Math.min(0, v));
        const cls = typeof group.barClass === "function" ? group.barClass(i) : "";
        layer.append(svg("rect", { class: `sx-bar ${cls}`, x: x + 0.5, y: top, width: Math.max(1, width - 1),
          height: Math.max(0.5, bottom - top) }));
        if (group.valueLabels) {
          const below = v < 0;
          layer.append(svg("text", { class: "sx-bar-label", x: x + width / 2, y: below ? bottom + 11 : top - 3,
            "text-anchor": "middle", text: group.valueLabels(v, i) }));
        }
      });
      a.plot.append(layer);
    });
    for (const line of spec.lines || []) {
      a.plot.append(svg("line", { class: `sx-ref ${line.cls || ""}`, x1: a.m.left, x2: spec.width - a.m.right,
        y1: a.sy(line.y), y2: a.sy(line.y) }));
    }
    const labels = target.querySelector(".sx-axis");
    spec.categories.forEach((text, i) => {
      labels.append(svg("text", { x: a.sx(i), y: spec.height - a.m.bottom + 14, "text-anchor": "middle", text }));
    });
    return a;
  }

  // The width available inside the explorer's padding, for its charts.
  function innerWidth(root) {
    const style = getComputedStyle(root);
    return Math.floor(root.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight));
  }

  // --- life of an explorer -----------------------------------------------------------------------------
  // The namespace of an explorer's keys in the hash: its kind, then "-2", "-3"... in the order of the page.
  function namespace(root) {
    const kind = root.dataset.kind;
    const same = [...document.querySelectorAll(`.sx-root[data-kind="${kind}"]`)];
    const index = same.indexOf(root);
    return index > 0 ? `${kind}-${index + 1}` : kind;
  }

  // Calls `draw` when the explorer's width changes (the layout, a rotated phone) or the theme does.
  function watchLayout(root, draw) {
    let width = 0;
    let queued = false;
    const redraw = () => {
      queued = false;
      if (root.isConnected) draw();
    };
    const queue = () => {
      if (!queued) {
        queued = true;
        requestAnimationFrame(redraw);
      }
    };
    if (typeof ResizeObserver !== "undefined") {
      const observer = new ResizeObserver(() => {
        if (!root.isConnected) return observer.disconnect();
        if (Math.abs(root.clientWidth - width) >= 1) {
          width = root.clientWidth;
          queue();
        }
      });
      observer.observe(root);
    }
    const themes = new MutationObserver(() => (root.isConnected ? queue() : themes.disconnect()));
    themes.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme", "data-mode"] });
    if (document.body) themes.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
  }

  // Play / pause: calls `frame()` once per animation frame until it returns false, the explorer leaves the
  // page, or pause() is called.
  function animation(root, frame, onStop) {
    let running = false;
    function tick() {
      if (!running) return;
      if (!root.isConnected) {
        running = false;
        return;
      }
      let more = false;
      try {
        more = frame();
      } finally {
        if (!more) {
          running = false;
          onStop();
        }
      }
      if (running) requestAnimationFrame(tick);
    }
    return {
      get running() {
        return running;
      },
      play() {
        if (!running) {
          running = true;
          requestAnimationFrame(tick);
        }
      },
      pause() {
        if (running) {
          running = false;
          onStop();
        }
      },
    };
  }

  // Calls `fn` once the page has loaded (at once in a notebook, whose page loaded long ago): the explorers'
  // first computations wait for it, so that they never hold up the page's own loading.
  function afterLoad(fn) {
    const later = () => setTimeout(fn, 0);
    if (document.readyState === "complete") later();
    else window.addEventListener("load", later, { once: true });
  }

  // Runs `work()` in slices of about 12 ms until it returns false, without freezing the page; resolves then.
  function inSlices(work, isCurrent) {
    return new Promise((resolve) => {
      function slice() {
        if (!isCurrent()) return resolve(false);
        const start = performance.now();
        while (performance.now() - start < 12) {
          if (!work()) return resolve(true);
        }
        setTimeout(slice, 0);
      }
      slice();
    });
  }

  // Fills the explorer's <div> from the settings Python wrote next to it, once the page has loaded (the book's
  // own scripts, styles and fonts first). `tables` are the string tables (see translator). The explorer module
  // returns its test hook (values(), settings(), ...), kept on the element as `sxExplorer`.
  function mount(root, create, tables) {
    if (!root || root.dataset.mounted) return;
    root.dataset.mounted = "pending";
    const t = translator(tables);
    // Keys that operate a control stay with it: JupyterLab binds arrows, digits and letters to notebook commands
    // (ArrowRight expands a heading) and would take them from a focused slider. Tab, Escape and the modified
    // keys (Shift+Enter runs the cell) still reach the notebook.
    root.addEventListener("keydown", (event) => {
      const control = event.target.closest && event.target.closest("input, button, select");
      const modified = event.ctrlKey || event.metaKey || event.altKey || (event.shiftKey && event.key === "Enter");
      if (control && !modified && event.key !== "Tab" && event.key !== "Escape") event.stopPropagation();
    });
    const fallback = root.querySelector(".sx-fallback");
    if (fallback) fallback.textContent = t("core.starting");
    afterLoad(() => {
      const config = JSON.parse(document.getElementById(root.id + "-config").textContent);
      const ns = namespace(root);
      root.replaceChildren();
      root.lang = language() === "zh_CN" ? "zh-CN" : "en";
      try {
        root.sxExplorer = create({ root, config, ns, core: api_, t });
        root.dataset.mounted = "true";
      } catch (error) {
        root.append(h("p", { class: "sx-error" }, t("core.failed", { message: error.message })));
        throw error;
      }
    });
  }

  // The notice under an explorer restored from a link that had parts it could not use.
  function ignoredNotice(ignored, t) {
    if (!ignored.length) return document.createDocumentFragment();
    return h("p", { class: "sx-note" }, t("core.ignored", { settings: ignored.join(", ") }));
  }

  const api_ = Object.freeze({
    language, translator,
    prng, max, argmax, logSumExp, softmax, entropy, accuracyText, fixed, significant, subscript,
    h, svg, readHash, writeHash, restore, parse, slider, radios, integerInput, button,
    lineChart, barChart, linearTicks, logTicks, innerWidth, watchLayout, animation, afterLoad, inSlices, mount, ignoredNotice,
  });
  return api_;
})()
