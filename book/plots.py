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


def plot_confusion_matrix(matrix: torch.Tensor, classes: Sequence[str], normalize: bool = True, title: str | None = None):
    """Draw a confusion matrix (rows: true class, columns: predicted) with the count or row share in each cell.

    ``normalize`` shows each row as shares of that true class (the diagonal is then the per-class recall).
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    matrix = matrix.detach().cpu().double()
    q = len(classes)
    if matrix.shape != (q, q):
        raise ValueError(f"expected a {q}x{q} matrix for {q} classes, got shape {tuple(matrix.shape)}")
    shown = matrix / matrix.sum(1, keepdim=True).clamp(min=1) if normalize else matrix
    fig, ax = plt.subplots(figsize=(0.62 * q + 2.5, 0.55 * q + 1.8))
    image = ax.imshow(shown.numpy(), cmap="Blues", vmin=0)
    for i in range(q):
        for j in range(q):
            value = shown[i, j].item()
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if value > 0.6 * shown.max().item() else "black")
    ax.set_xticks(range(q), classes, rotation=45, ha="right")
    ax.set_yticks(range(q), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
