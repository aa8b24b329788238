"""Decision boundaries in 2-D: seeded toy data, softmax regression beside a small ReLU MLP, and the explorer
that trains both in the page.

The data (:func:`toy_2d`), the initial weights (:func:`make_2d_model` with a seed) and the optimiser
(:func:`fit_2d`: full-batch ``torch.optim.Adam`` on the mean cross-entropy) are drawn from the course's seeded
generator (:mod:`book.explorers.prng`), which ``web/boundary.js`` implements draw for draw: the page's
pictures and numbers are these functions', computed in the browser, and the browser tests compare them.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from book.cross_entropy import cross_entropy
from book.explorers.figures import new_figure
from book.explorers.page import Explorer
from book.explorers.prng import SeededRandom
from book.mlp import MLP
from book.softmax import as_float_tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOY_KINDS = ("spiral", "blobs", "moons")
NOISE_DEFAULTS = {"spiral": 0.2, "blobs": 0.6, "moons": 0.15}
MAX_NOISE = 1.5
HIDDEN_VALUES = (2, 4, 8, 16, 32, 64)
ADAM_LR_VALUES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
STEPS_VALUES = (50, 100, 200, 300, 500, 1000, 2000, 3000)
N_PER_CLASS = 100
MAX_SEED = 999_999


def toy_2d(kind: str = "spiral", n_per_class: int = 100, classes: int | None = None, noise: float | None = None,
           seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded 2-D toy data: X (N, 2) in ``dtype`` and y int64 (N,), ``n_per_class`` points per class in class order.

    - ``"spiral"``: arms winding around the origin, one per class (3 by default); no line separates them.
    - ``"blobs"``: Gaussian clouds (std ``noise``) centred on a circle of radius 4; linearly separable.
    - ``"moons"``: two interleaving half circles -- always exactly 2 classes (``classes`` must be None or 2).

    ``noise`` defaults to a value that suits each kind (spiral 0.2, blobs 0.6, moons 0.15). The points are
    computed in float64 from :class:`SeededRandom` -- per point: spiral one normal (the angle's noise); blobs two
    normals (x, y); moons one uniform (the position on the arc), then two normals -- as the page computes them.
    """
    if kind not in TOY_KINDS:
        raise ValueError(f"kind must be one of {TOY_KINDS}, got {kind!r}")
    if kind == "moons" and classes not in (None, 2):
        raise ValueError(f"moons always has 2 classes, got classes={classes}")
    classes = 2 if kind == "moons" else 3 if classes is None else classes
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise ValueError(f"classes must be an integer >= 2, got {classes!r}")
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    noise = NOISE_DEFAULTS[kind] if noise is None else float(noise)
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = SeededRandom(seed)
    points = []
    for k in range(classes):
        for i in range(n_per_class):
            if kind == "spiral":
                radius = 0.05 + 0.95 * i / max(n_per_class - 1, 1)
                angle = 2 * math.pi * k / classes + 4 * radius + noise * rng.normal()
                x, y = radius * math.cos(angle), radius * math.sin(angle)
            elif kind == "blobs":
                angle = 2 * math.pi * k / classes
                x = 4 * math.cos(angle) + noise * rng.normal()
                y = 4 * math.sin(angle) + noise * rng.normal()
            else:  # moons: the upper arc, and the lower one shifted right and down into its hollow
                t = rng.uniform() * math.pi
                x = (math.cos(t) if k == 0 else 1 - math.cos(t)) + noise * rng.normal()
                y = (math.sin(t) if k == 0 else 0.5 - math.sin(t)) + noise * rng.normal()
            points.append((x, y))
    X = torch.tensor(points, dtype=torch.float64).to(dtype)
    return X, torch.arange(classes).repeat_interleave(n_per_class)


