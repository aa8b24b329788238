// softmax.js: the softmax explorer -- logits o and a temperature T in, softmax(o / T) and its entropy out.
// The numbers are book.softmax.softmax and book.softmax.entropy in float64 (core.softmax, core.entropy);
// tests/test_explorers_browser.py holds them to Python's.
(core) => function create({ root, config, ns, t }) {
  const { h } = core;
  const defaults = config.settings;
  const q = defaults.o.length;
  const [lo, hi] = defaults.logit_range;
  const [tLo, tHi] = defaults.temperature_range;
  const link = core.restore(ns, { o: core.parse.numbers(q, lo, hi), T: core.parse.number(tLo, tHi) },
    { o: defaults.o, T: defaults.T });
  const state = link.settings;
  let result = null;

  const sliders = state.o.map((value, i) => core.slider({
    prefix: root.id, label: h("span", {}, t("softmax.logit"), h("sub", {}, String(i))), value, min: lo, max: hi, step: 0.1,
    format: (v) => core.fixed(v, 2), onInput: (v) => { state.o[i] = v; changed(); },
  }));
  const temperature = core.slider({
    prefix: root.id, label: t("softmax.temperature"), value: state.T, min: Math.log10(tLo), max: Math.log10(tHi), step: 0.01,
    toPosition: Math.log10, fromPosition: (p) => Number((10 ** p).toPrecision(3)),
    format: (v) => core.significant(v, 3), onInput: (v) => { state.T = v; changed(); },
  });
  const readout = h("p", { class: "sx-readout", "aria-live": "polite" });
  const logitChart = core.svg("svg", { role: "img" });
  const probabilityChart = core.svg("svg", { role: "img" });
  root.append(
    h("div", { class: "sx-head" }, h("strong", {}, t("softmax.title")), h("span", {}, t("softmax.intro"))),
    h("div", { class: "sx-controls" }, sliders.map((s) => s.element), temperature.element),
    readout,
    h("div", { class: "sx-charts" }, logitChart, probabilityChart),
    core.ignoredNotice(link.ignored, t),
  );

  function compute() {
    const p = core.softmax(state.o, state.T);
    result = { logits: [...state.o], temperature: state.T, probabilities: p, entropy: core.entropy(p) };
  }
  function draw() {
    const p = result.probabilities;
    const winner = core.argmax(p);
    readout.textContent = t("softmax.readout", { entropy: core.fixed(result.entropy, 3),
      max: core.fixed(Math.log(q), 3), p: core.fixed(p[winner], 3), winner });
    const width = core.innerWidth(root);
    const each = width >= 560 ? Math.floor((width - 16) / 2) : width;
    const categories = p.map((_, i) => String(i));
    const accent = (i) => (i === winner ? "sx-accent" : "");
    const limit = 1.1 * Math.max(hi, ...state.o.map(Math.abs));
    core.barChart(logitChart, {
      width: each, height: 210, title: t("softmax.logits_title"), categories, x: {}, y: { lo: -limit, hi: limit },
      groups: [{ values: state.o, cls: "sx-c0", barClass: accent }],
    });
    const logitText = state.o.map((v) => core.fixed(v, 2)).join(", ");
    logitChart.setAttribute("aria-label", t("softmax.logits_aria", { values: logitText }));
    core.barChart(probabilityChart, {
      width: each, height: 210, title: t("softmax.probabilities_title", { T: core.significant(state.T) }), categories,
      x: {}, y: { lo: 0, hi: 1.12, ticks: [0, 0.25, 0.5, 0.75, 1] },
      groups: [{ values: p, cls: "sx-c0", barClass: accent, valueLabels: (v) => core.fixed(v, 3) }],
      lines: [{ y: 1 / q, cls: "sx-dashed", label: t("softmax.uniform", { value: core.fixed(1 / q, 2) }) }],
    });
    const probabilityText = p.map((v) => core.fixed(v, 3)).join(", ");
    probabilityChart.setAttribute("aria-label", t("softmax.probabilities_aria", { values: probabilityText }));
  }
  function changed() {
    compute();
    draw();
    core.writeHash(ns, { o: state.o.join(","), T: String(state.T) });
  }

  compute();
  draw();
  core.watchLayout(root, draw);
  return {
    settings: () => ({ o: [...state.o], T: state.T }),
    values: () => structuredClone(result),
    fromLink: link.fromLink,
  };
}
