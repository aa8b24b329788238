"""The cross-entropy explorer: one example's logits and true class; the loss on its curve and the gradient.

The page computes ``-log softmax(o)_y`` and ``softmax(o) - one_hot(y)`` in float64 JavaScript
(``web/xent.js``); the reference is :func:`book.cross_entropy.cross_entropy` and
:func:`book.cross_entropy.cross_entropy_grad`, and the browser tests hold the two together.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from book.cross_entropy import cross_entropy, cross_entropy_grad
from book.explorers.figures import new_figure
from book.explorers.page import Explorer
from book.explorers.probabilities import check_logits, logit_range
from book.softmax import softmax

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def check_class(true_class, q: int) -> int:
    """The true class as a Python int in 0..q-1 (NumPy integers too), or a ValueError."""
    if isinstance(true_class, bool) or not isinstance(true_class, numbers.Integral) or not 0 <= true_class < q:
        raise ValueError(f"true class must be a whole number in 0..{q - 1} for {q} logits, got {true_class!r}")
    return int(true_class)


def loss_and_gradient(logits, true_class: int) -> tuple[float, torch.Tensor]:
    """The reference numbers: the loss ``-log p_y`` and its gradient ``p - one_hot(y)`` for one example."""
    z = check_logits(logits)
    y = torch.tensor([check_class(true_class, len(z))])
    return cross_entropy(z.unsqueeze(0), y).item(), cross_entropy_grad(z.unsqueeze(0), y)[0]


def plot_cross_entropy(logits, y: int) -> Figure:
    """One example: the curve ``-log p`` with the current ``p_y`` on it (left), and per class the softmax
    probabilities, the one-hot target and the gradient ``softmax - one-hot`` (right)."""
    z = check_logits(logits)
    q = len(z)
    loss, grad = loss_and_gradient(z, y)
    p = softmax(z)
    p_y = math.exp(-loss)  # from the stable loss, so it is > 0 even where the softmax underflows

    fig = new_figure(10, 3.6)
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


class CrossEntropyExplorer(Explorer):
    kind = "xent"
    title = "Cross-entropy and its gradient"

    def describe(self) -> str:
        o, y = self.settings["o"], self.settings["y"]
        loss, grad = loss_and_gradient(o, y)
        return (f"Cross-entropy explorer (it runs in the browser): logits o = ({', '.join(f'{v:.2f}' for v in o)}), "
                f"true class {y} -> loss {loss:.4f}, gradient ({', '.join(f'{v:.3f}' for v in grad.tolist())}).")

    def figure(self) -> Figure:
        return plot_cross_entropy(self.settings["o"], self.settings["y"])


def cross_entropy_explorer(logits: Sequence[float] = (1.0, 2.0, 0.5), true_class: int = 0) -> CrossEntropyExplorer:
    """Logit sliders and a choice of the true class, above the curve ``-log p_y`` with the current point on it
    and the bars of ``softmax(o)``, the one-hot target and the gradient ``softmax(o) - one_hot(y)``.

    Runs in the browser; its settings go into the page's URL hash (keys ``xent.o``, ``xent.y``).
    """
    z = check_logits(logits)
    y = check_class(true_class, len(z))
    return CrossEntropyExplorer({"o": z.tolist(), "y": y, "logit_range": logit_range(z)})
