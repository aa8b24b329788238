"""The softmax explorer: logits and a temperature in, probabilities and their entropy out.

The page computes ``softmax(o / T)`` and its entropy in float64 JavaScript (``web/softmax.js``); the reference
is :func:`book.softmax.softmax` and :func:`book.softmax.entropy`, and the browser tests hold the two together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from book.explorers.figures import new_figure
from book.explorers.page import Explorer
from book.softmax import check_temperature, entropy, softmax

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOGIT_RANGE = (-5.0, 5.0)  # what the logit sliders span at least
TEMPERATURE_RANGE = (0.05, 20.0)
MAX_CLASSES = 10


def check_logits(values, name: str = "logits") -> torch.Tensor:
    """A 1-D float64 vector of 2..MAX_CLASSES finite logits (one example), or a ValueError saying what is wrong."""
    if isinstance(values, torch.Tensor):
        tensor = values.detach().cpu().double()
    else:  # float64 from the start: 0.1 stays 0.1, not float32's 0.100000001
        try:
            tensor = torch.as_tensor(values, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"expected {name} as a sequence of numbers, got {values!r}") from None
    if tensor.dim() != 1 or not 2 <= len(tensor) <= MAX_CLASSES:
        raise ValueError(f"expected {name} as a 1-D vector of 2 to {MAX_CLASSES} numbers (one example), got "
                         f"shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite numbers, got {tensor.tolist()}")
    return tensor


def logit_range(z: torch.Tensor) -> list[float]:
    """The sliders' span: LOGIT_RANGE, widened to whole numbers that hold every given logit."""
    return [min(LOGIT_RANGE[0], math.floor(z.min().item())), max(LOGIT_RANGE[1], math.ceil(z.max().item()))]


def _rounded(values, digits: int = 3) -> str:
    return "(" + ", ".join(f"{v:.{digits}f}" for v in values) + ")"


def plot_softmax(logits, temperature: float = 1.0) -> Figure:
    """Bars of the logits (left) and of their softmax at ``temperature`` (right), the argmax highlighted.

    The title gives the temperature and the entropy of the probabilities, next to its maximum ``log q``.
    """
    z = check_logits(logits)
    t = check_temperature(temperature)
    p = softmax(z, t)
    q, winner = len(z), int(p.argmax())
    colors = ["C1" if i == winner else "C0" for i in range(q)]
    classes = list(range(q))

    fig = new_figure(9, 3.4)
    ax_z, ax_p = fig.subplots(1, 2)
    ax_z.bar(classes, z.tolist(), color=colors)
    ax_z.axhline(0, color="black", linewidth=0.8)
    limit = 1.1 * max(LOGIT_RANGE[1], float(z.abs().max()))
    ax_z.set_ylim(-limit, limit)
    ax_z.set_title("logits o")
    bars = ax_p.bar(classes, p.tolist(), color=colors)
    ax_p.bar_label(bars, fmt="%.3f", fontsize=8)
    ax_p.axhline(1 / q, color="gray", linestyle="--", linewidth=1, label=f"uniform 1/q = {1 / q:.2f}")
    ax_p.set_ylim(0, 1.12)
    ax_p.set_title("probabilities softmax(o / T)")
    ax_p.legend(loc="upper right", fontsize=8)
    for ax in (ax_z, ax_p):
        ax.set_xticks(classes)
        ax.set_xlabel("class")
    fig.suptitle(f"temperature T = {t:.3g}    entropy H = {entropy(p).item():.3f} nats    "
                 f"(maximum log q = {math.log(q):.3f})")
    return fig


class SoftmaxExplorer(Explorer):
    kind = "softmax"
    title = "Softmax and temperature"

    def describe(self) -> str:
        z, t = torch.tensor(self.settings["o"], dtype=torch.float64), self.settings["T"]
        p = softmax(z, t)
        return (f"Softmax explorer (it runs in the browser): logits o = {_rounded(z.tolist(), 2)}, T = {t:g} -> "
                f"probabilities {_rounded(p.tolist())}, entropy {entropy(p).item():.3f} nats "
                f"(at most log q = {math.log(len(z)):.3f}).")

    def figure(self) -> Figure:
        return plot_softmax(self.settings["o"], self.settings["T"])


def softmax_explorer(logits: Sequence[float] = (2.0, 1.0, 0.1, -1.0), temperature: float = 1.0) -> SoftmaxExplorer:
    """Sliders for each logit (-5..5, wider if a logit is) and for the temperature (log scale, 0.05..20, wider
    if T is), above the bars of the logits and of ``softmax(o / T)`` with its entropy.

    The last line of a cell shows it; everything runs in the browser, in the book as in Jupyter, and the
    settings go into the page's URL hash (keys ``softmax.o``, ``softmax.T``) so that a link reproduces them.
    """
    z = check_logits(logits)
    t = check_temperature(temperature)
    return SoftmaxExplorer({
        "o": z.tolist(), "T": t, "logit_range": logit_range(z),
        "temperature_range": [min(TEMPERATURE_RANGE[0], t), max(TEMPERATURE_RANGE[1], t)],
    })
