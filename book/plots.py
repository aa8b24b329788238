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


def _greyscale_stack(images: torch.Tensor) -> torch.Tensor:
    """``images`` as an (N, H, W) tensor on the CPU, from (N, H, W) or (N, 1, H, W)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"expected a tensor of images, got {type(images).__name__}")
    images = images.detach().cpu()
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"expected greyscale images (N, 1, H, W), got shape {tuple(images.shape)}")
        images = images[:, 0]
    if images.dim() != 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got {tuple(images.shape)}")
    return images


def show_images(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 10,
                scale: float = 1.2, cmap: str = "gray_r", title_colors: Sequence[str] | None = None,
                suptitle: str | None = None):
    """Draw a grid of greyscale images, each with an optional title; returns the matplotlib Figure.

    ``images`` is (N, H, W) or (N, 1, H, W), uint8 or float. ``title_colors`` colours each title (e.g. red for a
    wrong prediction).
    """
    import matplotlib.pyplot as plt

    images = _greyscale_stack(images)
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


def image_mosaic(images: torch.Tensor, ncols: int, pad: int = 2, pad_value: float = 0.0) -> torch.Tensor:
    """Tile ``images`` (N, H, W) or (N, 1, H, W) into one float32 image, row by row, ``ncols`` per row.

    Tiles are ``pad`` pixels apart; the gaps and the empty tiles of an unfinished last row hold ``pad_value``.
    One image of shape ``(rows * (H + pad) - pad, ncols * (W + pad) - pad)`` draws with a single ``imshow``,
    which is what makes a grid of hundreds of examples fast (one Axes per image is not).
    """
    images = _greyscale_stack(images)
    if not isinstance(ncols, int) or isinstance(ncols, bool) or ncols < 1:
        raise ValueError(f"ncols must be a positive whole number, got {ncols!r}")
    if not isinstance(pad, int) or isinstance(pad, bool) or pad < 0:
        raise ValueError(f"pad must be a whole number of pixels >= 0, got {pad!r}")
    n, h, w = images.shape
    if n == 0:
        raise ValueError("no images to tile: got an empty tensor")
    rows = -(-n // ncols)
    out = torch.full((rows * (h + pad) - pad, ncols * (w + pad) - pad), float(pad_value))
    for k, image in enumerate(images.float()):
        top, left = (k // ncols) * (h + pad), (k % ncols) * (w + pad)
        out[top:top + h, left:left + w] = image
    return out


def examples_per_class(labels: torch.Tensor, num_classes: int, per_class: int,
                       seed: int | None = None) -> torch.Tensor:
    """Indices into ``labels``, shape (num_classes, per_class): row c holds ``per_class`` examples of class c.

    With ``seed=None`` the first examples of each class in data order; with a seed, a random draw without
    replacement from a generator seeded with it (the same seed gives the same examples).
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
        raise ValueError("labels must be a 1-D tensor of integer class indices, got "
                         + (f"shape {tuple(labels.shape)}, dtype {labels.dtype}"
                            if isinstance(labels, torch.Tensor) else type(labels).__name__))
    for name, value in (("num_classes", num_classes), ("per_class", per_class)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    labels = labels.detach().cpu().long()
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, found {labels.min().item()}.."
                         f"{labels.max().item()}: pass the right num_classes (or all class names)")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    rows = []
    for c in range(num_classes):
        where = (labels == c).nonzero().flatten()
        if len(where) < per_class:
            raise ValueError(f"class {c} has {len(where)} examples, fewer than per_class={per_class}: "
                             "ask for fewer per class")
        if generator is not None:
            where = where[torch.randperm(len(where), generator=generator)]
        rows.append(where[:per_class])
    return torch.stack(rows)


def show_class_grid(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], per_class: int = 10,
                    seed: int | None = None, scale: float = 0.55, cmap: str = "gray_r",
                    title: str | None = None):
    """Draw ``per_class`` examples of every class, one row per class, the class names at the left.

    The examples are chosen by :func:`examples_per_class` (``seed=None``: the first ones; a seed: a random
    draw). The grid is one image (:func:`image_mosaic`), so it draws in a fraction of a second even for
    hundreds of examples. ``uint8`` images are shown on the fixed scale 0..255. Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    images = _greyscale_stack(images)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    q = len(classes)
    chosen = examples_per_class(labels, q, per_class, seed)
    is_bytes = images.dtype == torch.uint8
    picked = images[chosen.flatten()].float()
    low, high = (0.0, 255.0) if is_bytes else (picked.min().item(), picked.max().item())
    pad = 2
    # Gaps a little darker than the background, so that the tiles stay apart on the page.
    grid = image_mosaic(picked, per_class, pad=pad, pad_value=low + 0.12 * (high - low))
    h, w = images.shape[1:]
    fig, ax = plt.subplots(figsize=(scale * per_class + 1.4, scale * q * h / w + (0.5 if title else 0.2)))
    ax.imshow(grid.numpy(), cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    ax.set_yticks([r * (h + pad) + (h - 1) / 2 for r in range(q)], list(classes))
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
