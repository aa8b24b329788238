"""Cross-entropy: the loss of a classifier that outputs probabilities, and its gradient.

Taught in the chapter *Cross-entropy*; computed from logits with log-sum-exp (never ``log(softmax(z))``), and
checked against ``torch.nn.functional.cross_entropy`` and autograd by the tests.
"""

from __future__ import annotations

import torch

from book.softmax import log_softmax, softmax


def check_batch(logits, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, q) and integer labels (N,) in 0..q-1, or a ValueError that says which part is wrong.

    The logits keep their dtype (integer logits are handled exactly by :func:`book.softmax.log_softmax`).
    """
    z = torch.as_tensor(logits)
    if z.is_complex() or z.dtype == torch.bool:
        raise TypeError(f"logits must be real numbers, got dtype {z.dtype}")
    y = torch.as_tensor(y)
    if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"expected logits of shape (N, q) with N, q >= 1, got shape {tuple(z.shape)}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"expected labels of shape ({z.shape[0]},), one per row of the logits "
                         f"{tuple(z.shape)}, got shape {tuple(y.shape)}")
    return z, check_labels(y, z.shape[1])


def check_labels(y, q: int) -> torch.Tensor:
    """Class indices in 0..q-1 as int64, or a ValueError that says what is wrong and how to fix it."""
    y = torch.as_tensor(y)
    if y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"expected integer class labels 0..{q - 1} (int64), got dtype {y.dtype}")
    if y.is_floating_point():
        odd = y[~torch.isfinite(y) | (y != y.round())]
        if len(odd):
            raise ValueError(f"labels must be whole numbers 0..{q - 1}; got {odd[0].item():.6g} ({y.dtype}): "
                             "pass class indices (int64), not probabilities or scores")
        raise ValueError(f"labels must be class indices of an integer dtype (int64), got {y.dtype}: "
                         f"convert them with y.long() after checking that they lie in 0..{q - 1}")
    if y.numel() == 0:
        return y.long()
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= q:
        raise ValueError(f"labels must be class indices in 0..{q - 1} (the logits have q = {q} columns), "
                         f"got labels from {low} to {high}")
    return y.long()


def cross_entropy(logits, y) -> torch.Tensor:
    """Mean over the batch of ``-log softmax(z)_y`` for logits (N, q) and labels (N,); a 0-dim tensor.

    Computed from the logits with log-sum-exp, never as ``log(softmax(z))``: a probability that underflows
    to 0 would make that ``-log 0 = inf``, while the log-sum-exp form stays finite. Differentiable.
    """
    z, y = check_batch(logits, y)
    return -log_softmax(z, dim=1).gather(1, y.unsqueeze(1)).mean()


def cross_entropy_grad(logits, y) -> torch.Tensor:
    """The gradient of :func:`cross_entropy` w.r.t. the logits, analytically: ``(softmax(z) - one_hot(y)) / N``.

    Each row pushes the wrong classes' logits down in proportion to their probability, and the true class's
    logit up by ``1 - p_y``; the ``1/N`` comes from the mean over the batch.
    """
    z, y = check_batch(logits, y)
    z = z.detach()
    grad = softmax(z, dim=1)
    grad[torch.arange(len(y)), y] -= 1
    return grad / len(y)
