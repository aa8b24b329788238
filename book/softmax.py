"""Softmax: turning a vector of scores (logits) into probabilities -- stably.

Taught in the chapter *Softmax*; the chapters after it import these versions, which the tests hold to
``torch.softmax`` and to the chapter's own cells.
"""

from __future__ import annotations

import math

import torch


def as_float_tensor(values) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    return tensor if tensor.is_floating_point() else tensor.to(torch.get_default_dtype())


def check_temperature(temperature) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a positive, finite number, got {temperature!r}")
    return t


def softmax(logits, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """Probabilities ``exp(z_i / T) / sum_j exp(z_j / T)`` along ``dim``, for a tensor of any shape.

    Numerically stable: each slice along ``dim`` has its own maximum subtracted before ``exp`` -- which changes
    nothing mathematically (the factor cancels) but keeps every exponent <= 0, so nothing overflows. The
    maximum must be per slice, not global: a batch whose rows live at very different scales would otherwise
    underflow the small rows to 0/0. A large temperature flattens the distribution towards uniform, a small one
    sharpens it towards a one-hot vector at the argmax.
    """
    t = check_temperature(temperature)
    z = as_float_tensor(logits)
    if t != 1.0:
        z = z / t
    z = z - z.amax(dim=dim, keepdim=True)
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)


def entropy(probs, dim: int = -1) -> torch.Tensor:
    """Entropy ``-sum_i p_i log p_i`` in nats along ``dim``, with ``0 log 0`` taken as 0.

    0 for a one-hot distribution, ``log q`` (its maximum) for the uniform one over q classes.
    """
    p = as_float_tensor(probs)
    return -torch.special.xlogy(p, p).sum(dim=dim)  # xlogy(0, 0) is 0, where p * log(p) would be nan


def log_softmax(logits, dim: int = -1) -> torch.Tensor:
    """``log softmax(z)`` by log-sum-exp: ``z - m - log(sum exp(z - m))``, m the maximum along ``dim``.

    Finite wherever the logits are, even where ``softmax`` itself underflows to 0 and its log would be -inf.
    """
    z = as_float_tensor(logits)
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()
