// monitor.js: the live view of book.monitor.TrainingMonitor -- the curves, drawn in the browser from the numbers
// the kernel sends.
//
// This file is one JavaScript expression, a function of the explorers' shared code (book/explorers/web/core.js,
// whose SVG charts it uses). book/monitor.py inlines both into the monitor's HTML output and keeps one copy per
// page and version in globalThis.__softmaxCourse. The kernel replaces that output a few times a second
// (IPython's update_display); each new copy runs its classic <script> at once, so the curves are redrawn in the
// same task as the output is replaced: nothing flickers. The kernel only sends numbers: per-step values already
// averaged into at most a few hundred bins (raw and smoothed), the per-epoch rows, and the x range.
(core) => {
  "use strict";
  const { svg, lineChart } = core;
  const GAP = 16;
  const MIN_PANEL = 280;
  const HEIGHT = 230;

  // The y range of a panel: from the series that set it (smoothed and per-epoch values; raw per-step values
  // may be clipped), padded; accuracies stay within [0, 1].
  function yRange(panel) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const series of panel.series) {
      if (!series.range) continue;
      for (const [, y] of series.points) {
        if (!Number.isFinite(y) || (panel.log && y <= 0)) continue;
        if (y < lo) lo = y;
        if (y > hi) hi = y;
      }
    }
    if (!Number.isFinite(lo)) return panel.log ? { lo: 1e-4, hi: 1, log: true } : { lo: 0, hi: 1 };
    if (panel.log) {
      return { lo: lo / 1.5, hi: hi * 1.5, log: true };
    }
    const pad = (hi - lo) * 0.06 || Math.max(Math.abs(hi) * 0.05, 0.01);
    let low = lo - pad;
    let high = hi + pad;
    if (panel.unit) {
      low = Math.max(0, low);
      high = Math.min(1, high);
    }
    if (lo >= 0 && low < 0) low = 0;
    return { lo: low, hi: high };
  }

  function panelWidth(width, count) {
    if (count * MIN_PANEL + (count - 1) * GAP <= width) return Math.floor((width - (count - 1) * GAP) / count);
    return Math.max(200, Math.min(width, 640));
  }

  function draw(root, data) {
    const charts = root.querySelector(".tm-charts");
    if (!charts) return;
    const width = charts.clientWidth || 640;
    const each = panelWidth(width, data.panels.length);
    const xTicks = data.xmax <= 12 ? Array.from({ length: data.xmax + 1 }, (_, i) => i) : undefined;
    charts.replaceChildren();
    if (!data.panels.length) {
      charts.append(core.h("p", { class: "tm-waiting" }, "The curves start with the first numbers."));
    }
    for (const panel of data.panels) {
      const target = svg("svg", { role: "img", "aria-label": `${panel.name} against epoch` });
      charts.append(target);
      lineChart(target, {
        width: each, height: HEIGHT, title: panel.name,
        x: { lo: 0, hi: data.xmax, integer: true, ticks: xTicks, label: "epoch" },
        y: yRange(panel),
        series: panel.series.map((s) => ({
          points: s.points, label: s.label, dots: s.dots ? 3 : 0,
          cls: `tm-c${s.color % 10}${s.faint ? " tm-faint" : ""}${s.smooth ? " tm-smooth" : ""}${s.dash ? " tm-dash" : ""}`,
        })),
      });
    }
  }

  // Draws `data` into the monitor's element and redraws it when its width changes (a resized panel). Each
  // update of the output brings a new element with the same id: the observer of the one it replaced goes.
  const observers = new Map();
  function render(root, data) {
    root.tmData = data;
    draw(root, data);
    if (typeof ResizeObserver === "undefined") return;
    observers.get(root.id)?.disconnect();
    let width = root.clientWidth;
    const observer = new ResizeObserver(() => {
      if (!root.isConnected) {
        observer.disconnect();
        if (observers.get(root.id) === observer) observers.delete(root.id);
        return;
      }
      if (Math.abs(root.clientWidth - width) >= 1) {
        width = root.clientWidth;
        draw(root, root.tmData);
      }
    });
    observers.set(root.id, observer);
    observer.observe(root);
  }

  return { render };
}