def _check_points(X, y=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    X = as_float_tensor(X)
    if X.dtype not in (torch.float32, torch.float64):
        X = X.float()
    if X.dim() != 2 or X.shape[1] != 2:
        raise ValueError(f"expected 2-D points X of shape (N, 2), got shape {tuple(X.shape)}")
    if y is not None:
        y = torch.as_tensor(y)
        if y.shape != (len(X),) or y.is_floating_point():
            raise ValueError(f"expected {len(X)} integer labels y, one per point, got {y.dtype} of shape "
                             f"{tuple(y.shape)}")
        y = y.long()
    return X, y


def make_2d_model(model: str, classes: int, hidden: int = 32, seed: int | None = None,
                  dtype: torch.dtype = torch.float32) -> MLP:
    """``"softmax"``: softmax regression, ``MLP((2, q))`` -- one ``nn.Linear``, straight boundaries;
    ``"mlp"``: ``MLP((2, hidden, hidden, q))`` with ReLUs -- bent boundaries. Both output logits.

    With ``seed``, every layer's weight (row-major, as ``nn.Linear`` stores it) and then its bias are drawn as
    ``(2u - 1) / sqrt(fan_in)`` from ``SeededRandom(seed)``: PyTorch's default distribution, drawn the way the
    page draws it. Without, PyTorch's own initialisation.
    """
    if model == "softmax":
        sizes = (2, classes)
    elif model == "mlp":
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
        sizes = (2, hidden, hidden, classes)
    else:
        raise ValueError(f"model must be 'softmax' or 'mlp', got {model!r}")
    if seed is None:
        return MLP(sizes).to(dtype)
    with torch.random.fork_rng(devices=[]):  # nn.Linear draws its own weights first: keep torch's state
        net = MLP(sizes).to(dtype)
    rng = SeededRandom(seed)
    with torch.no_grad():
        for layer in net.layers:
            if isinstance(layer, torch.nn.Linear):
                bound = 1 / math.sqrt(layer.in_features)
                for parameter in (layer.weight, layer.bias):
                    values = [(2 * rng.uniform() - 1) * bound for _ in range(parameter.numel())]
                    parameter.copy_(torch.tensor(values, dtype=torch.float64).reshape(parameter.shape))
    return net


def model_accuracy(predict: Callable[[torch.Tensor], torch.Tensor], X, y) -> float:
    """Fraction of points whose largest logit is their label."""
    X, y = _check_points(X, y)
    with torch.no_grad():
        return (predict(X).argmax(1) == y).double().mean().item()


@contextlib.contextmanager
def _one_thread():
    """Tiny tensors: extra threads only add waiting, badly so on a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_2d(X, y, model: str = "softmax", hidden: int = 32, steps: int = 300, lr: float = 0.02,
           seed: int = 0) -> tuple[MLP, float]:
    """Train softmax regression or the small MLP (see :func:`make_2d_model`) on 2-D points: ``steps`` full-batch
    ``torch.optim.Adam`` steps on the mean cross-entropy of the logits. Returns ``(model, train_accuracy)``.

    The model computes in X's dtype (float32, or float64 as the page does); its initial weights come from
    ``seed`` (the course's generator), without touching torch's global random state.
    """
    X, y = _check_points(X, y)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive, finite number, got {lr!r}")
    net = make_2d_model(model, int(y.max()) + 1, hidden, seed=seed, dtype=X.dtype)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    with _one_thread():
        for _ in range(steps):
            optimizer.zero_grad()
            cross_entropy(net(X), y).backward()
            optimizer.step()
    return net, model_accuracy(net, X, y)


def decision_grid(predict: Callable[[torch.Tensor], torch.Tensor], X, resolution: int = 200,
                  margin: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The predicted class on a ``resolution x resolution`` grid covering the points plus ``margin``.

    ``predict`` maps points (M, 2), in X's dtype, to logits (M, q). Returns ``(xx, yy, classes)``, each of shape
    (resolution, resolution), rows along y and columns along x, as ``contourf(xx, yy, classes)`` expects.
    """
    X, _ = _check_points(X)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    low, high = (X.min(0).values - margin).tolist(), (X.max(0).values + margin).tolist()
    xs = torch.linspace(low[0], high[0], resolution, dtype=X.dtype)
    ys = torch.linspace(low[1], high[1], resolution, dtype=X.dtype)
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
    and the model's training accuracy in the panel's title."""
    from matplotlib.colors import ListedColormap

    X, y = _check_points(X, y)
    if not models:
        raise ValueError("expected at least one model, as a dict {name: model}")
    grids = {name: decision_grid(model, X, resolution) for name, model in models.items()}
    classes = max([int(y.max())] + [int(g[2].max()) for g in grids.values()]) + 1
    cmap = ListedColormap([f"C{i % 10}" for i in range(classes)])
    levels = [k - 0.5 for k in range(classes + 1)]  # one band per class, bounds halfway between

    fig = new_figure(4.2 * len(models), 4.2)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, (name, model) in zip(axes, models.items()):
        xx, yy, predicted = grids[name]
        ax.contourf(xx.numpy(), yy.numpy(), predicted.numpy(), levels=levels, cmap=cmap, alpha=0.3)
        ax.scatter(X[:, 0].numpy(), X[:, 1].numpy(), c=y.numpy(), cmap=cmap, vmin=-0.5, vmax=classes - 0.5,
                   s=14, edgecolors="black", linewidths=0.3)
        ax.set_title(f"{name}: training accuracy {model_accuracy(model, X, y):.2f}")
        ax.set_aspect("equal", adjustable="box")
    if title:
        fig.suptitle(title)
    return fig


def _with(values, value) -> list:
    return sorted({*values, value})


class DecisionBoundaryExplorer(Explorer):
    kind = "boundary"
    title = "Decision boundaries"

    def points(self, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        return toy_2d(s["data"], N_PER_CLASS, noise=s["noise"], seed=s["seed"], dtype=dtype)

    def fit(self) -> dict[str, tuple[MLP, float]]:
        """Both models at the explorer's settings, trained in Python (float64, as in the page)."""
        s = self.settings
        X, y = self.points()
        return {name: fit_2d(X, y, name, hidden=s["hidden"], steps=s["steps"], lr=s["lr"], seed=s["seed"])
                for name in ("softmax", "mlp")}

    def describe(self) -> str:
        s = self.settings
        return (f"Decision-boundary explorer (it trains in the browser): {s['data']} data (noise {s['noise']:g}, "
                f"seed {s['seed']}), softmax regression beside an MLP with two hidden layers of {s['hidden']} ReLU "
                f"units, {s['steps']} full-batch Adam steps at lr {s['lr']:g}; .fit() trains both in Python.")

    def figure(self) -> Figure:
        X, y = self.points()
        fitted = self.fit()
        models = {"softmax regression": fitted["softmax"][0],
                  f"MLP, 2 x {self.settings['hidden']} hidden units": fitted["mlp"][0]}
        return plot_decision_boundaries(X, y, models, title=f"{self.settings['data']}: {len(X)} points")


def decision_boundary_explorer(kind: str = "spiral", hidden: int = 32, noise: float | None = None,
                               lr: float = 0.02, steps: int = 300, seed: int = 0) -> DecisionBoundaryExplorer:
    """Toy data (spiral, blobs or moons; its noise and seed), softmax regression beside an MLP with two hidden
    layers of ``hidden`` ReLU units, both trained in the page by ``steps`` full-batch Adam steps at ``lr`` --
    exactly :func:`fit_2d` on :func:`toy_2d` -- with play / pause / step / reset and the decision regions drawn
    as they move. Settings outside the controls' lists are added to them; the settings go into the page's URL
    hash (keys ``boundary.data``, ``boundary.noise``, ``boundary.hidden``, ``boundary.lr``, ``boundary.steps``,
    ``boundary.seed``).
    """
    if kind not in TOY_KINDS:
        raise ValueError(f"kind must be one of {TOY_KINDS}, got {kind!r}")
    noise = NOISE_DEFAULTS[kind] if noise is None else noise
    checks = (
        ("hidden", hidden, isinstance(hidden, int) and not isinstance(hidden, bool) and 1 <= hidden <= 128,
         "a whole number from 1 to 128"),
        ("noise", noise, isinstance(noise, (int, float)) and not isinstance(noise, bool) and 0 <= noise <= 3,
         "a number from 0 to 3"),
        ("lr", lr, isinstance(lr, (int, float)) and not isinstance(lr, bool) and 0 < lr <= 1, "in (0, 1]"),
        ("steps", steps, isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= 10_000,
         "a whole number from 1 to 10,000"),
        ("seed", seed, isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED,
         f"a whole number from 0 to {MAX_SEED:,}"),
    )
    for name, value, ok, expected in checks:
        if not ok:
            raise ValueError(f"{name} must be {expected}, got {value!r}")
    return DecisionBoundaryExplorer({
        "data": kind, "noise": float(noise), "hidden": hidden, "lr": float(lr), "steps": steps, "seed": seed,
        "noise_defaults": NOISE_DEFAULTS, "max_noise": max(MAX_NOISE, float(noise)), "classes": 3,
        "n_per_class": N_PER_CLASS, "hidden_values": _with(HIDDEN_VALUES, hidden),
        "lr_values": _with(ADAM_LR_VALUES, float(lr)), "steps_values": _with(STEPS_VALUES, steps),
        "max_seed": MAX_SEED,
    })
