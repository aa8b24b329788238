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

  // --- the page's language ------------------------------------------------------------------------------
  // The words of the live view, chosen like the explorers' (core.language): from the monitor's data-lang (set
  // by the kernel when BOOK_LANGUAGE asks for a language), else from the page's <html lang>; zh-CN (any zh) is
  // Chinese, anything else English. A metric's name is the key the code gave (train_loss); in Chinese it is
  // spelt out when each of its parts is known (训练损失), else shown as the code wrote it.
  const STRINGS = {
    en: {
      epoch: "epoch",
      waiting: "The curves start with the first numbers.",
      against: "{name} against epoch",
      per_batch: "{name} per batch",
      "status.epoch": "epoch {epoch}",
      "status.epoch_of": "epoch {epoch}/{planned}",
      "status.steps": "{rate} steps/s",
      "status.seconds": "{rate} s/epoch",
      "status.eta": "ETA {eta}",
      "status.elapsed": "elapsed {elapsed}",
      "status.join": " · ",
      "group.loss": "loss",
      "group.accuracy": "accuracy",
      "group.learning rate": "learning rate",
    },
    zh_CN: {
      epoch: "轮",
      waiting: "曲线从第一批数字开始绘制。",
      against: "{name}随轮次的变化",
      per_batch: "{name}（每批）",
      "status.epoch": "第 {epoch} 轮",
      "status.epoch_of": "第 {epoch}/{planned} 轮",
      "status.steps": "每秒 {rate} 步",
      "status.seconds": "每轮 {rate} 秒",
      "status.eta": "预计剩余 {eta}",
      "status.elapsed": "已用 {elapsed}",
      "status.join": " · ",
      "group.loss": "损失",
      "group.accuracy": "准确率",
      "group.learning rate": "学习率",
    },
  };
  // The parts of a metric's key, in Chinese (the glossary's terms: 训练, 测试, 验证, 损失, 准确率, 学习率).
  const METRIC_PARTS = {
    zh_CN: {
      epoch: "轮", step: "步", train: "训练", test: "测试", val: "验证", valid: "验证", validation: "验证",
      loss: "损失", acc: "准确率", accuracy: "准确率", lr: "学习率", grad: "梯度", norm: "范数",
    },
  };

  function words(root) {
    const language = core.language(root.dataset.lang || document.documentElement.lang);
    const t = core.translator(STRINGS, language === "zh_CN" ? "zh-CN" : "en");
    const parts = METRIC_PARTS[language];
    function metric(key) {
      if (!parts) return key;
      const pieces = String(key).split(/[_ ]/);
      return pieces.every((p) => p in parts) ? pieces.map((p) => parts[p]).join("") : key;
    }
    const group = (name) => (STRINGS.en[`group.${name}`] ? t(`group.${name}`) : metric(name));
    return { language, t, metric, group };
  }

  // The status line (progress, rate, ETA, elapsed time) from the numbers the kernel sends.
  function statusLine(status, w) {
    const { t } = w;
    const parts = [status.planned ? t("status.epoch_of", status) : t("status.epoch", status)];
    if (status.steps_per_second !== undefined) parts.push(t("status.steps", { rate: status.steps_per_second }));
    if (status.seconds_per_epoch !== undefined) parts.push(t("status.seconds", { rate: status.seconds_per_epoch }));
    if (status.eta !== undefined) parts.push(t("status.eta", status));
    parts.push(t("status.elapsed", status));
    return parts.join(t("status.join"));
  }

  // The words outside the charts: the status line, the names over the latest numbers, the line shown until
  // the curves come. The kernel writes them in English (what a view without scripts shows).
  function label(root, data, w) {
    root.lang = w.language === "zh_CN" ? "zh-CN" : "en";
    const line = root.querySelector(".tm-line");
    if (line && data.status) line.textContent = statusLine(data.status, w);
    for (const cell of root.querySelectorAll(".tm-table [data-key] b")) {
      cell.textContent = w.metric(cell.parentNode.dataset.key);
    }
  }

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
    const w = words(root);
    label(root, data, w);
    const { t } = w;
    const charts = root.querySelector(".tm-charts");
    if (!charts) return;
    const width = charts.clientWidth || 640;
    const each = panelWidth(width, data.panels.length);
    const xTicks = data.xmax <= 12 ? Array.from({ length: data.xmax + 1 }, (_, i) => i) : undefined;
    charts.replaceChildren();
    if (!data.panels.length) {
      charts.append(core.h("p", { class: "tm-waiting" }, t("waiting")));
    }
    for (const panel of data.panels) {
      const name = w.group(panel.group ?? panel.name);
      const target = svg("svg", { role: "img", "aria-label": t("against", { name }) });
      charts.append(target);
      lineChart(target, {
        width: each, height: HEIGHT, title: name,
        x: { lo: 0, hi: data.xmax, integer: true, ticks: xTicks, label: t("epoch") },
        y: yRange(panel),
        series: panel.series.map((s) => ({
          points: s.points, dots: s.dots ? 3 : 0,
          label: s.label === undefined || s.key === undefined ? s.label
            : s.smooth ? t("per_batch", { name: w.metric(s.key) }) : w.metric(s.key),
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
