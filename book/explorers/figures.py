"""Static matplotlib figures of the explorers' numbers, for print, scripts and the explorers' ``figure()``.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never with pyplot, so nothing is shown
twice; matplotlib is imported only when a figure is made, which keeps ``import book.explorers`` cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A Figure on the Agg canvas, unknown to pyplot, so it is only ever shown where it is returned."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig
