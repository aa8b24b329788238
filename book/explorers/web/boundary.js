// boundary.js: decision boundaries on 2-D toy data -- softmax regression beside a small ReLU MLP, both trained
// in the page by full-batch Adam on the mean cross-entropy. The data (book.explorers.toy_2d), the initial
// weights and the optimiser (torch.optim.Adam's update, step for step) are those of book.explorers.fit_2d,
// drawn from the course's seeded generator, so Python reproduces any picture from its settings.
(core) => function create({ root, config, ns, t }) {
  const { h } = core;
  const defaults = config.settings;
  const kinds = Object.keys(defaults.noise_defaults);
  const link = core.restore(ns, {
    data: core.parse.oneOf(kinds), noise: core.parse.number(0, defaults.max_noise),
    hidden: core.parse.oneOf(defaults.hidden_values), lr: core.parse.oneOf(defaults.lr_values),
    steps: core.parse.oneOf(defaults.steps_values), seed: core.parse.integer(0, defaults.max_seed),
  }, {
    data: defaults.data, noise: defaults.noise, hidden: defaults.hidden, lr: defaults.lr, steps: defaults.steps,
    seed: defaults.seed,
  });
  const state = link.settings;
  const kindName = (kind) => t(`boundary.kind.${kind}`);  // the data's name shown; the hash keeps the kind
  if (link.fromLink && !("noise" in core.readHash(ns))) state.noise = defaults.noise_defaults[state.data];

  // --- the toy data: book.explorers.toy_2d, draw for draw ------------------------------------------------
  function toyData() {
    const rng = core.prng(state.seed);
    const classes = state.data === "moons" ? 2 : defaults.classes;
    const n = defaults.n_per_class;
    const points = [];
    const labels = [];
    for (let k = 0; k < classes; k++) {
      for (let i = 0; i < n; i++) {
        let x;
        let y;
        if (state.data === "spiral") {
          const radius = 0.05 + (0.95 * i) / Math.max(n - 1, 1);
          const angle = (2 * Math.PI * k) / classes + 4 * radius + state.noise * rng.normal();
          x = radius * Math.cos(angle);
          y = radius * Math.sin(angle);
        } else if (state.data === "blobs") {
          const angle = (2 * Math.PI * k) / classes;
          x = 4 * Math.cos(angle) + state.noise * rng.normal();
          y = 4 * Math.sin(angle) + state.noise * rng.normal();
        } else {  // moons: the upper arc, and the lower one shifted into its hollow
          const t = rng.uniform() * Math.PI;
          x = (k === 0 ? Math.cos(t) : 1 - Math.cos(t)) + state.noise * rng.normal();
          y = (k === 0 ? Math.sin(t) : 0.5 - Math.sin(t)) + state.noise * rng.normal();
        }
        points.push(x, y);
        labels.push(k);
      }
    }
    return { X: Float64Array.from(points), y: Int32Array.from(labels), n: labels.length, classes };
  }

  // --- a ReLU network (sizes [2, ..., q]) with torch.nn.Linear's layout and default initialisation ------
  function network(sizes, seed) {
    const rng = core.prng(seed);
    const layers = [];
    for (let l = 1; l < sizes.length; l++) {
      const fanIn = sizes[l - 1];
      const bound = 1 / Math.sqrt(fanIn);  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weights then bias
      const W = new Float64Array(sizes[l] * fanIn);  // (out, in) as nn.Linear.weight
      for (let k = 0; k < W.length; k++) W[k] = (2 * rng.uniform() - 1) * bound;
      const b = new Float64Array(sizes[l]);
      for (let k = 0; k < b.length; k++) b[k] = (2 * rng.uniform() - 1) * bound;
      layers.push({ in: fanIn, out: sizes[l], W, b });
    }
    const params = layers.flatMap((layer) => [layer.W, layer.b]);
    const adam = params.map((p) => ({ m: new Float64Array(p.length), v: new Float64Array(p.length) }));
    return { sizes, layers, params, adam, steps: 0 };
  }
  // Activations of every layer for n points (A[0] = the inputs); the last is the logits.
  function forward(net, X, n) {
    const acts = [X];
    net.layers.forEach((layer, l) => {
      const A = acts[l];
      const Z = new Float64Array(n * layer.out);
      const hidden = l < net.layers.length - 1;
      for (let r = 0; r < n; r++) {
        for (let o = 0; o < layer.out; o++) {
          let s = layer.b[o];
          const w = o * layer.in;
          const a = r * layer.in;
          for (let i = 0; i < layer.in; i++) s += A[a + i] * layer.W[w + i];
          Z[r * layer.out + o] = hidden && s < 0 ? 0 : s;
        }
      }
      acts.push(Z);
    });
    return acts;
  }
  function lossAndGradients(net, data) {
    const acts = forward(net, data.X, data.n);
    const q = data.classes;
    const O = acts[acts.length - 1];
    let delta = new Float64Array(data.n * q);
    let loss = 0;
    let correct = 0;
    const row = new Float64Array(q);
    for (let r = 0; r < data.n; r++) {
      for (let j = 0; j < q; j++) row[j] = O[r * q + j];
      const lse = core.logSumExp(row);
      loss += lse - row[data.y[r]];
      if (core.argmax(row) === data.y[r]) correct++;
      for (let j = 0; j < q; j++) delta[r * q + j] = (Math.exp(row[j] - lse) - (j === data.y[r] ? 1 : 0)) / data.n;
    }
    const grads = [];
    for (let l = net.layers.length - 1; l >= 0; l--) {
      const layer = net.layers[l];
      const A = acts[l];
      const gW = new Float64Array(layer.W.length);
      const gb = new Float64Array(layer.out);
      for (let r = 0; r < data.n; r++) {
        for (let o = 0; o < layer.out; o++) {
          const g = delta[r * layer.out + o];
          if (g === 0) continue;
          gb[o] += g;
          for (let i = 0; i < layer.in; i++) gW[o * layer.in + i] += g * A[r * layer.in + i];
        }
      }
      grads.unshift(gW, gb);
      if (l > 0) {  // through W, then through the ReLU (gradient 0 where its input was <= 0)
        const previous = new Float64Array(data.n * layer.in);
        for (let r = 0; r < data.n; r++) {
          for (let i = 0; i < layer.in; i++) {
            if (A[r * layer.in + i] <= 0) continue;
            let s = 0;
            for (let o = 0; o < layer.out; o++) s += delta[r * layer.out + o] * layer.W[o * layer.in + i];
            previous[r * layer.in + i] = s;
          }
        }
        delta = previous;
      }
    }
    return { loss: loss / data.n, correct, grads };
  }
  // torch.optim.Adam with its defaults (betas 0.9, 0.999, eps 1e-8), written as its single-tensor update.
  function adamStep(net, grads, lr) {
    net.steps++;
    const t = net.steps;
    const stepSize = lr / (1 - 0.9 ** t);
    const correction2 = (1 - 0.999 ** t) ** 0.5;
    net.params.forEach((p, k) => {
      const g = grads[k];
      const { m, v } = net.adam[k];
      for (let i = 0; i < p.length; i++) {
        m[i] += (1 - 0.9) * (g[i] - m[i]);
        v[i] = v[i] * 0.999 + (1 - 0.999) * g[i] * g[i];
        p[i] += -stepSize * (m[i] / (Math.sqrt(v[i]) / correction2 + 1e-8));
      }
    });
  }

  // --- controls ----------------------------------------------------------------------------------------
  const dataChoice = core.radios({
    prefix: root.id, legend: t("boundary.data"), value: state.data, options: kinds.map((k) => ({ value: k, label: kindName(k) })),
    onChange: (v) => {
      state.data = v;
      state.noise = defaults.noise_defaults[v];
      noise.set(state.noise);
      restart();
    },
  });
  const noise = core.slider({
    prefix: root.id, label: t("boundary.noise"), value: state.noise, min: 0, max: defaults.max_noise, step: 0.05,
    format: (v) => core.fixed(v, 2), onInput: (v) => { state.noise = v; restart(); },
  });
  const hidden = core.radios({
    prefix: root.id, legend: t("boundary.hidden"), value: state.hidden,
    options: defaults.hidden_values.map((v) => ({ value: v, label: String(v) })),
    onChange: (v) => { state.hidden = v; restart(); },
  });
  const lr = core.slider({
    prefix: root.id, label: t("common.learning_rate"), value: state.lr, values: defaults.lr_values,
    format: (v) => core.significant(v), onInput: (v) => { state.lr = v; restart(); },
  });
  const steps = core.slider({
    prefix: root.id, label: t("boundary.steps"), value: state.steps, values: defaults.steps_values, format: String,
    onInput: (v) => { state.steps = v; budgetChanged(); },
  });
  const seed = core.integerInput({
    prefix: root.id, label: t("common.seed"), value: state.seed, min: 0, max: defaults.max_seed,
    onChange: (v) => { state.seed = v; restart(); },
  });
  const playButton = core.button(t("common.play"), () => (player.running ? player.pause() : play()), { "aria-pressed": "false" });
  const stepButton = core.button(t("boundary.step"), () => advance(10));
  const resetButton = core.button(t("common.reset"), reset);
  const progress = h("p", { class: "sx-progress" });
  const panels = ["softmax", "mlp"].map((name) => {
    const canvas = h("canvas", { class: "sx-canvas", role: "img" });
    const caption = h("p", { class: "sx-caption" });
    const element = h("figure", { class: "sx-panel" }, canvas, caption);
    return { name, canvas, caption, element };
  });
  const summary = h("p", { class: "sx-readout", "aria-live": "polite" });
  root.append(
    h("div", { class: "sx-head" }, h("strong", {}, t("boundary.title")), h("span", {}, t("boundary.intro"))),
    h("div", { class: "sx-controls" }, dataChoice.element, noise.element, hidden.element, lr.element,
      steps.element, seed.element),
    h("div", { class: "sx-buttons" }, playButton, stepButton, resetButton),
    progress,
    h("div", { class: "sx-charts" }, panels.map((p) => p.element)),
    summary,
    core.ignoredNotice(link.ignored, t),
  );

  // --- running -----------------------------------------------------------------------------------------
  let data = null;
  let models = null;
  let generation = 0;
  function newRun() {
    data = toyData();
    models = {
      softmax: network([2, data.classes], state.seed),
      mlp: network([2, state.hidden, state.hidden, data.classes], state.seed),
    };
  }
  const stepCount = () => models.mlp.steps;
  function trainStep() {
    if (stepCount() >= state.steps) return false;
    for (const net of Object.values(models)) adamStep(net, lossAndGradients(net, data).grads, state.lr);
    return stepCount() < state.steps;
  }
  const player = core.animation(root, () => {
    const perFrame = Math.max(1, Math.ceil(state.steps / 120));
    for (let k = 0; k < perFrame; k++) if (!trainStep()) break;
    draw(false);
    return stepCount() < state.steps;
  }, () => {
    playButton.textContent = t("common.play");
    playButton.setAttribute("aria-pressed", "false");
    draw(true);
  });
  function play() {
    if (stepCount() >= state.steps) newRun();
    generation++;
    playButton.textContent = t("common.pause");
    playButton.setAttribute("aria-pressed", "true");
    player.play();
  }
  function remember() {
    core.writeHash(ns, { data: state.data, noise: String(state.noise), hidden: String(state.hidden),
      lr: String(state.lr), steps: String(state.steps), seed: String(state.seed) });
  }
  function restart() {
    remember();
    newRun();
    play();
  }
  function budgetChanged() {
    remember();
    if (stepCount() > state.steps) {
      player.pause();
      newRun();
      computeToEnd();
    } else if (stepCount() < state.steps) {
      play();
    } else {
      draw(true);
    }
  }
  function advance(count) {
    player.pause();
    generation++;
    for (let k = 0; k < count && trainStep(); k++);
    draw(true);
  }
  function reset() {
    player.pause();
    generation++;
    newRun();
    draw(true);
  }
  function computeToEnd() {
    const mine = ++generation;
    progress.textContent = t("common.training_now");
    return core.inSlices(trainStep, () => mine === generation).then((done) => {
      if (done) draw(true);
    });
  }

  // --- drawing -----------------------------------------------------------------------------------------
  function evaluate(net) {
    const { loss, correct } = lossAndGradients(net, data);
    return { loss, correct, accuracy: correct / data.n };
  }
  function colours() {
    const style = getComputedStyle(root);
    const probe = document.createElement("canvas").getContext("2d");
    const rgb = (name) => {
      probe.fillStyle = "#888888";
      probe.fillStyle = style.getPropertyValue(name).trim() || "#888888";
      const hex = probe.fillStyle;  // normalised to #rrggbb
      return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    };
    return {
      classes: Array.from({ length: data.classes }, (_, k) => rgb(`--sx-c${k}`)),
      background: rgb("--sx-background"),
      edge: style.getPropertyValue("--sx-point-edge").trim() || "#000",
    };
  }
  function view() {  // the points' box plus 0.5 (as book.explorers.decision_grid), made square
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let r = 0; r < data.n; r++) {
      x0 = Math.min(x0, data.X[2 * r]);
      x1 = Math.max(x1, data.X[2 * r]);
      y0 = Math.min(y0, data.X[2 * r + 1]);
      y1 = Math.max(y1, data.X[2 * r + 1]);
    }
    const half = Math.max(x1 - x0, y1 - y0) / 2 + 0.5;
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    return { x0: cx - half, y0: cy - half, span: 2 * half };
  }
  function drawPanel(panel, net, atRest, palette, box, size) {
    const resolution = atRest ? 120 : 64;
    const grid = new Float64Array(resolution * resolution * 2);
    for (let r = 0; r < resolution; r++) {
      for (let c = 0; c < resolution; c++) {
        grid[2 * (r * resolution + c)] = box.x0 + ((c + 0.5) / resolution) * box.span;
        grid[2 * (r * resolution + c) + 1] = box.y0 + box.span - ((r + 0.5) / resolution) * box.span;
      }
    }
    const acts = forward(net, grid, resolution * resolution);
    const O = acts[acts.length - 1];
    const q = data.classes;
    const image = new ImageData(resolution, resolution);
    const row = new Float64Array(q);
    for (let k = 0; k < resolution * resolution; k++) {
      for (let j = 0; j < q; j++) row[j] = O[k * q + j];
      const p = core.softmax(row);
      const best = core.argmax(p);
      const sure = (p[best] - 1 / q) / (1 - 1 / q);  // 0 on a border, 1 far inside a region
      const alpha = 0.18 + 0.42 * sure;
      const [cr, cg, cb] = palette.classes[best];
      const [br, bg, bb] = palette.background;
      image.data.set([br + alpha * (cr - br), bg + alpha * (cg - bg), bb + alpha * (cb - bb), 255], 4 * k);
    }
    const ratio = window.devicePixelRatio || 1;
    const canvas = panel.canvas;
    canvas.width = Math.round(size * ratio);
    canvas.height = Math.round(size * ratio);
    canvas.style.width = `${size}px`;
    canvas.style.height = `${size}px`;
    const context = canvas.getContext("2d");
    const small = document.createElement("canvas");
    small.width = resolution;
    small.height = resolution;
    small.getContext("2d").putImageData(image, 0, 0);
    context.imageSmoothingEnabled = true;
    context.drawImage(small, 0, 0, canvas.width, canvas.height);
    const toPixel = (x, y) => [((x - box.x0) / box.span) * canvas.width, ((box.y0 + box.span - y) / box.span) * canvas.height];
    context.lineWidth = ratio;
    context.strokeStyle = palette.edge;
    for (let r = 0; r < data.n; r++) {
      const [px, py] = toPixel(data.X[2 * r], data.X[2 * r + 1]);
      context.beginPath();
      context.arc(px, py, 3.2 * ratio, 0, 2 * Math.PI);
      context.fillStyle = `rgb(${palette.classes[data.y[r]].join(",")})`;
      context.fill();
      context.stroke();
    }
  }
  function describe(name) {
    return name === "softmax" ? t("boundary.softmax_model", { q: data.classes })
      : t("boundary.mlp_model", { hidden: state.hidden, q: data.classes });
  }
  function draw(atRest) {
    const width = core.innerWidth(root);
    const size = Math.max(120, Math.min(360, width >= 500 ? Math.floor((width - 24) / 2) : width - 8));
    const palette = colours();
    const box = view();
    const results = {};
    for (const panel of panels) {
      const net = models[panel.name];
      drawPanel(panel, net, atRest, palette, box, size);
      const r = (results[panel.name] = evaluate(net));
      panel.caption.textContent = t("boundary.caption", { model: describe(panel.name),
        accuracy: core.fixed(100 * r.accuracy, 2), correct: r.correct, n: data.n, loss: core.fixed(r.loss, 4) });
      panel.canvas.setAttribute("aria-label", t("boundary.aria", { model: describe(panel.name), n: data.n,
        data: kindName(state.data), accuracy: core.fixed(100 * r.accuracy, 1) }));
    }
    progress.textContent = t("boundary.progress", { step: stepCount(), steps: state.steps, n: data.n,
      q: data.classes });
    stepButton.disabled = stepCount() >= state.steps;
    if (atRest) {
      summary.textContent = t("boundary.summary", { step: stepCount(),
        softmax: core.fixed(100 * results.softmax.accuracy, 2), mlp: core.fixed(100 * results.mlp.accuracy, 2) });
    }
  }

  newRun();
  progress.textContent = t("common.training_now");
  let drawn = false;  // the first picture comes with the first result, after the page has loaded
  core.watchLayout(root, () => drawn && draw(!player.running));
  const ready = new Promise((resolve) => core.afterLoad(() => computeToEnd().then(() => {
    drawn = true;
    resolve();
  })));

  return {
    settings: () => ({ ...state }),
    fromLink: link.fromLink,
    ready,
    values: () => ({
      settings: { ...state }, step: stepCount(), done: stepCount() >= state.steps && !player.running,
      running: player.running, data: { X: Array.from(data.X), y: Array.from(data.y) },
      models: { softmax: evaluate(models.softmax), mlp: evaluate(models.mlp) },
    }),
    weights: (name) => models[name].params.map((p) => Array.from(p)),
  };
}
