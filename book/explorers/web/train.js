// train.js: training in the page -- softmax regression on a Fashion-MNIST subset that travels with the page,
// by minibatch SGD in float64, with live loss and accuracy curves. It is the loop of book.train (train_epoch,
// then evaluate on held-out images) with the initial weights and the minibatch order drawn from the course's
// seeded generator, so book.explorers.train_softmax_regression reproduces any run from its settings, and
// tests/test_explorers_browser.py holds the two loss curves together.
(core) => function create({ root, config, ns, t }) {
  const { h } = core;
  const defaults = config.settings;
  const data = config.data;
  const { d, q } = data;
  const nTrain = data.n_train;
  const nVal = data.n_val;
  const X = pixels(data.train_pixels, nTrain);
  const Y = bytes(data.train_labels);
  const XVal = pixels(data.val_pixels, nVal);
  const YVal = bytes(data.val_labels);

  function bytes(base64) {
    const text = atob(base64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  function pixels(base64, n) {  // two grey levels per byte, high nibble first; level / (levels - 1) in [0, 1]
    const packed = bytes(base64);
    const top = data.levels - 1;
    const out = new Float64Array(n * d);
    for (let k = 0; k < n * d; k++) {
      const byte = packed[k >> 1];
      out[k] = ((k & 1) ? byte & 15 : byte >> 4) / top;
    }
    return out;
  }

  const link = core.restore(ns, {
    lr: core.parse.oneOf(defaults.lr_values), batch: core.parse.oneOf(defaults.batch_values),
    epochs: core.parse.integer(1, defaults.max_epochs), seed: core.parse.integer(0, defaults.max_seed),
  }, { lr: defaults.lr, batch: defaults.batch, epochs: defaults.epochs, seed: defaults.seed });
  const state = link.settings;

  // --- the model and one minibatch step (book.train.train_epoch with sgd) --------------------------------
  const logits = new Float64Array(q);
  let gradient = new Float64Array(0);

  function newRun() {
    const rng = core.prng(state.seed);
    const W = new Float64Array(d * q);  // (d, q), row-major: O = XW + b
    for (let k = 0; k < d * q; k++) W[k] = rng.normal() * 0.01;
    const run = {
      lr: state.lr, batch: state.batch, seed: state.seed, rng, W, b: new Float64Array(q),
      budget: state.epochs, epoch: 0, step: 0, order: null, stepsPerEpoch: Math.ceil(nTrain / state.batch),
      stepLosses: [], epochs: [], lossSum: 0, correct: 0, error: null,
    };
    const v = evaluate(run);
    run.epochs.push({ epoch: 0, val_loss: v.loss, val_acc: v.correct / nVal, val_correct: v.correct });
    return run;
  }
  function forward(run, x, offset) {  // logits of one example into `logits`; zero pixels add nothing
    const W = run.W;
    logits.set(run.b);
    for (let k = 0; k < d; k++) {
      const xk = x[offset + k];
      if (xk === 0) continue;
      const row = k * q;
      for (let j = 0; j < q; j++) logits[j] += xk * W[row + j];
    }
  }
  function evaluate(run) {
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < nVal; i++) {
      forward(run, XVal, i * d);
      loss += core.logSumExp(logits) - logits[YVal[i]];
      if (core.argmax(logits) === YVal[i]) correct++;
    }
    return { loss: loss / nVal, correct };
  }
  // One minibatch: the loss on it before the step, then W -= lr X_b^T (softmax - one_hot) / B and the same
  // for b. Returns false when the run has reached its epochs (or diverged).
  function trainStep(run) {
    if (run.error || run.epoch >= run.budget) return false;
    if (run.step === 0) {
      run.order = run.rng.permutation(nTrain);
      run.lossSum = 0;
      run.correct = 0;
    }
    const start = run.step * run.batch;
    const m = Math.min(nTrain, start + run.batch) - start;
    if (gradient.length < m * q) gradient = new Float64Array(m * q);
    let loss = 0;
    for (let r = 0; r < m; r++) {
      const i = run.order[start + r];
      forward(run, X, i * d);
      const lse = core.logSumExp(logits);
      loss += lse - logits[Y[i]];
      if (core.argmax(logits) === Y[i]) run.correct++;
      for (let j = 0; j < q; j++) gradient[r * q + j] = Math.exp(logits[j] - lse) - (j === Y[i] ? 1 : 0);
    }
    if (!Number.isFinite(loss)) {  // book.train stops here too, before the step
      run.error = t("train.diverged", { loss, epoch: run.epoch + 1, step: run.step + 1 });
      return false;
    }
    const stepSize = run.lr / m;
    const { W, b } = run;
    for (let r = 0; r < m; r++) {
      const offset = run.order[start + r] * d;
      const g = r * q;
      for (let k = 0; k < d; k++) {
        const xk = X[offset + k];
        if (xk === 0) continue;
        const row = k * q;
        const scaled = stepSize * xk;
        for (let j = 0; j < q; j++) W[row + j] -= scaled * gradient[g + j];
      }
      for (let j = 0; j < q; j++) b[j] -= stepSize * gradient[g + j];
    }
    run.stepLosses.push(loss / m);
    run.lossSum += loss;
    run.step++;
    if (run.step === run.stepsPerEpoch) {
      run.epoch++;
      run.step = 0;
      const v = evaluate(run);
      run.epochs.push({
        epoch: run.epoch, train_loss: run.lossSum / nTrain, train_acc: run.correct / nTrain,
        val_loss: v.loss, val_acc: v.correct / nVal, val_correct: v.correct,
      });
    }
    return run.epoch < run.budget;
  }
  const finished = (r) => Boolean(r.error) || r.epoch >= r.budget;

  // --- controls ----------------------------------------------------------------------------------------
  const lr = core.slider({
    prefix: root.id, label: t("common.learning_rate"), value: state.lr, values: defaults.lr_values,
    format: (v) => core.significant(v, 3), onInput: (v) => { state.lr = v; restart(); },
  });
  const batch = core.radios({
    prefix: root.id, legend: t("train.batch"), value: state.batch,
    options: defaults.batch_values.map((v) => ({ value: v, label: v === nTrain ? t("train.batch_all", { n: v.toLocaleString("en-US") }) : String(v) })),
    onChange: (v) => { state.batch = v; restart(); },
  });
  const epochs = core.slider({
    prefix: root.id, label: t("train.epochs"), value: state.epochs, min: 1, max: defaults.max_epochs, step: 1,
    format: String, onInput: (v) => { state.epochs = v; budgetChanged(); },
  });
  const seed = core.integerInput({
    prefix: root.id, label: t("common.seed"), value: state.seed, min: 0, max: defaults.max_seed,
    onChange: (v) => { state.seed = v; restart(); },
  });
  const playButton = core.button(t("common.play"), () => (player.running ? player.pause() : play()), { "aria-pressed": "false" });
  const stepButton = core.button(t("train.step"), stepEpoch);
  const resetButton = core.button(t("common.reset"), reset);
  const progress = h("p", { class: "sx-progress" });
  const summary = h("p", { class: "sx-readout", "aria-live": "polite" });
  const lossChart = core.svg("svg", { role: "img" });
  const accuracyChart = core.svg("svg", { role: "img" });
  const imageSide = Math.round(Math.sqrt(d));
  root.append(
    h("div", { class: "sx-head" }, h("strong", {}, t("train.title")),
      h("span", {}, t("train.intro", { n_train: nTrain.toLocaleString("en-US"), n_val: nVal, side: imageSide,
        levels: data.levels }))),
    h("div", { class: "sx-controls" }, lr.element, batch.element, epochs.element, seed.element),
    h("div", { class: "sx-buttons" }, playButton, stepButton, resetButton),
    progress,
    h("div", { class: "sx-charts" }, lossChart, accuracyChart),
    summary,
    core.ignoredNotice(link.ignored, t),
  );

  // --- running -----------------------------------------------------------------------------------------
  let run = newRun();
  let generation = 0;  // a new run or settings change makes older background work stop
  const player = core.animation(root, frame, stopped);

  function frame() {
    const total = run.stepsPerEpoch * state.epochs;
    const perFrame = Math.max(1, Math.ceil(total / 150));  // a full run plays in about 2.5 s when it can
    for (let k = 0; k < perFrame; k++) if (!trainStep(run)) break;
    draw(false);
    return !finished(run);
  }
  function stopped() {
    playButton.textContent = t("common.play");
    playButton.setAttribute("aria-pressed", "false");
    draw(true);
  }
  function play() {
    if (finished(run)) run = newRun();
    playButton.textContent = t("common.pause");
    playButton.setAttribute("aria-pressed", "true");
    generation++;
    player.play();
  }
  function remember() {
    core.writeHash(ns, { lr: String(state.lr), batch: String(state.batch), epochs: String(state.epochs),
      seed: String(state.seed) });
  }
  function restart() {  // learning rate, batch size or seed changed: a new run, played from the start
    remember();
    run = newRun();
    play();
  }
  function budgetChanged() {  // more epochs continue the run; fewer recompute it at once
    remember();
    if (run.epoch > state.epochs || (run.epoch === state.epochs && run.step > 0)) {
      player.pause();
      run = newRun();
      computeToEnd();
      return;
    }
    run.budget = state.epochs;
    if (!finished(run)) {
      play();
    } else {
      draw(true);
    }
  }
  function stepEpoch() {
    player.pause();
    generation++;
    if (finished(run)) return;
    const target = run.epoch + 1;
    while (run.epoch < target && trainStep(run));
    draw(true);
  }
  function reset() {
    player.pause();
    generation++;
    run = newRun();
    draw(true);
  }
  // The first result, and one restored from a link: computed at once, in slices that keep the page responsive.
  let computing = false;
  function computeToEnd() {
    const mine = ++generation;
    computing = true;
    progress.textContent = t("common.training_now");
    return core.inSlices(() => trainStep(run), () => mine === generation).then((done) => {
      if (mine === generation) computing = false;
      if (done) draw(true);
    });
  }

  // --- drawing -----------------------------------------------------------------------------------------
  function draw(atRest) {
    const last = run.epochs[run.epochs.length - 1];
    const done = finished(run);
    stepButton.disabled = done;
    progress.textContent = run.error ? run.error
      : t("train.progress_epoch", { epoch: run.epoch, epochs: state.epochs }) +
        (run.step ? t("train.progress_step", { step: run.step, steps: run.stepsPerEpoch }) : "") +
        t("train.progress_rest", { steps: run.stepsPerEpoch, batch: Math.min(run.batch, nTrain),
          lr: core.significant(run.lr) });
    if (atRest) {
      summary.textContent = run.epoch === 0
        ? t("train.before", { accuracy: core.accuracyText(last.val_correct, nVal), loss: core.fixed(last.val_loss, 4) })
        : t(run.epoch > 1 ? "train.after_many" : "train.after_one", {
          epochs: run.epoch, accuracy: core.accuracyText(last.val_correct, nVal),
          val_loss: core.fixed(last.val_loss, 4), train_loss: core.fixed(last.train_loss, 4),
        }) + (done ? "" : computing ? t("train.still_training") : t("train.paused"));
      if (run.error) summary.textContent = t("train.stopped", { error: run.error });
    }
    const width = core.innerWidth(root);
    const each = width >= 620 ? Math.floor((width - 16) / 2) : width;
    const xMax = Math.max(state.epochs, run.epoch);
    const perStep = 1 / run.stepsPerEpoch;
    const steps = run.stepLosses.map((v, i) => [(i + 1) * perStep, v]);
    const trainLoss = run.epochs.slice(1).map((e) => [e.epoch, e.train_loss]);
    const valLoss = run.epochs.map((e) => [e.epoch, e.val_loss]);
    const all = [...steps, ...trainLoss, ...valLoss].map((p) => p[1]).filter((v) => Number.isFinite(v) && v > 0);
    const top = Math.max(...all);
    const bottom = Math.min(...all);
    const log = top / bottom > 50;
    core.lineChart(lossChart, {
      width: each, height: 240, title: t("train.loss_title"),
      x: { lo: 0, hi: xMax, label: t("train.epoch_axis"), integer: true },
      y: log ? { lo: bottom / 1.3, hi: top * 1.3, log: true } : { lo: 0, hi: top * 1.08 },
      series: [
        { points: steps, cls: "sx-c7 sx-thin", label: t("train.minibatch") },
        { points: trainLoss, cls: "sx-c0", dots: 2.5, label: t("train.training") },
        { points: valLoss, cls: "sx-c1", dots: 2.5, dash: "5 3", label: t("train.validation") },
      ],
    });
    lossChart.setAttribute("aria-label", t("train.loss_aria", { values: valLoss.map((p) => core.fixed(p[1], 3)).join(", ") }));
    const trainAcc = run.epochs.slice(1).map((e) => [e.epoch, e.train_acc]);
    const valAcc = run.epochs.map((e) => [e.epoch, e.val_acc]);
    const whiskers = run.epochs.map((e) => {
      const half = 1.959963984540054 * Math.sqrt((e.val_acc * (1 - e.val_acc)) / nVal);
      return [e.epoch, e.val_acc - half, e.val_acc + half];
    });
    core.lineChart(accuracyChart, {
      width: each, height: 240, title: t("train.accuracy_title"),
      x: { lo: 0, hi: xMax, label: t("train.epoch_axis"), integer: true },
      y: { lo: 0, hi: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], format: (v) => `${Math.round(v * 100)} %` },
      series: [
        { points: [[0, 1 / q], [xMax, 1 / q]], cls: "sx-c7 sx-thin", dash: "2 3", label: t("train.chance") },
        { points: trainAcc, cls: "sx-c0", dots: 2.5, label: t("train.training") },
        { points: valAcc, cls: "sx-c1", dots: 2.5, dash: "5 3", whiskers, label: t("train.validation_95") },
      ],
    });
    accuracyChart.setAttribute("aria-label", t("train.accuracy_aria", {
      values: valAcc.map((p) => core.fixed(100 * p[1], 1) + " %").join(", "),
    }));
  }

  draw(true);
  core.watchLayout(root, () => draw(!player.running));
  const ready = new Promise((resolve) => core.afterLoad(() => computeToEnd().then(resolve)));

  // The test hook (tests/test_explorers_browser.py) and the benchmark (benchmarks/widgets.py).
  return {
    settings: () => ({ ...state }),
    fromLink: link.fromLink,
    ready,
    values: () => ({
      settings: { ...state }, epoch: run.epoch, step: run.step, steps_per_epoch: run.stepsPerEpoch,
      done: finished(run) && !player.running, running: player.running, error: run.error,
      step_losses: [...run.stepLosses], epochs: structuredClone(run.epochs),
    }),
    weights: () => ({ W: Array.from(run.W), b: Array.from(run.b) }),
    // Milliseconds per epoch of training (minibatch steps and the validation pass), on a fresh run of the
    // current settings that the page does not show.
    timeEpochs(count) {
      const saved = run;
      const times = [];
      try {
        run = newRun();
        run.budget = count;
        for (let e = 0; e < count && !run.error; e++) {
          const start = performance.now();
          while (run.epoch === e && trainStep(run));
          times.push(performance.now() - start);
        }
      } finally {
        run = saved;
      }
      return times;
    },
  };
}
