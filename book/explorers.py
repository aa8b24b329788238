"""Four interactive explorers: softmax and temperature, cross-entropy and its gradient, the learning rate,
and decision boundaries in 2-D.

    >>> from book.explorers import softmax_explorer
    >>> softmax_explorer(logits=(2.0, 1.0, 0.1, -1.0), temperature=1.0)   # the last line of a cell

Each explorer has two layers:

- pure functions that compute (:func:`softmax`, :func:`cross_entropy`, :func:`train_softmax_regression`,
  :func:`fit_2d`...) and ``plot_*`` functions that draw one static Figure for given values -- all of them
  tested like any other code, with no frontend;
- ``*_explorer(...)``: sliders that redraw that figure. Inside a Jupyter kernel it returns an ipywidgets
  container: the cell displays it, and the notebook saves its last state, so the static book shows it too.
  In a script, in plain IPython, or where ipywidgets is missing, it returns the static Figure for the initial
  values instead, so something meaningful is still shown.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never with pyplot, so nothing is
displayed twice; the widget puts the PNG bytes into an ``ipywidgets.Image``, whose value is swapped in place,
so a redraw does not flicker. matplotlib and ipywidgets are imported only when something is drawn, which
keeps ``import book.explorers`` cheap.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from book.cross_entropy import check_labels, cross_entropy, cross_entropy_grad
from book.plots import figure_png
from book.softmax import as_float_tensor, check_temperature, entropy, softmax

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOGIT_RANGE = (-5.0, 5.0)  # what the logit sliders span
TEMPERATURE_RANGE = (0.05, 20.0)
LEARNING_RATE_RANGE = (1e-3, 10.0)
BATCH_SIZES = (16, 32, 64, 128, 256, 1024)
EPOCH_RANGE = (1, 30)
TOY_KINDS = ("spiral", "blobs", "moons")
DIVERGENCE_FACTOR = 100  # a training loss above this many times log q counts as diverged


# --- showing a figure: a live widget inside a kernel, the static Figure elsewhere ----------------------------

def in_kernel() -> bool:
    """True inside a running Jupyter kernel, the one place where a widget can be displayed.

    False in scripts and in terminal IPython (no ``kernel`` attribute on the shell), and when IPython itself
    is not installed.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _widgets_module():
    """The ipywidgets module when the explorers should be live, else None (then they return a Figure)."""
    if not in_kernel():
        return None
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def _new_figure(width: float, height: float) -> Figure:
    """A Figure on the Agg canvas, unknown to pyplot, so it is only ever shown where it is returned."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _on_change(controls: Sequence, callback: Callable[[], None]) -> None:
    for control in controls:
        control.observe(lambda change: callback(), names="value")


def _logit_sliders(widgets, z: torch.Tensor) -> list:
    """One slider per logit, over LOGIT_RANGE."""
    return [widgets.FloatSlider(value=float(v), min=LOGIT_RANGE[0], max=LOGIT_RANGE[1], step=0.1,
                                description=f"logit z{i}", continuous_update=False, style=_slider_style())
            for i, v in enumerate(z.tolist())]


def _slider_style() -> dict:
    return {"description_width": "initial"}  # the default width cuts descriptions like "learning rate"


# --- 1. softmax and temperature (the functions: book.softmax) ------------------------------------------------------------------------------

def _vector(values, name: str) -> torch.Tensor:
    """A 1-D float tensor with at least one entry, for the plots that show one example."""
    tensor = as_float_tensor(values).detach().cpu()
    if tensor.dim() != 1 or len(tensor) == 0:
        raise ValueError(f"expected {name} as a non-empty 1-D vector (one example), got shape {tuple(tensor.shape)}")
    return tensor


def plot_softmax(logits, temperature: float = 1.0) -> Figure:
    """Bars of the logits (left) and of their softmax at ``temperature`` (right), the argmax highlighted.

    The title gives the temperature and the entropy of the probabilities, next to its maximum ``log q``.
    """
    z = _vector(logits, "logits")
    t = check_temperature(temperature)
    p = softmax(z, t)
    q, winner = len(z), int(p.argmax())
    colors = ["C1" if i == winner else "C0" for i in range(q)]
    classes = list(range(q))

    fig = _new_figure(9, 3.4)
    ax_z, ax_p = fig.subplots(1, 2)
    ax_z.bar(classes, z.tolist(), color=colors)
    ax_z.axhline(0, color="black", linewidth=0.8)
    limit = 1.1 * max(LOGIT_RANGE[1], float(z.abs().max()))  # fixed while the sliders stay in range: no jumps
    ax_z.set_ylim(-limit, limit)
    ax_z.set_title("logits z")
    bars = ax_p.bar(classes, p.tolist(), color=colors)
    ax_p.bar_label(bars, fmt="%.2f", fontsize=8)
    ax_p.axhline(1 / q, color="gray", linestyle="--", linewidth=1, label=f"uniform 1/q = {1 / q:.2f}")
    ax_p.set_ylim(0, 1.12)
    ax_p.set_title("probabilities softmax(z / T)")
    ax_p.legend(loc="upper right", fontsize=8)
    for ax in (ax_z, ax_p):
        ax.set_xticks(classes)
        ax.set_xlabel("class")
    fig.suptitle(f"temperature T = {t:.3g}    entropy H = {entropy(p).item():.3f} nats    "
                 f"(maximum log q = {math.log(q):.3f})")
    return fig


def softmax_explorer(logits: Sequence[float] = (2.0, 1.0, 0.1, -1.0), temperature: float = 1.0):
    """Sliders for each logit and for the temperature (log scale), above :func:`plot_softmax`.

    Returns the widget inside a Jupyter kernel, else the static Figure. Values outside the sliders' ranges
    (logits -5..5, temperature 0.05..20) are clipped to them in the widget.
    """
    z = _vector(logits, "logits")
    check_temperature(temperature)
    widgets = _widgets_module()
    if widgets is None:
        return plot_softmax(z, temperature)

    sliders = _logit_sliders(widgets, z)
    t_slider = widgets.FloatLogSlider(value=temperature, base=10, min=math.log10(TEMPERATURE_RANGE[0]),
                                      max=math.log10(TEMPERATURE_RANGE[1]), step=0.01, readout_format=".3g",
                                      description="temperature T", continuous_update=False,
                                      style=_slider_style())

    def draw():
        return figure_png(plot_softmax([s.value for s in sliders], t_slider.value))

    image = widgets.Image(value=draw(), format="png")
    _on_change([*sliders, t_slider], lambda: setattr(image, "value", draw()))
    return widgets.VBox([*sliders, t_slider, image])


# --- 2. cross-entropy and its gradient (the functions: book.cross_entropy) -----------------------------------------------------------------------

def plot_cross_entropy(logits, y: int) -> Figure:
    """One example: the curve ``-log p`` with the current ``p_y`` on it (left), and per class the softmax
    probabilities, the one-hot target and the gradient ``softmax - one-hot`` (right)."""
    z = _vector(logits, "logits")
    q = len(z)
    y = int(y)
    if not 0 <= y < q:
        raise ValueError(f"true class must be in 0..{q - 1} for {q} logits, got {y}")
    target = torch.tensor([y])
    loss = cross_entropy(z.unsqueeze(0), target).item()
    p = softmax(z)
    grad = cross_entropy_grad(z.unsqueeze(0), target)[0]  # N = 1: exactly softmax - one-hot
    p_y = math.exp(-loss)  # from the stable loss, so it is > 0 even where the float32 softmax underflows

    fig = _new_figure(10, 3.6)
    ax_curve, ax_bars = fig.subplots(1, 2, width_ratios=(1, 1.4))
    curve_p = torch.logspace(math.log10(min(1e-3, p_y)), 0, 400, dtype=torch.float64)  # dense near 0
    ax_curve.plot(curve_p.tolist(), (-curve_p.log()).tolist(), color="C0")
    ax_curve.plot([p_y], [loss], "o", color="C3", markersize=8)
    ax_curve.annotate(f"p_y = {p_y:.3f}\nloss = {loss:.3f}", (p_y, loss), textcoords="offset points",
                      xytext=(12, 8), fontsize=9)
    ax_curve.set_xlim(0, 1.02)
    ax_curve.set_ylim(0, max(7.0, 1.1 * loss))
    ax_curve.set_xlabel("p_y, the probability given to the true class")
    ax_curve.set_ylabel("loss = -log p_y")
    ax_curve.set_title("cross-entropy of one example")

    classes = torch.arange(q, dtype=torch.float64)
    width = 0.27
    one_hot = torch.zeros(q)
    one_hot[y] = 1
    ax_bars.bar((classes - width).tolist(), p.tolist(), width, color="C0", label="softmax p")
    ax_bars.bar(classes.tolist(), one_hot.tolist(), width, color="C2", label="one-hot target")
    ax_bars.bar((classes + width).tolist(), grad.tolist(), width, color="C3", label="gradient p - one-hot")
    ax_bars.axhline(0, color="black", linewidth=0.8)
    ax_bars.set_ylim(-1.1, 1.25)
    ax_bars.set_xticks(list(range(q)), [f"{i} (true)" if i == y else str(i) for i in range(q)])
    ax_bars.set_xlabel("class")
    ax_bars.set_title("what the gradient does to each logit")
    ax_bars.legend(loc="upper right", fontsize=8, ncols=3)
    fig.suptitle(f"true class {y}:  loss = -log p_y = {loss:.3f}")
    return fig


def cross_entropy_explorer(logits: Sequence[float] = (1.0, 2.0, 0.5), true_class: int = 0):
    """Logit sliders and a true-class dropdown above :func:`plot_cross_entropy`.

    Returns the widget inside a Jupyter kernel, else the static Figure.
    """
    z = _vector(logits, "logits")
    if not 0 <= int(true_class) < len(z):
        raise ValueError(f"true_class must be in 0..{len(z) - 1} for {len(z)} logits, got {true_class}")
    widgets = _widgets_module()
    if widgets is None:
        return plot_cross_entropy(z, true_class)

    sliders = _logit_sliders(widgets, z)
    true = widgets.Dropdown(options=[(f"class {i}", i) for i in range(len(z))], value=int(true_class),
                            description="true class", style=_slider_style())

    def draw():
        return figure_png(plot_cross_entropy([s.value for s in sliders], true.value))

    image = widgets.Image(value=draw(), format="png")
    _on_change([*sliders, true], lambda: setattr(image, "value", draw()))
    return widgets.VBox([*sliders, true, image])


# --- 3. the learning rate: softmax regression on Fashion-MNIST, re-trained on every change ------------------

_SUBSETS: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def fashion_subset(n_train: int = 5000, n_test: int = 1000, seed: int = 0):
    """A random, seeded subset of Fashion-MNIST as ``(X_train, y_train, X_test, y_test)``.

    X is float32 (n, 784) in [0, 1] (flattened images), y int64. Small enough to re-train on in well under a
    second; the classes are balanced in the full set, so a random subset is nearly balanced too. The result is
    kept in memory, so a second call with the same arguments is free -- treat the tensors as read-only.
    """
    from book.data import load_dataset, to_float

    key = (n_train, n_test, seed)
    if key not in _SUBSETS:
        ds = load_dataset("fashion-mnist")
        for name, n, available in (("n_train", n_train, len(ds.train_labels)),
                                   ("n_test", n_test, len(ds.test_labels))):
            if not 1 <= n <= available:
                raise ValueError(f"{name} must be in 1..{available}, got {n}")
        generator = torch.Generator().manual_seed(seed)
        train = torch.randperm(len(ds.train_labels), generator=generator)[:n_train]
        test = torch.randperm(len(ds.test_labels), generator=generator)[:n_test]
        _SUBSETS[key] = (to_float(ds.train_images[train]).flatten(1), ds.train_labels[train],
                         to_float(ds.test_images[test]).flatten(1), ds.test_labels[test])
    return _SUBSETS[key]


def _check_features(X, y, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    if X.dim() != 2 or not X.is_floating_point():
        raise ValueError(f"expected {name} features as a float tensor (N, d) -- flatten images first, as "
                         f"fashion_subset does -- got {X.dtype} of shape {tuple(X.shape)}")
    if y.shape != (len(X),):
        raise ValueError(f"expected {len(X)} {name} labels, one per row of X, got shape {tuple(y.shape)}")
    return X, y


@contextlib.contextmanager
def _one_thread():
    """Run torch on one thread inside the block, then restore the previous number."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _evaluate(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    logits = X @ W + b
    return cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def train_softmax_regression(X, y, X_test, y_test, lr: float, batch_size: int, epochs: int,
                             seed: int = 0) -> list[dict]:
    """Softmax regression trained by minibatch SGD with the analytic gradient; one dict per epoch.

    ``W ~ N(0, 0.01^2)`` of shape (d, q) and ``b = 0``, with q = the largest label + 1; each epoch visits the
    training set in a fresh order drawn from a generator seeded with ``seed``, so the same arguments give the
    same history. The gradient ``X_b^T (softmax - one_hot) / B`` is written out instead of asking autograd
    for it: the same numbers, without building a graph -- fast enough to re-train on every slider move.

    Each row: ``{"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "diverged"}``, the train
    numbers measured on the whole training set after the epoch. A diverged run does not raise: its last row
    is recorded with ``"diverged": True`` and training stops there. Diverged means a train loss that is nan or
    inf, or above ``DIVERGENCE_FACTOR * log q`` -- the loss a uniform guess starts from, times 100. The
    second test is needed because softmax regression's gradient is bounded, so even a huge learning rate
    rarely reaches inf in float32: the weights, and the loss with them, grow in proportion to the rate.

    Runs on one thread: the problem is so small that threads barely help, while on a busy or
    CPU-limited machine (Binder, a shared server) waiting for them makes small batches many times slower.
    """
    X, y = _check_features(X, y, "training")
    X_test, y_test = _check_features(X_test, y_test, "test")
    if X_test.shape[1] != X.shape[1]:
        raise ValueError(f"train and test features differ in width: {X.shape[1]} vs {X_test.shape[1]}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive, finite number, got {lr!r}")
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    n, d = X.shape
    q = int(max(y.max(), y_test.max())) + 1
    y, y_test = check_labels(y, q), check_labels(y_test, q)  # fail here, not mid-training

    too_large = DIVERGENCE_FACTOR * math.log(q)

    generator = torch.Generator().manual_seed(seed)
    W = torch.randn(d, q, generator=generator) * 0.01
    b = torch.zeros(q)
    targets = torch.nn.functional.one_hot(y, q).to(X.dtype)
    history = []
    with _one_thread():
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n, generator=generator)
            X_epoch, T_epoch = X[order], targets[order]  # one gather per epoch; the batches are then views
            for start in range(0, n, batch_size):
                xb, tb = X_epoch[start:start + batch_size], T_epoch[start:start + batch_size]
                # B * d(mean loss)/d(logits) = softmax - one_hot; torch.softmax gives the same numbers as
                # softmax() above in one fused kernel, and the 1/B goes into the step size
                grad = torch.softmax(torch.addmm(b, xb, W), dim=1).sub_(tb)
                step = lr / len(xb)
                W.addmm_(xb.T, grad, alpha=-step)
                b.add_(grad.sum(0), alpha=-step)
            train_loss, train_acc = _evaluate(X, y, W, b)
            test_loss, test_acc = _evaluate(X_test, y_test, W, b)
            diverged = not (math.isfinite(train_loss) and train_loss <= too_large)  # nan fails <= too
            history.append({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                            "test_loss": test_loss, "test_acc": test_acc, "diverged": diverged})
            if diverged:
                break
    return history


