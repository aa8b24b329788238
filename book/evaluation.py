"""Honest evaluation: a validation split carved out of the training data, and how sure an accuracy is.

    train_idx, val_idx = validation_split(60_000, val_size=10_000, seed=0)
    acc = accuracy_interval(correct=8_312, n=10_000)      # Interval(estimate=0.8312, se=0.0037, low=…, high=…)
    print(acc)                                            # "83.12 % ± 0.73 (95 %: 82.39–83.85 %, n = 10,000)"
    loaders = split_loaders(load_dataset("fashion-mnist"))  # .train, .val, .test FastLoaders
    paired_difference(pred_a == y, pred_b == y)           # is model A better than B on the same images?
    stopper = EarlyStopping(patience=5)                   # keeps the weights of the best validation epoch

Every choice (learning rate, epochs, transform, architecture) is made on the validation split; the test split
is scored once, at the end. Taught in chapter 08 (generalisation).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from statistics import NormalDist

import torch


@dataclass(frozen=True)
class Interval:
    """An accuracy (or any proportion) with its binomial standard error and a normal-approximation interval."""

    estimate: float
    se: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def __str__(self) -> str:
        half = (self.high - self.low) / 2
        return (f"{100 * self.estimate:.2f} % ± {100 * half:.2f} ({100 * self.level:g} %: "
                f"{100 * self.low:.2f}–{100 * self.high:.2f} %, n = {self.n:,})")

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def z_value(level: float = 0.95) -> float:
    """The two-sided standard-normal quantile of a confidence ``level``: 1.96 for 0.95, 2.58 for 0.99."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a confidence level strictly between 0 and 1, such as 0.95; got {level!r}")
    return NormalDist().inv_cdf((1.0 + float(level)) / 2.0)


