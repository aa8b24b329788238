"""A seeded random number generator implemented identically here and in the explorers' JavaScript.

The explorers train models in the reader's browser, and the tests hold them to PyTorch: for that, the page and
Python must draw the same initial weights, the same toy data and the same minibatch order from a seed. Neither
``torch.Generator`` nor ``Math.random`` can be reproduced on the other side, so both sides use *mulberry32*
(Tommy Ettinger's 32-bit generator, a few integer operations that JavaScript's ``Math.imul`` and ``>>>``
express exactly) -- see ``next_uint32`` here and ``prng`` in ``web/core.js``. Its statistical quality is
ample for initial weights, shuffles and toy data; it is not for cryptography or large simulations.

    >>> rng = SeededRandom(0)
    >>> rng.next_uint32(), round(rng.uniform(), 6)
    (1144304738, 0.00033)

Each method consumes the stream the same way as its JavaScript twin:

- ``uniform()``: one 32-bit draw divided by 2**32, in [0, 1);
- ``normal()``: Box-Muller from two uniforms, ``sqrt(-2 log(1 - u1)) cos(2 pi u2)`` (one normal per pair);
- ``permutation(n)``: Fisher-Yates from ``0..n-1``, ``i`` from ``n - 1`` down to 1, ``j = floor(u (i + 1))``.

Integer results are bit-for-bit equal on both sides. ``log`` and ``cos`` come from each platform's maths
library, which may differ in the last bit, so normals agree to about 1e-16 relative.
"""

from __future__ import annotations

import math

_MASK = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    """The low 32 bits of a * b, as JavaScript's Math.imul (read as unsigned)."""
    return (a * b) & _MASK


class SeededRandom:
    """mulberry32 seeded with an integer in 0..2**32 - 1; see the module docstring."""

    def __init__(self, seed: int):
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MASK:
            raise ValueError(f"seed must be a whole number from 0 to {_MASK}, got {seed!r}")
        self._state = seed

    def next_uint32(self) -> int:
        self._state = (self._state + 0x6D2B79F5) & _MASK
        a = self._state
        t = _imul(a ^ (a >> 15), 1 | a)
        t = ((t + _imul(t ^ (t >> 7), 61 | t)) & _MASK) ^ t
        return t ^ (t >> 14)

    def uniform(self) -> float:
        return self.next_uint32() / 4294967296

    def normal(self) -> float:
        u1 = self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)

    def permutation(self, n: int) -> list[int]:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative whole number, got {n!r}")
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = math.floor(self.uniform() * (i + 1))
            order[i], order[j] = order[j], order[i]
        return order
