"""Training in the page: softmax regression on a Fashion-MNIST subset that travels with the page.

The learning-rate explorer trains in the reader's browser (``web/train.js``), on data embedded in the page:
2,000 training and 500 validation images drawn from Fashion-MNIST's *training* set (the test set stays
untouched, as chapter 08 asks), each averaged over 2 x 2 blocks to 14 x 14 pixels and stored with 16 grey
levels, two pixels per byte -- about 150 KB gzipped. The page runs minibatch SGD on the mean cross-entropy in
float64: the loop of :func:`book.train.train_epoch` followed by :func:`book.train.evaluate` on the held-out
images, with the initial weights ``W ~ N(0, 0.01^2)`` (d x q), ``b = 0`` and each epoch's minibatch order
drawn from the course's seeded generator (:mod:`book.explorers.prng`).

:func:`train_softmax_regression` is the reference: it runs ``book.train``'s own ``train_epoch`` and
``evaluate`` with the same weights and order, so any run of the page is reproduced in Python from its settings
(the browser tests compare the loss curves).
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from book.cross_entropy import check_labels, cross_entropy
from book.explorers.figures import new_figure
from book.explorers.page import Explorer
from book.explorers.prng import SeededRandom
from book.train import evaluate, sgd, train_epoch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SIDE = 14  # pixels per side after 2 x 2 averaging
LEVELS = 16  # grey levels kept: 4 bits per pixel
N_TRAIN, N_VAL = 2000, 500
LR_VALUES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
BATCH_VALUES = (8, 16, 32, 64, 128, 256, 512)  # and the whole training set
MAX_EPOCHS = 30
MAX_SEED = 999_999
INIT_STD = 0.01


# --- the embedded data ---------------------------------------------------------------------------------------

def downsample(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> grey levels 0..LEVELS-1 (N, SIDE * SIDE) uint8: 2 x 2 means, then rounded."""
    if images.dtype != torch.uint8 or images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise ValueError(f"expected uint8 images of shape (N, 28, 28) as load_dataset gives, got {images.dtype} "
                         f"of shape {tuple(images.shape)}")
    means = torch.nn.functional.avg_pool2d(images.unsqueeze(1).double() / 255, 2).flatten(1)
    return (means * (LEVELS - 1)).round().to(torch.uint8)


def pack_levels(levels: torch.Tensor) -> bytes:
    """Two 4-bit grey levels per byte, the first in the high nibble (rows of an even number of pixels)."""
    flat = levels.flatten().to(torch.uint8)
    if len(flat) % 2 or int(flat.max()) >= 16:
        raise ValueError("expected an even number of levels, each in 0..15")
    return bytes((flat[0::2] * 16 + flat[1::2]).tolist())


@dataclass(frozen=True)
class EmbeddedSubset:
    """The images the page trains on, as grey levels (uint8, (n, d)) and labels (int64); see the module doc."""

    train_levels: torch.Tensor
    train_labels: torch.Tensor
    val_levels: torch.Tensor
    val_labels: torch.Tensor
    classes: tuple[str, ...]

    @staticmethod
    def features(levels: torch.Tensor) -> torch.Tensor:
        """float64 pixels in [0, 1]: level / (LEVELS - 1), exactly what the page computes."""
        return levels.double() / (LEVELS - 1)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(X_train, y_train, X_val, y_val), X float64 (n, d) as the page sees it."""
        return (self.features(self.train_levels), self.train_labels,
                self.features(self.val_levels), self.val_labels)

    def payload(self) -> dict:
        """What the page carries: sizes, class names, packed pixels and labels in base64."""
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode("ascii")

        return {"n_train": len(self.train_labels), "n_val": len(self.val_labels), "d": SIDE * SIDE,
                "q": len(self.classes), "levels": LEVELS, "classes": list(self.classes),
                "train_pixels": b64(pack_levels(self.train_levels)),
                "train_labels": b64(bytes(self.train_labels.tolist())),
                "val_pixels": b64(pack_levels(self.val_levels)),
                "val_labels": b64(bytes(self.val_labels.tolist()))}


@functools.cache
def fashion_subset(n_train: int = N_TRAIN, n_val: int = N_VAL, seed: int = 0) -> EmbeddedSubset:
    """A seeded random subset of Fashion-MNIST's training images, downsampled for the page (kept in memory).

    ``n_train`` training and ``n_val`` validation images, disjoint, both from the training split.
    """
    from book.data import load_dataset

    ds = load_dataset("fashion-mnist")
    available = len(ds.train_labels)
    for name, n in (("n_train", n_train), ("n_val", n_val)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be a positive whole number, got {n!r}")
    if n_train + n_val > available:
        raise ValueError(f"n_train + n_val must be at most {available:,} (the training split), got {n_train + n_val:,}")
    order = torch.randperm(available, generator=torch.Generator().manual_seed(seed))
    train, val = order[:n_train], order[n_train:n_train + n_val]
    return EmbeddedSubset(downsample(ds.train_images[train]), ds.train_labels[train],
                          downsample(ds.train_images[val]), ds.train_labels[val], tuple(ds.classes))


# --- the reference training run -----------------------------------------------------------------------------

class SeededBatches:
    """Minibatches of (X, y) in the page's order: each epoch a permutation drawn from ``rng``, cut in
    ``batch_size`` pieces (the last one smaller). Iterating draws the next epoch's order, as the page does."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, rng: SeededRandom):
        self.X, self.y, self.batch_size, self.rng = X, y, batch_size, rng

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        order = torch.tensor(self.rng.permutation(len(self.y)))
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            yield self.X[index], self.y[index]


