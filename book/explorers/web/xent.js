// xent.js: the cross-entropy explorer -- one example's logits o and true class y; the loss -log p_y on its
// curve, and the gradient softmax(o) - one_hot(y) per class. The numbers are book.cross_entropy's
// cross_entropy and cross_entropy_grad in float64; tests/test_explorers_browser.py holds them to Python's.
(core) => function create({ root, config, ns, t }) {
  const { h } = core;
  const defaults = config.settings;
  const q = defaults.o.length;
  const [lo, hi] = defaults.logit_range;
  const link = core.restore(ns, { o: core.parse.numbers(q, lo, hi), y: core.parse.integer(0, q - 1) },
    { o: defaults.o, y: defaults.y });
  const state = link.settings;
  let result = null;

  const sliders = state.o.map((value, i) => core.slider({
    prefix: root.id, label: h("span", {}, t("xent.logit"), h("sub", {}, String(i))), value, min: lo, max: hi, step: 0.1,
    format: (v) => core.fixed(v, 2), onInput: (v) => { state.o[i] = v; changed(); },
  }));
  const classes = core.radios({
    prefix: root.id, legend: t("xent.true_class"), value: state.y,
    options: state.o.map((_, i) => ({ value: i, label: String(i) })),
    onChange: (v) => { state.y = v; changed(); },
  });
  const readout = h("p", { class: "sx-readout", "aria-live": "polite" });
  const curve = core.svg("svg", { role: "img" });
  const bars = core.svg("svg", { role: "img" });
  root.append(
    h("div", { class: "sx-head" }, h("strong", {}, t("xent.title")), h("span", {}, t("xent.intro"))),
    h("div", { class: "sx-controls" }, sliders.map((s) => s.element), classes.element),
    readout,
    h("div", { class: "sx-charts" }, curve, bars),
    core.ignoredNotice(link.ignored, t),
  );

  function compute() {
    const p = core.softmax(state.o);
    const loss = core.logSumExp(state.o) - state.o[state.y];  // -log softmax(o)_y, never log(0)
    const gradient = p.map((v, i) => v - (i === state.y ? 1 : 0));
    result = { logits: [...state.o], true_class: state.y, probabilities: p, loss, gradient };
  }
  function draw() {
    const { loss, probabilities: p, gradient } = result;
    const py = Math.exp(-loss);  // from the stable loss: > 0 even where p underflows
    readout.textContent = t("xent.readout", { loss: core.fixed(loss, 4), py: core.fixed(py, 4), y: state.y,
      sub: core.subscript(state.y), raise: core.fixed(1 - p[state.y], 3) });
    const width = core.innerWidth(root);
    const wide = width >= 620;
    const curveWidth = wide ? Math.floor((width - 16) * 0.42) : width;
    const barWidth = wide ? width - 16 - curveWidth : width;
    const pMin = Math.min(1e-3, py);
    const points = [];
    for (let k = 0; k <= 160; k++) {
      const pk = pMin * (1 / pMin) ** (k / 160);  // dense near 0, where the curve climbs
      points.push([pk, -Math.log(pk)]);
    }
    const top = Math.max(7, 1.1 * loss);
    core.lineChart(curve, {
      width: curveWidth, height: 230, title: t("xent.curve_title"),
      x: { lo: 0, hi: 1.02, label: t("xent.curve_x"), ticks: [0, 0.25, 0.5, 0.75, 1] },
      y: { lo: 0, hi: top, label: t("xent.curve_y") },
      series: [{ points, cls: "sx-c0" }],
      marks: [{ x: py, y: loss, cls: "sx-c3", label: t("xent.mark", { loss: core.fixed(loss, 3) }) }],
    });
    curve.setAttribute("aria-label", t("xent.curve_aria", { py: core.fixed(py, 4), loss: core.fixed(loss, 4) }));
    const oneHot = p.map((_, i) => (i === state.y ? 1 : 0));
    core.barChart(bars, {
      width: barWidth, height: 230, title: t("xent.bars_title"),
      categories: p.map((_, i) => (i === state.y ? t("xent.true_category", { i }) : String(i))), x: {},
      y: { lo: -1.1, hi: 1.3, ticks: [-1, -0.5, 0, 0.5, 1] },
      groups: [
        { values: p, cls: "sx-c0", label: t("xent.softmax_p") },
        { values: oneHot, cls: "sx-c2", label: t("xent.one_hot") },
        { values: gradient, cls: "sx-c3", label: t("xent.gradient"), valueLabels: (v) => core.fixed(v, 2) },
      ],
    });
    bars.setAttribute("aria-label", t("xent.bars_aria", { values: gradient.map((v) => core.fixed(v, 3)).join(", ") }));
  }
  function changed() {
    compute();
    draw();
    core.writeHash(ns, { o: state.o.join(","), y: String(state.y) });
  }

  compute();
  draw();
  core.watchLayout(root, draw);
  return {
    settings: () => ({ o: [...state.o], y: state.y }),
    values: () => structuredClone(result),
    fromLink: link.fromLink,
  };
}
