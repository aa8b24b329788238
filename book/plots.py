"""Small plotting helpers shared by the chapters and widgets (matplotlib only, imported when used)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import torch


def figure_png(fig, dpi: int = 100) -> bytes:
    """The PNG bytes of a matplotlib Figure, rendered off-screen with Agg (for Image widgets and outputs)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def show_images(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 10,
                scale: float = 1.2, cmap: str = "gray_r", title_colors: Sequence[str] | None = None,
                suptitle: str | None = None):
    """Draw a grid of greyscale images, each with an optional title; returns the matplotlib Figure.

    ``images`` is (N, H, W) or (N, 1, H, W), uint8 or float. ``title_colors`` colours each title (e.g. red for a
    wrong prediction).
    """
    import matplotlib.pyplot as plt

    images = images.detach().cpu()
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"expected greyscale images (N, 1, H, W), got shape {tuple(images.shape)}")
        images = images[:, 0]
    if images.dim() != 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got {tuple(images.shape)}")
    n = len(images)
    if titles is not None and len(titles) != n:
        raise ValueError(f"{n} images but {len(titles)} titles")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].float().numpy(), cmap=cmap)
        if titles is not None:
            color = title_colors[i] if title_colors is not None else "black"
            ax.set_title(titles[i], fontsize=8, color=color)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
