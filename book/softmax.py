"""Softmax: turning a vector of scores (logits) into probabilities -- stably.

Taught in the chapter *Softmax*; the chapters after it import these versions, which the tests hold to
``torch.softmax`` and to the chapter's own cells.

Integer logits are accepted and handled exactly (torch itself refuses them): the row maximum is subtracted in
integer arithmetic, before anything is rounded to floating point, so ``softmax([0, 2**30 + 1, 2**30])`` gives
``[0, 0.731, 0.269]`` and not the ``[0, 0.5, 0.5]`` of a cast to float32 first.
"""

from __future__ import annotations

import math
import numbers

import torch


def as_float_tensor(values) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    return tensor if tensor.is_floating_point() else tensor.to(torch.get_default_dtype())


def check_temperature(temperature) -> float:
    """The temperature as a positive, finite float, or an error that says what was expected."""
    if isinstance(temperature, torch.Tensor) and temperature.numel() == 1 and not (
            temperature.is_complex() or temperature.dtype == torch.bool):
        temperature = temperature.item()
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        hint = " (text: convert it with float(...) first)" if isinstance(temperature, str) else ""
        raise TypeError(f"temperature must be a number such as 2.0, got {temperature!r} "
                        f"of type {type(temperature).__name__}{hint}")
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a positive, finite number, got {temperature!r}")
    return t


def shifted_logits(logits, dim: int = -1) -> torch.Tensor:
    """``z - max(z)`` along ``dim`` as a floating tensor: every entry <= 0 (or NaN where the slice has NaN or +inf).

    Floating logits keep their dtype. Integer logits are shifted exactly, in int64, then converted
    to the default dtype: the differences that matter (a few dozen at most) are then exact, where converting
    first would round 2**30 + 1 to 2**30.
    """
    z = torch.as_tensor(logits)
    if z.is_complex() or z.dtype == torch.bool:
        raise TypeError(f"logits must be real numbers, got dtype {z.dtype}")
    if _empty_along(z, dim):  # no classes: nothing to shift (torch.softmax returns such a tensor unchanged)
        return z if z.is_floating_point() else z.to(torch.get_default_dtype())
    if z.is_floating_point():
        return z - z.amax(dim=dim, keepdim=True)
    z = z.long()
    top = z.amax(dim=dim, keepdim=True)
    d = z - top
    # a true difference is <= 0; one below -2**63 wraps round to a positive int64: that one is taken in float64
    # (to 16 digits, plenty for a number whose exponential is 0 anyway)
    wrapped = d > 0
    d = d.double()
    if wrapped.any():
        d = torch.where(wrapped, z.double() - top.double(), d)
    return d.to(torch.get_default_dtype())


def _empty_along(z: torch.Tensor, dim: int) -> bool:
    return z.dim() > 0 and z.shape[dim] == 0


def _divide(shifted: torch.Tensor, t: float) -> torch.Tensor:
    """``shifted / t`` for shifted logits (<= 0): 0 stays 0 and -inf stays -inf for any positive finite t.

    In float32 a temperature below ~1e-38 or above ~3e38 is not a normal number (1e-300 rounds to 0, giving
    0 / 0 = NaN at the maximum; 1e300 to inf, giving -inf / inf = NaN): such a division is done in float64.
    """
    if shifted.dtype != torch.float64:
        info = torch.finfo(shifted.dtype)
        if not info.tiny <= t <= info.max:
            return (shifted.double() / t).to(shifted.dtype)
    return shifted / t


def softmax(logits, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """Probabilities ``exp(z_i / T) / sum_j exp(z_j / T)`` along ``dim``, for a tensor of any shape.

    Numerically stable: each slice along ``dim`` has its own maximum subtracted before ``exp`` -- which changes
    nothing mathematically (the factor cancels) but keeps every exponent <= 0, so nothing overflows. The
    maximum must be per slice, not global: a batch whose rows live at very different scales would otherwise
    underflow the small rows to 0/0. A large temperature flattens the distribution towards uniform, a small one
    sharpens it towards a one-hot vector at the argmax; the maximum is subtracted *before* dividing by T, so
    even T = 1e-40 gives that one-hot vector instead of inf - inf = NaN.

    Floating logits keep their dtype; integer logits give the default dtype (see :func:`shifted_logits`).
    Slices holding NaN or +inf give NaN, as ``torch.softmax`` does.
    """
    t = check_temperature(temperature)
    z = shifted_logits(logits, dim)
    if _empty_along(z, dim):
        return z
    if t != 1.0:
        z = _divide(z, t)
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)


def entropy(probs, dim: int = -1) -> torch.Tensor:
    """Entropy ``-sum_i p_i log p_i`` in nats along ``dim``, with ``0 log 0`` taken as 0.

    0 for a one-hot distribution, ``log q`` (its maximum) for the uniform one over q classes. Each slice
    along ``dim`` must be a probability distribution: entries >= 0 that sum to 1 (to within the rounding of
    the dtype); anything else raises ValueError, since the formula would return a number that is no entropy.
    A slice holding NaN gives NaN, as the softmax of a NaN row is NaN.
    """
    p = as_float_tensor(probs)
    if p.is_complex():
        raise TypeError(f"probabilities must be real numbers, got the complex dtype {p.dtype}")
    if _empty_along(p, dim):
        raise ValueError(f"probabilities of shape {tuple(p.shape)} have no classes along dim={dim}: "
                         "a distribution needs at least one")
    checked = ~p.isnan().any(dim=dim, keepdim=True)  # slices with NaN are passed through as NaN
    negative = p.lt(0) & checked
    if negative.any():
        raise ValueError(f"probabilities must be >= 0, got a smallest entry of {p[negative].min().item():.4g}: "
                         "these look like logits or log-probabilities -- pass softmax(logits) instead")
    sums = p.sum(dim=dim, keepdim=True)
    tolerance = math.sqrt(torch.finfo(p.dtype).eps)  # 3e-4 in float32: a softmax over 1e5 classes still fits
    off = ((sums - 1).abs() > tolerance) & checked
    if off.any():
        raise ValueError(f"each slice along dim={dim} must sum to 1, got a sum of {sums[off][0].item():.6g}: "
                         "divide by the sum (p / p.sum(dim, keepdim=True)), or pass softmax(logits)")
    return -torch.special.xlogy(p, p).sum(dim=dim)  # xlogy(0, 0) is 0, where p * log(p) would be nan


def log_softmax(logits, dim: int = -1) -> torch.Tensor:
    """``log softmax(z)`` by log-sum-exp: ``z - m - log(sum exp(z - m))``, m the maximum along ``dim``.

    Finite wherever the logits are, even where ``softmax`` itself underflows to 0 and its log would be -inf.
    Dtypes, integer logits and non-finite slices as in :func:`softmax`.
    """
    shifted = shifted_logits(logits, dim)
    if _empty_along(shifted, dim):
        return shifted
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()