def initial_weights(d: int, q: int, rng: SeededRandom, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """``W`` (d, q) with entries ``0.01 * rng.normal()`` in row-major order, and ``b = 0``, as the page draws them."""
    W = torch.tensor([rng.normal() * INIT_STD for _ in range(d * q)], dtype=torch.float64).reshape(d, q)
    return W.to(dtype), torch.zeros(q, dtype=dtype)


@dataclass
class TrainingRun:
    """A run of :func:`train_softmax_regression`.

    ``history``: one row per epoch, from epoch 0 (the initial weights: validation numbers only) --
    ``epoch, train_loss, train_acc`` (averaged over the epoch's minibatches while the weights moved, as
    ``book.train`` reports them), ``val_loss, val_acc, val_correct`` (after the epoch).
    ``step_losses``: the mean loss of every minibatch, before its step. ``W``, ``b``: the final parameters.
    """

    history: list[dict]
    step_losses: list[float]
    W: torch.Tensor
    b: torch.Tensor


def check_settings(lr, batch_size, epochs, seed, n_train: int | None = None) -> None:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive, finite number, got {lr!r}")
    for name, value, high in (("batch_size", batch_size, n_train), ("epochs", epochs, None), ("seed", seed, None)):
        low = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bound = f"{low}..{high}" if high else f">= {low}"
            raise ValueError(f"{name} must be a whole number {bound}, got {value!r}")


def train_softmax_regression(X, y, X_val, y_val, lr: float, batch_size: int, epochs: int,
                             seed: int = 0) -> TrainingRun:
    """Softmax regression by minibatch SGD, exactly as the page trains it (see the module docstring).

    Runs ``book.train.train_epoch`` (with ``book.train.sgd`` and ``book.cross_entropy.cross_entropy``) and
    ``book.train.evaluate`` on ``(X_val, y_val)`` after each epoch, in X's dtype (the page: float64). A loss
    that turns nan or inf raises ``FloatingPointError`` from ``train_epoch``, at the minibatch where the page
    stops too.
    """
    X, y, X_val, y_val = (torch.as_tensor(t) for t in (X, y, X_val, y_val))
    for name, features, labels in (("training", X, y), ("validation", X_val, y_val)):
        if features.dim() != 2 or not features.is_floating_point() or labels.shape != (len(features),):
            raise ValueError(f"expected {name} features as a float tensor (n, d) with n labels (n,), got "
                             f"{features.dtype} {tuple(features.shape)} and labels {tuple(labels.shape)}")
    if X_val.shape[1] != X.shape[1]:
        raise ValueError(f"training and validation features differ in width: {X.shape[1]} vs {X_val.shape[1]}")
    check_settings(lr, batch_size, epochs, seed, n_train=len(y))
    q = int(max(y.max(), y_val.max())) + 1
    y, y_val = check_labels(y, q), check_labels(y_val, q)

    rng = SeededRandom(seed)
    W, b = initial_weights(X.shape[1], q, rng, X.dtype)
    W.requires_grad_(True)
    b.requires_grad_(True)
    step_losses: list[float] = []

    def net(features):
        return features @ W + b

    def loss(logits, labels):
        value = cross_entropy(logits, labels)
        if torch.is_grad_enabled():  # a training step (evaluate runs without a graph)
            step_losses.append(value.item())
        return value

    def validation_row(epoch: int) -> dict:
        result = evaluate(net, [(X_val, y_val)], loss)
        return {"epoch": epoch, "val_loss": result["loss"], "val_acc": result["acc"],
                "val_correct": round(result["acc"] * len(y_val))}

    batches = SeededBatches(X, y, batch_size, rng)
    history = [validation_row(0)]
    for epoch in range(1, epochs + 1):
        train = train_epoch(net, batches, loss, lambda size: sgd([W, b], lr, size), epoch=epoch)
        history.append({"epoch": epoch, "train_loss": train["loss"], "train_acc": train["acc"],
                        **validation_row(epoch)})
    return TrainingRun(history, step_losses, W.detach(), b.detach())


def plot_learning_curves(history: Sequence[dict], title: str | None = None) -> Figure:
    """Loss (left) and accuracy (right) per epoch, training and validation, from a :class:`TrainingRun`'s history.

    The loss axis turns logarithmic when the losses span more than a factor 50 (a large learning rate).
    """
    from matplotlib.ticker import MaxNLocator

    if not history:
        raise ValueError("expected a non-empty history, as train_softmax_regression(...).history gives")
    trained = [row for row in history if "train_loss" in row]
    fig = new_figure(9, 3.4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for key, rows, style, label in (("train", trained, "-o", "training"), ("val", history, "--s", "validation")):
        epochs = [row["epoch"] for row in rows]
        ax_loss.plot(epochs, [row[f"{key}_loss"] for row in rows], style, markersize=3, label=label)
        ax_acc.plot(epochs, [row[f"{key}_acc"] for row in rows], style, markersize=3, label=label)
    losses = [row[k] for row in history for k in ("train_loss", "val_loss") if k in row and math.isfinite(row[k])]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 50:
        ax_loss.set_yscale("log")
    ax_loss.set_title("cross-entropy loss")
    ax_acc.set_title("accuracy")
    ax_acc.set_ylim(0, 1)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.set_xlim(-0.5, history[-1]["epoch"] + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


# --- the explorer -------------------------------------------------------------------------------------------

def _with(values: Sequence, value) -> list:
    return sorted({*values, value})


class LearningRateExplorer(Explorer):
    kind = "train"
    title = "Training in the page"

    def __init__(self, settings: dict, subset: EmbeddedSubset):
        super().__init__(settings, data=subset.payload())
        self.subset = subset

    def run(self) -> TrainingRun:
        """The page's run at the explorer's settings, computed in Python."""
        s = self.settings
        return train_softmax_regression(*self.subset.tensors(), lr=s["lr"], batch_size=s["batch"],
                                        epochs=s["epochs"], seed=s["seed"])

    def describe(self) -> str:
        s = self.settings
        return (f"Learning-rate explorer (it trains in the browser): softmax regression on {N_TRAIN:,} "
                f"Fashion-MNIST images ({SIDE} x {SIDE} pixels, {LEVELS} grey levels), lr {s['lr']:g}, batch size "
                f"{s['batch']}, {s['epochs']} epochs, seed {s['seed']}; .run() trains the same run in Python.")

    def figure(self) -> Figure:
        s = self.settings
        return plot_learning_curves(self.run().history, title=f"lr = {s['lr']:g}, batch size {s['batch']}")


def learning_rate_explorer(lr: float = 0.1, batch_size: int = 256, epochs: int = 10,
                           seed: int = 0) -> LearningRateExplorer:
    """Softmax regression trained in the page on the embedded Fashion-MNIST subset (see the module docstring),
    with controls for the learning rate (a 1-2-5 ladder from 0.001 to 100), the batch size, the number of epochs
    and the seed, play / pause / step / reset, and live loss and accuracy curves (validation accuracy with its
    95 % interval).

    Settings outside the controls' lists are added to them. Its settings go into the page's URL hash (keys
    ``train.lr``, ``train.batch``, ``train.epochs``, ``train.seed``).
    """
    check_settings(lr, batch_size, epochs, seed, n_train=N_TRAIN)
    if epochs > 100 or seed > MAX_SEED:
        raise ValueError(f"the explorer trains for at most 100 epochs with seeds up to {MAX_SEED:,}; got "
                         f"epochs={epochs}, seed={seed}")
    return LearningRateExplorer(
        {"lr": float(lr), "batch": batch_size, "epochs": epochs, "seed": seed,
         "lr_values": _with(LR_VALUES, float(lr)), "batch_values": _with((*BATCH_VALUES, N_TRAIN), batch_size),
         "max_epochs": max(MAX_EPOCHS, epochs), "max_seed": MAX_SEED},
        fashion_subset())