def _whole(value, name: str) -> int:
    """``value`` as a Python int: ints, numpy integers and one-element integer tensors; never a float count."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"{name} must be a whole number (an int, or a one-element integer tensor such as "
                            f"(pred == y).sum()); got a {value.dtype} tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number of examples (an int), got {value!r}; "
                        "count examples, do not pass a fraction or a float")
    return int(value)


def binomial_se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` measured on ``n`` independent examples: sqrt(p (1 - p) / n)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
        raise ValueError(f"n must be a positive whole number of examples, got {n!r}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a proportion between 0 and 1 (0.83, not 83), got {p!r}")
    return math.sqrt(p * (1.0 - p) / int(n))


def accuracy_interval(correct: int, n: int, level: float = 0.95) -> Interval:
    """The accuracy ``correct / n`` with its standard error and a ``level`` confidence interval (clipped to [0, 1]).

    The interval is the normal approximation p ± z·se, good when at least ~10 examples are right and ~10 wrong,
    which holds for every test and validation set in the course; below that it is too narrow (at 0 or n wrong it
    has width 0), and a warning says so.
    """
    correct, n = _whole(correct, "correct"), _whole(n, "n")
    if n <= 0:
        raise ValueError(f"n must be a positive number of examples, got {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie between 0 and n = {n}, got {correct}")
    if min(correct, n - correct) < 10:
        warnings.warn(f"{correct} correct of {n}: the normal approximation behind this interval needs at least 10 "
                      "right and 10 wrong answers, so the interval understates the uncertainty; "
                      "measure on more examples", stacklevel=2)
    p = correct / n
    se = binomial_se(p, n)
    half = z_value(level) * se
    return Interval(p, se, max(0.0, p - half), min(1.0, p + half), n, level)


def validation_split(n: int, val_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train_idx, val_idx)`` of a seeded random split of ``n`` examples; ``val_size`` go to validation.

    Both are sorted, disjoint and together cover ``range(n)``; the same seed gives the same split.
    """
    for name, value in (("n", n), ("val_size", val_size), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be a whole number, got {value!r}")
    if not 0 < val_size < n:
        raise ValueError(f"val_size must lie strictly between 0 and n = {n}, got {val_size}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    return perm[val_size:].sort().values, perm[:val_size].sort().values


# --- three loaders -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Splits:
    """Training, validation and test loaders, and which training images went where."""

    train: object  # FastLoader over the training part, shuffled
    val: object  # FastLoader over the validation part, in order
    test: object  # FastLoader over the test set, in order
    train_idx: torch.Tensor
    val_idx: torch.Tensor


def split_loaders(dataset, val_size: int = 10_000, seed: int = 0, batch_size: int = 256,
                  eval_batch_size: int = 1024, loader_seed: int = 0, device=None) -> Splits:
    """``FastLoader``s for the train / validation / test roles of a :class:`book.data.ImageDataset`.

    ``val_size`` training images, drawn with :func:`validation_split` (``seed``), become the validation set;
    the rest are shuffled each epoch from ``loader_seed``. The test set is the data set's own.
    """
    from book.data import FastLoader

    for role in ("train_images", "train_labels", "test_images", "test_labels"):
        if not isinstance(getattr(dataset, role, None), torch.Tensor):
            raise TypeError(f"dataset must be an ImageDataset from book.data.load_dataset (with {role}), "
                            f"got {type(dataset).__name__}")
    train_idx, val_idx = validation_split(len(dataset.train_labels), val_size, seed)
    images, labels = dataset.train_images, dataset.train_labels
    return Splits(
        train=FastLoader(images[train_idx], labels[train_idx], batch_size=batch_size, seed=loader_seed,
                         device=device),
        val=FastLoader(images[val_idx], labels[val_idx], batch_size=eval_batch_size, shuffle=False, device=device),
        test=FastLoader(dataset.test_images, dataset.test_labels, batch_size=eval_batch_size, shuffle=False,
                        device=device),
        train_idx=train_idx, val_idx=val_idx)


# --- two models on the same examples -------------------------------------------------------------------------

@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of A minus accuracy of B on the same ``n`` examples, with its paired standard error.

    ``a_only``: examples A gets right and B wrong; ``b_only`` the reverse (the only ones that move the
    difference). ``z`` is McNemar's statistic (a_only − b_only) / sqrt(a_only + b_only); ``p_value`` is the exact
    two-sided McNemar test of "A and B are equally accurate" (a binomial test on the discordant examples).
    """

    difference: float
    se: float
    low: float
    high: float
    n: int
    a_only: int
    b_only: int
    z: float
    p_value: float
    level: float = 0.95

    def __str__(self) -> str:
        return (f"{100 * self.difference:+.2f} points ± {100 * z_value(self.level) * self.se:.2f} "
                f"({100 * self.level:g} %: {100 * self.low:+.2f} to {100 * self.high:+.2f}; "
                f"A alone right {self.a_only:,}, B alone right {self.b_only:,}, McNemar p = {self.p_value:.2g})")


def _outcomes(correct, name: str) -> torch.Tensor:
    correct = torch.as_tensor(correct)
    if correct.dim() != 1 or len(correct) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor with one right/wrong outcome per example "
                         f"(e.g. predict(net, X) == y), got shape {tuple(correct.shape)}")
    if correct.dtype != torch.bool:
        if correct.dtype.is_floating_point or correct.dtype.is_complex or not bool(((correct == 0)
                                                                                     | (correct == 1)).all()):
            raise TypeError(f"{name} must hold one outcome per example as booleans (or 0/1 integers), "
                            f"e.g. predict(net, X) == y; got {correct.dtype} values")
        correct = correct == 1
    return correct.cpu()


def mcnemar_p_value(a_only: int, b_only: int) -> float:
    """Exact two-sided p-value of McNemar's test: under "equally accurate" each discordant example is a coin toss."""
    a_only, b_only = _whole(a_only, "a_only"), _whole(b_only, "b_only")
    if a_only < 0 or b_only < 0:
        raise ValueError(f"counts must not be negative, got {a_only} and {b_only}")
    m = a_only + b_only
    if m == 0:
        return 1.0
    k = torch.arange(min(a_only, b_only) + 1, dtype=torch.float64)
    # log P(K = k) for K ~ Binomial(m, 1/2), summed in log space: exact enough for any m, no overflow
    log_pmf = math.lgamma(m + 1) - torch.lgamma(k + 1) - torch.lgamma(m - k + 1) - m * math.log(2)
    return min(1.0, 2 * torch.logsumexp(log_pmf, dim=0).exp().item())


def paired_difference(correct_a, correct_b, level: float = 0.95) -> PairedDifference:
    """Compare two models scored on the *same* examples: ``correct_a[i]`` says whether A got example i right.

    The per-example differences d_i = [A right] − [B right] are −1, 0 or 1; their mean is the accuracy difference
    and its standard error is sqrt(var(d) / n). Examples both models get right (or wrong) add no noise, so this is
    far smaller than the unpaired sqrt(se_A² + se_B²) when the models agree on most examples.
    """
    a, b = _outcomes(correct_a, "correct_a"), _outcomes(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must score the same examples, got {len(a)} and {len(b)} outcomes")
    n = len(a)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    diff = (a_only - b_only) / n
    se = math.sqrt(max((a_only + b_only) / n - diff ** 2, 0.0) / n)
    half = z_value(level) * se
    z = (a_only - b_only) / math.sqrt(a_only + b_only) if a_only + b_only else 0.0
    return PairedDifference(diff, se, diff - half, diff + half, n, a_only, b_only, z,
                            mcnemar_p_value(a_only, b_only), level)


# --- early stopping ------------------------------------------------------------------------------------------

class EarlyStopping:
    """Watch a validation number epoch by epoch; remember the best epoch and its weights; say when to stop.

        stopper = EarlyStopping(patience=5)              # mode="min" for a loss, "max" for an accuracy
        for epoch in range(1, 101):
            train_epoch(...)
            if stopper.step(evaluate(net, val_iter, loss)["loss"], net):
                break                                     # no improvement for 5 epochs
        stopper.restore(net)                              # the weights of stopper.best_epoch

    An epoch counts as an improvement when it beats the best so far by more than ``min_delta``.
    """

    def __init__(self, patience: int = 5, mode: str = "min", min_delta: float = 0.0):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a whole number of epochs >= 1, got {patience!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' (for a loss) or 'max' (for an accuracy), got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or not min_delta >= 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.patience, self.mode, self.min_delta = patience, mode, float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict | None = None
        self.epochs = 0  # epochs seen so far
        self.history: list[float] = []

    @property
    def epochs_without_improvement(self) -> int:
        return 0 if self.best_epoch is None else self.epochs - self.best_epoch

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_improvement >= self.patience

    def step(self, value, model: torch.nn.Module | None = None) -> bool:
        """Record the validation number of the epoch just finished; True when training should stop now.

        With ``model``, a copy of its ``state_dict`` is kept whenever the number improves.
        """
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"step expects the epoch's validation number (a float), got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"the validation number is {value} at epoch {self.epochs + 1}: training diverged; "
                             "lower the learning rate")
        if model is not None and not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be an nn.Module whose weights to keep, got {type(model).__name__}")
        self.epochs += 1
        self.history.append(value)
        better = (self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                        else value > self.best + self.min_delta))
        if better:
            self.best, self.best_epoch = value, self.epochs
            if model is not None:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.should_stop

    def restore(self, model: torch.nn.Module) -> torch.nn.Module:
        """Load the weights of the best epoch into ``model`` (and return it)."""
        if self.best_state is None:
            raise RuntimeError("no weights kept: pass the model to step(value, model) during training")
        model.load_state_dict(self.best_state)
        return model
