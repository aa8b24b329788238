"""Calibration: does a classifier's confidence match how often it is right? Taught in chapter 10.

    probs = torch.softmax(logits, dim=1)                       # (n, q) rows that sum to 1
    bins = reliability_bins(probs, labels, n_bins=15)          # per bin: count, confidence, accuracy
    expected_calibration_error(probs, labels)                  # sum over bins of share x |accuracy - confidence|
    T = fit_temperature(val_logits, val_labels)                # one scalar, fitted on *validation* data
    calibrated = torch.softmax(test_logits / T, dim=1)

A prediction's *confidence* is its largest probability, and it is *correct* when that class is the label. A
classifier is calibrated when, among the predictions made with confidence about c, a fraction c is correct.
The reliability diagram sorts predictions into equal-width confidence bins and compares each bin's accuracy
with its mean confidence; the expected calibration error (ECE, Naeini et al. 2015; Guo et al. 2017) is the
average gap, weighted by the share of predictions in each bin.

Temperature scaling (Guo et al. 2017) divides the logits by one scalar T > 0 fitted to minimise the negative
log-likelihood on validation data. It never changes which class is predicted (dividing by T keeps the order of
the logits), only how sure the model says it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# A row of probabilities may miss 1 by float32 rounding after softmax; anything further off is not a distribution.
_ROW_SUM_TOLERANCE = 1e-3


def _check_labels(labels, n: int, q: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a tensor of class indices, got {type(labels).__name__}")
    if labels.dim() != 1 or len(labels) != n:
        raise ValueError(f"labels must be a 1-D tensor with one class index per row ({n}), "
                         f"got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must hold integer class indices (e.g. torch.int64), got {labels.dtype}")
    labels = labels.long()
    if n and (labels.min() < 0 or labels.max() >= q):
        raise ValueError(f"labels must lie in 0..{q - 1} (one per column of the scores), "
                         f"got values from {labels.min().item()} to {labels.max().item()}")
    return labels


def _check_scores(scores, name: str) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape (n, q), got {type(scores).__name__}")
    if scores.dim() != 2 or scores.shape[0] == 0 or scores.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n, q) with n >= 1 examples and q >= 2 classes, "
                         f"got shape {tuple(scores.shape)}")
    if not scores.dtype.is_floating_point:
        raise TypeError(f"{name} must be floating point, got {scores.dtype}")
    if not torch.isfinite(scores).all():
        raise ValueError(f"{name} contain NaN or infinite values: check the model's outputs")
    return scores.detach().to("cpu", torch.float64)


def _check_probabilities(probs) -> torch.Tensor:
    probs = _check_scores(probs, "probs")
    if probs.min() < 0 or probs.max() > 1:
        raise ValueError("probs must lie in [0, 1]; these look like logits: pass torch.softmax(logits, dim=1)")
    worst = (probs.sum(dim=1) - 1).abs().max().item()
    if worst > _ROW_SUM_TOLERANCE:
        raise ValueError(f"each row of probs must sum to 1 (a row misses by {worst:.3g}); "
                         "pass torch.softmax(logits, dim=1)")
    return probs


def _check_n_bins(n_bins) -> int:
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive whole number of bins, e.g. 15, got {n_bins!r}")
    return n_bins


@dataclass(frozen=True)
class ReliabilityBins:
    """Predictions grouped by confidence into ``len(count)`` equal-width bins of [0, 1].

    Bin ``i`` holds the confidences in ``(edges[i], edges[i + 1]]`` (the first bin also holds 0).
    ``confidence[i]`` and ``accuracy[i]`` are the mean confidence and the fraction correct of its predictions
    (NaN for an empty bin); ``n`` is the number of predictions in all.
    """

    edges: torch.Tensor
    count: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    n: int

    @property
    def share(self) -> torch.Tensor:
        """The fraction of all predictions that falls in each bin."""
        return self.count.double() / self.n

    @property
    def gap(self) -> torch.Tensor:
        """accuracy − confidence per bin: negative where the model is over-confident (NaN when empty)."""
        return self.accuracy - self.confidence

    def ece(self) -> float:
        """Expected calibration error: Σ over bins of share × |accuracy − confidence|."""
        filled = self.count > 0
        return float((self.share[filled] * self.gap[filled].abs()).sum())


def confidence_and_correct(probs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's confidence (largest probability, float64) and whether its argmax is the label (bool)."""
    probs = _check_probabilities(probs)
    labels = _check_labels(labels, probs.shape[0], probs.shape[1]).cpu()
    confidence, predicted = probs.max(dim=1)
    return confidence, predicted == labels


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> ReliabilityBins:
    """Sort the predictions into ``n_bins`` equal-width confidence bins; see :class:`ReliabilityBins`."""
    n_bins = _check_n_bins(n_bins)
    confidence, correct = confidence_and_correct(probs, labels)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    # bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 goes to bin 0
    index = (torch.bucketize(confidence, edges[1:-1], right=False)).clamp(0, n_bins - 1)
    count = torch.bincount(index, minlength=n_bins)
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, confidence)
    correct_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, correct.double())
    safe = count.clamp(min=1).double()
    empty = count == 0
    mean_conf = torch.where(empty, torch.nan, conf_sum / safe)
    accuracy = torch.where(empty, torch.nan, correct_sum / safe)
    return ReliabilityBins(edges, count, mean_conf, accuracy, len(confidence))


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b| over ``n_bins`` equal-width confidence bins.

    0 for a perfectly calibrated predictor (up to sampling error: even a calibrated model's bins show gaps of
    about sqrt(c(1 − c) / n_b)); at most 1.
    """
    return reliability_bins(probs, labels, n_bins).ece()


def _nll_slope(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> float:
    """d/dβ of the mean NLL of softmax(β · logits): the mean over rows of E_p[o] − o_y, increasing in β."""
    p = torch.softmax(beta * logits, dim=1)
    return float(((p * logits).sum(dim=1) - logits.gather(1, labels[:, None]).squeeze(1)).mean())


def temperature_nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """The mean negative log-likelihood (cross-entropy) of ``softmax(logits / temperature)``, in float64."""
    logits = _check_scores(logits, "logits")
    labels = _check_labels(labels, logits.shape[0], logits.shape[1]).cpu()
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return float(torch.nn.functional.cross_entropy(logits / temperature, labels))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, t_min: float = 0.01, t_max: float = 100.0,
                    tol: float = 1e-6) -> float:
    """The temperature T in [t_min, t_max] that minimises the mean NLL of ``softmax(logits / T)`` on the data.

    Fit it on validation data, never on the test set. With β = 1/T the NLL is convex in β (its second
    derivative is the variance of the logit under the predicted distribution), so its minimum is where the
    slope, mean(E_p[o] − o_y), crosses zero; bisection on β finds it to ``tol`` (relative). Raises
    ``ValueError`` when the minimum lies outside [t_min, t_max], e.g. when every prediction is right and the NLL
    keeps falling as T → 0.
    """
    logits = _check_scores(logits, "logits")
    labels = _check_labels(labels, logits.shape[0], logits.shape[1]).cpu()
    for name, value in (("t_min", t_min), ("t_max", t_max), ("tol", tol)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not t_min < t_max:
        raise ValueError(f"t_min must be below t_max, got t_min={t_min}, t_max={t_max}")
    lo, hi = 1.0 / t_max, 1.0 / t_min  # bounds on beta = 1 / T
    if _nll_slope(logits, labels, hi) <= 0:  # 0 when every softmax has rounded to one-hot: still not rising
        raise ValueError(f"the NLL is still falling at T = t_min = {t_min}: sharper is always better on these "
                         "data (every prediction right?). Temperature scaling needs validation examples the "
                         "model gets wrong; use more or harder validation data, or lower t_min.")
    if _nll_slope(logits, labels, lo) >= 0:
        raise ValueError(f"the NLL is still falling at T = t_max = {t_max}: the predictions are no better than "
                         "uniform guessing on these data. Check that the labels belong to the logits, or raise "
                         "t_max.")
    # bisection in log(beta): the bracket spans orders of magnitude
    log_lo, log_hi = math.log(lo), math.log(hi)
    while log_hi - log_lo > tol:
        mid = (log_lo + log_hi) / 2
        if _nll_slope(logits, labels, math.exp(mid)) > 0:
            log_hi = mid
        else:
            log_lo = mid
    return 1.0 / math.exp((log_lo + log_hi) / 2)


def plot_reliability(bins: ReliabilityBins, ax=None, title: str | None = None, color: str = "C0",
                     show_share: bool = True):
    """Draw a reliability diagram on ``ax`` (a new figure's axes when None) and return the axes.

    Each filled bin is a bar as high as its accuracy; the hatched box between the bar's top and the bin's mean
    confidence is the gap (above the bar: over-confident; inside it: under-confident); the dashed diagonal is
    perfect calibration. With ``show_share``, grey bars along the bottom show the share of predictions per bin
    (on a second axis): a bin holding few predictions has a noisy accuracy.
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4, 4)).subplots()
    filled = bins.count > 0
    lefts = bins.edges[:-1][filled].tolist()
    width = float(bins.edges[1] - bins.edges[0])
    accuracy = bins.accuracy[filled].tolist()
    confidence = bins.confidence[filled].tolist()
    ax.bar(lefts, accuracy, width=width, align="edge", color=color, edgecolor="white",
           label="accuracy in the bin")
    ax.bar(lefts, [c - a for a, c in zip(accuracy, confidence)], bottom=accuracy, width=width, align="edge",
           fill=False, hatch="///", edgecolor="red", linewidth=0.8, label="gap to the mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (largest probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title if title is not None else f"ECE {100 * bins.ece():.2f} %")
    ax.legend(loc="upper left", fontsize=8)
    if show_share:
        share_ax = ax.twinx()
        share = bins.share[filled].tolist()
        share_ax.bar(lefts, share, width=width, align="edge", color="grey", alpha=0.45)
        share_ax.set_ylim(0, 4 * max(share))  # the bottom quarter of the panel
        share_ax.set_ylabel("share of predictions (grey)", fontsize=8, color="grey")
        share_ax.tick_params(axis="y", labelsize=7, colors="grey")
    return ax