def plot_learning_curves(history: Sequence[dict], title: str | None = None) -> Figure:
    """Loss (left) and accuracy (right) per epoch, train and test, from :func:`train_softmax_regression`.

    The loss axis turns logarithmic when the losses span more than a factor 50 (a large learning rate), so
    the small ones stay readable; a diverged run is marked in red.
    """
    from matplotlib.ticker import MaxNLocator

    if not history:
        raise ValueError("expected a non-empty history, as returned by train_softmax_regression")
    epochs = [row["epoch"] for row in history]

    def finite(key):  # inf would stretch the axes; nan leaves a gap, which is what we want
        return [row[key] if math.isfinite(row[key]) else math.nan for row in history]

    fig = _new_figure(9, 3.4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for split, style in (("train", "-o"), ("test", "--s")):
        ax_loss.plot(epochs, finite(f"{split}_loss"), style, markersize=3, label=split)
        ax_acc.plot(epochs, finite(f"{split}_acc"), style, markersize=3, label=split)
    losses = [v for v in finite("train_loss") + finite("test_loss") if not math.isnan(v)]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 50:
        ax_loss.set_yscale("log")
    if history[-1].get("diverged"):
        ax_loss.text(0.5, 0.5, f"diverged at epoch {history[-1]['epoch']}\n"
                     f"(train loss {history[-1]['train_loss']:.3g})", transform=ax_loss.transAxes,
                     ha="center", va="center", color="C3", fontsize=12)
    ax_loss.set_title("cross-entropy loss")
    ax_acc.set_title("accuracy")
    ax_acc.set_ylim(0, 1)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, max(epochs) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def _retrain_and_render(lr: float, batch_size: int, epochs: int) -> tuple[bytes, list[dict]]:
    """What the learning-rate explorer does on every change: train on the cached subset, draw, encode PNG."""
    history = train_softmax_regression(*fashion_subset(), lr=lr, batch_size=batch_size, epochs=epochs)
    fig = plot_learning_curves(history, title=f"softmax regression on 5,000 Fashion-MNIST images: "
                                              f"lr = {lr:.3g}, batch size {batch_size}")
    return figure_png(fig), history


def _summary(history: list[dict], seconds: float) -> str:
    last = history[-1]
    if last["diverged"]:
        result = (f"<b style='color:#c62828'>diverged</b> at epoch {last['epoch']} "
                  f"(train loss {last['train_loss']:.3g})")
    else:
        result = f"final test accuracy <b>{last['test_acc']:.3f}</b> after {last['epoch']} epochs"
    return f"{result} &middot; re-trained and redrawn in {seconds:.2f} s"


def learning_rate_explorer(lr: float = 0.1, batch_size: int = 256, epochs: int = 10):
    """Learning rate (log scale), batch size and epochs; each change re-trains softmax regression on a
    5,000-image Fashion-MNIST subset and redraws the learning curves (well under a second on 2 CPU cores).

    Returns the widget inside a Jupyter kernel, else the static Figure for the given settings.
    """
    widgets = _widgets_module()
    if widgets is None:
        history = train_softmax_regression(*fashion_subset(), lr=lr, batch_size=batch_size, epochs=epochs)
        return plot_learning_curves(history, title=f"lr = {lr:.3g}, batch size {batch_size}")

    lr_slider = widgets.FloatLogSlider(value=lr, base=10, min=math.log10(LEARNING_RATE_RANGE[0]),
                                       max=math.log10(LEARNING_RATE_RANGE[1]), step=0.1, readout_format=".3g",
                                       description="learning rate", continuous_update=False,
                                       style=_slider_style())
    batch = widgets.Dropdown(options=sorted({*BATCH_SIZES, batch_size}), value=batch_size,
                             description="batch size", style=_slider_style())
    epoch_slider = widgets.IntSlider(value=epochs, min=EPOCH_RANGE[0], max=EPOCH_RANGE[1],
                                     description="epochs", continuous_update=False, style=_slider_style())
    status = widgets.HTML()
    image = widgets.Image(format="png")

    def update():
        start = time.perf_counter()
        image.value, history = _retrain_and_render(lr_slider.value, batch.value, epoch_slider.value)
        status.value = _summary(history, time.perf_counter() - start)

    update()
    _on_change([lr_slider, batch, epoch_slider], update)
    return widgets.VBox([lr_slider, batch, epoch_slider, status, image])


def measure_retrain_seconds(repeats: int = 5) -> float:
    """Median wall time, in seconds, of one re-train + redraw of :func:`learning_rate_explorer` at its
    default settings (the data are loaded before the clock starts, as they are in the explorer)."""
    fashion_subset()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _retrain_and_render(lr=0.1, batch_size=256, epochs=10)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- 4. decision boundaries in 2-D ----------------------------------------------------------------------------

_DEFAULT_NOISE = {"spiral": 0.2, "blobs": 0.6, "moons": 0.15}


def toy_2d(kind: str = "spiral", n_per_class: int = 100, classes: int | None = None,
           noise: float | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded 2-D toy data: X float32 (N, 2) and y int64 (N,), ``n_per_class`` points per class.

    - ``"spiral"``: arms winding around the origin, one per class (3 by default); no line separates them.
    - ``"blobs"``: Gaussian clouds (std ``noise``) centred on a circle of radius 4; linearly separable.
    - ``"moons"``: two interleaving half circles -- always exactly 2 classes (``classes`` must be None or 2).

    ``noise`` defaults to a value that suits each kind (spiral 0.2, blobs 0.6, moons 0.15).
    """
    if kind not in TOY_KINDS:
        raise ValueError(f"kind must be one of {TOY_KINDS}, got {kind!r}")
    if kind == "moons" and classes not in (None, 2):
        raise ValueError(f"moons always has 2 classes, got classes={classes}")
    classes = 2 if kind == "moons" else 3 if classes is None else classes
    if not isinstance(classes, int) or classes < 2:
        raise ValueError(f"classes must be an integer >= 2, got {classes!r}")
    if not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    noise = _DEFAULT_NOISE[kind] if noise is None else float(noise)
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    points = []
    for k in range(classes):
        if kind == "spiral":
            radius = torch.linspace(0.05, 1, n_per_class, dtype=torch.float64)
            angle = 2 * math.pi * k / classes + 4 * radius + noise * randn(n_per_class)
            xy = torch.stack([radius * angle.cos(), radius * angle.sin()], 1)
        elif kind == "blobs":
            angle = torch.tensor(2 * math.pi * k / classes, dtype=torch.float64)
            xy = 4 * torch.stack([angle.cos(), angle.sin()]) + noise * randn(n_per_class, 2)
        else:  # moons: the upper arc, and the lower one shifted right and down into its hollow
            t = torch.rand(n_per_class, generator=generator, dtype=torch.float64) * math.pi
            xy = torch.stack([t.cos(), t.sin()], 1) if k == 0 else torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)
            xy = xy + noise * randn(n_per_class, 2)
        points.append(xy)
    X = torch.cat(points).float()
    y = torch.arange(classes).repeat_interleave(n_per_class)
    return X, y


def _check_points(X, y=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    X = as_float_tensor(X).float()
    if X.dim() != 2 or X.shape[1] != 2:
        raise ValueError(f"expected 2-D points X of shape (N, 2), got shape {tuple(X.shape)}")
    if y is not None:
        y = torch.as_tensor(y)
        if y.shape != (len(X),) or y.is_floating_point():
            raise ValueError(f"expected {len(X)} integer labels y, one per point, got {y.dtype} of shape "
                             f"{tuple(y.shape)}")
        y = y.long()
    return X, y


def make_2d_model(model: str, classes: int, hidden: int = 32) -> torch.nn.Module:
    """``"softmax"``: softmax regression, ``nn.Linear(2, q)`` (straight boundaries);
    ``"mlp"``: 2 -> hidden -> hidden -> q with ReLUs (bent boundaries). Both output logits."""
    if model == "softmax":
        return torch.nn.Linear(2, classes)
    if model == "mlp":
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
        return torch.nn.Sequential(torch.nn.Linear(2, hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(hidden, classes))
    raise ValueError(f"model must be 'softmax' or 'mlp', got {model!r}")


def accuracy(predict: Callable[[torch.Tensor], torch.Tensor], X, y) -> float:
    """Fraction of points whose largest logit is their label."""
    X, y = _check_points(X, y)
    with torch.no_grad():
        return (predict(X).argmax(1) == y).float().mean().item()


def fit_2d(X, y, model: str = "softmax", hidden: int = 32, steps: int = 300, lr: float = 0.02,
           seed: int = 0) -> tuple[torch.nn.Module, float]:
    """Train softmax regression or a small MLP (see :func:`make_2d_model`) on 2-D points; full batch, Adam,
    ``CrossEntropyLoss`` on the logits. Returns ``(model, train_accuracy)``.

    The initial weights come from ``seed`` without disturbing the global random state.
    """
    X, y = _check_points(X, y)
    classes = int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_2d_model(model, classes, hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    with _one_thread():  # tiny tensors: threads would only add waiting (see train_softmax_regression)
        for _ in range(steps):
            optimizer.zero_grad()
            loss_fn(net(X), y).backward()
            optimizer.step()
    return net, accuracy(net, X, y)


def decision_grid(predict: Callable[[torch.Tensor], torch.Tensor], X, resolution: int = 200,
                  margin: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The predicted class on a ``resolution x resolution`` grid covering the points plus ``margin``.

    ``predict`` maps float32 points (M, 2) to logits (M, q). Returns ``(xx, yy, classes)``, each of shape
    (resolution, resolution), rows along y and columns along x, as ``contourf(xx, yy, classes)`` expects.
    """
    X, _ = _check_points(X)
    if not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    low, high = (X.min(0).values - margin).tolist(), (X.max(0).values + margin).tolist()
    xs = torch.linspace(low[0], high[0], resolution)
    ys = torch.linspace(low[1], high[1], resolution)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    with torch.no_grad():
        logits = predict(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1))
    if logits.dim() != 2 or len(logits) != resolution * resolution:
        raise ValueError(f"predict must map points (M, 2) to logits (M, q); for M = {resolution ** 2} it "
                         f"returned shape {tuple(logits.shape)}")
    return xx, yy, logits.argmax(1).reshape(resolution, resolution)


def plot_decision_boundaries(X, y, models: dict[str, Callable[[torch.Tensor], torch.Tensor]],
                             resolution: int = 200, title: str | None = None) -> Figure:
    """One panel per model: its predicted class as filled regions, the points coloured by their label,
    and the model's train accuracy in the panel's title."""
    from matplotlib.colors import ListedColormap

    X, y = _check_points(X, y)
    if not models:
        raise ValueError("expected at least one model, as a dict {name: model}")
    grids = {name: decision_grid(model, X, resolution) for name, model in models.items()}
    classes = max([int(y.max())] + [int(g[2].max()) for g in grids.values()]) + 1
    cmap = ListedColormap([f"C{i % 10}" for i in range(classes)])
    levels = [k - 0.5 for k in range(classes + 1)]  # one band per class, bounds halfway between

    fig = _new_figure(4.2 * len(models), 4.2)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, (name, model) in zip(axes, models.items()):
        xx, yy, predicted = grids[name]
        ax.contourf(xx.numpy(), yy.numpy(), predicted.numpy(), levels=levels, cmap=cmap, alpha=0.3)
        ax.scatter(X[:, 0].numpy(), X[:, 1].numpy(), c=y.numpy(), cmap=cmap, vmin=-0.5, vmax=classes - 0.5,
                   s=14, edgecolors="black", linewidths=0.3)
        ax.set_title(f"{name}: train accuracy {accuracy(model, X, y):.2f}")
        ax.set_aspect("equal", adjustable="box")
    if title:
        fig.suptitle(title)
    return fig


def _fit_both_and_plot(kind: str, hidden: int) -> Figure:
    X, y = toy_2d(kind)
    models = {"softmax regression": fit_2d(X, y, "softmax")[0],
              f"MLP, {hidden} hidden units": fit_2d(X, y, "mlp", hidden=hidden)[0]}
    return plot_decision_boundaries(X, y, models, title=f"{kind}: {len(X)} points, {int(y.max()) + 1} classes")


def decision_boundary_explorer(kind: str = "spiral", hidden: int = 32):
    """Pick a toy data set and the MLP's width; both models are re-fitted and drawn side by side.

    Returns the widget inside a Jupyter kernel, else the static Figure.
    """
    if kind not in TOY_KINDS:
        raise ValueError(f"kind must be one of {TOY_KINDS}, got {kind!r}")
    widgets = _widgets_module()
    if widgets is None:
        return _fit_both_and_plot(kind, hidden)

    kind_menu = widgets.Dropdown(options=TOY_KINDS, value=kind, description="data", style=_slider_style())
    hidden_slider = widgets.IntSlider(value=hidden, min=2, max=128, description="hidden units",
                                      continuous_update=False, style=_slider_style())
    status = widgets.HTML()
    image = widgets.Image(format="png")

    def update():
        start = time.perf_counter()
        image.value = figure_png(_fit_both_and_plot(kind_menu.value, hidden_slider.value))
        status.value = f"fitted and redrawn in {time.perf_counter() - start:.2f} s"

    update()
    _on_change([kind_menu, hidden_slider], update)
    return widgets.VBox([kind_menu, hidden_slider, status, image])
