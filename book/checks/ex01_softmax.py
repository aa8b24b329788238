"""Checks of exercise 01: softmax -- stable, row by row over a batch, with a temperature; entropy.

Each question's inputs come from its ``*_cases(rng)`` function: fixed inputs that carry the specific messages
(overflow at 1000, underflow at -1000) and random ones drawn from ``rng``, fresh for every class grading, in which
the checkers below run in the grader's process on what the learner's code returned (:mod:`book.protocol`).
"""

from __future__ import annotations

import math

import torch

from book.checks.common import call, expect_close, expect_finite, expect_tensor, expect_unchanged, forbid, show
from book.language import deferred, say
from book.protocol import Case
from book.questions import Incorrect, Question

EXERCISE = "01_softmax"
TITLE = "Softmax: stable, batched, with a temperature"
PASS_MARK = 0.6

SOFTMAX_FUNCTIONS = {"softmax", "log_softmax", "_softmax", "_log_softmax", "_safe_softmax", "logsumexp",
                     "special_softmax", "special_log_softmax", "special_logsumexp", "softmin", "gumbel_softmax"}
WRITE_IT = deferred("write it yourself from exp, max and sum")


def reference(Z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    Z = Z.double()
    E = (Z - Z.amax(dim=dim, keepdim=True)).exp()
    return E / E.sum(dim=dim, keepdim=True)


def run(fn, name, *args, **kwargs):
    """Call the learner's function with PyTorch's own softmax ruled out, and the inputs guarded against change."""
    copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    on = show(args[0]) if len(args) == 1 else ", ".join(show(a) for a in args)
    with forbid(SOFTMAX_FUNCTIONS, name, WRITE_IT):
        out = call(fn, *args, name=name, on=on, **kwargs)
    for before, after in zip(copies, args):
        if isinstance(before, torch.Tensor):
            expect_unchanged(before, after, name)
    return out


def softmax_cases(rng):
    return [Case(torch.tensor([1.0, 2.0, 3.0])), Case(torch.tensor([1000.0, 1001.0, 1002.0])),
            Case(torch.tensor([-1000.0, -1001.0, -1002.0])), Case(torch.randn(10, generator=rng) * 5)]


def check_softmax(softmax, cases):
    """q1: softmax of one vector, stable for large and very negative logits."""
    name = "softmax"
    (z,), (big,), (small,), (z_random,) = (c.args for c in cases)
    out = expect_tensor(run(softmax, name, z), (3,), name, show(z))
    expect_finite(out, name, show(z))
    if abs(out.sum().item() - 1) > 1e-5:
        raise Incorrect(say("on {on}, `{name}` returned {out}, which sums to {total:.4g}, not 1", on=show(z),
                            name=name, out=show(out), total=out.sum().item()))
    expect_close(out, reference(z), name, show(z))
    for z, why in [(big, say("exp(1000) overflows: it is inf in float32")),
                   (small, say("exp(-1000) underflows to 0 in float32, and 0 / 0 is nan"))]:
        out = expect_tensor(run(softmax, name, z), (3,), name, show(z))
        expect_finite(out, name, show(z), why)
        expect_close(out, reference(z), name, show(z), why=why)
    on = say("{n} random logits", n=10)
    expect_close(expect_tensor(run(softmax, name, z_random), (10,), name, on), reference(z_random), name, on)


def softmax_rows_cases(rng):
    return [Case(torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])),
            Case(torch.tensor([[0.0, 1.0, 2.0], [1000.0, 1001.0, 1002.0]])),
            Case(torch.randn(1, 5, generator=rng) * 3), Case(torch.randn(7, 10, generator=rng) * 3)]


def check_softmax_rows(softmax_rows, cases):
    """q2: row-wise softmax of a batch (n, q), each row shifted by its own maximum."""
    name = "softmax_rows"
    (Z,), (Z_scales,), *random = (c.args for c in cases)
    out = expect_tensor(run(softmax_rows, name, Z), (2, 3), name, show(Z))
    expect_finite(out, name, show(Z))
    rows, cols = out.double().sum(dim=1), out.double().sum(dim=0)
    if not torch.allclose(rows, torch.ones_like(rows), atol=1e-5):
        if torch.allclose(cols, torch.ones_like(cols), atol=1e-5):
            raise Incorrect(say("on {on}, the rows of what `{name}` returned sum to {sums}, not to 1 (its columns "
                                "do: it normalised along the wrong dimension)", on=show(Z), name=name,
                                sums=show(rows.float())))
        raise Incorrect(say("on {on}, the rows of what `{name}` returned sum to {sums}, not to 1", on=show(Z),
                            name=name, sums=show(rows.float())))
    expect_close(out, reference(Z), name, show(Z))
    Z = Z_scales
    out = expect_tensor(run(softmax_rows, name, Z), (2, 3), name, show(Z))
    expect_finite(out, name, show(Z), say("its two rows live at very different scales, and each row needs its "
                                          "own shift"))
    expect_close(out, reference(Z), name, show(Z), why=say("each row must be the softmax of that row alone"))
    for (Z,) in random:
        shape = tuple(Z.shape)
        on = say("a batch of shape {shape}", shape=shape)
        expect_close(expect_tensor(run(softmax_rows, name, Z), shape, name, on), reference(Z), name, on)


TEMPERATURES = (1.0, 2.0, 0.5, 0.001, 1000.0)
NOT_TEMPERATURES = (0.0, -1.0)


def softmax_temperature_cases(rng):
    Z = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.0, -0.5]])
    T_random = 0.2 + 3 * torch.rand(1, generator=rng).item()
    return [Case(Z, T) for T in TEMPERATURES + NOT_TEMPERATURES] + [
        Case(torch.randn(5, 4, generator=rng) * 3, T_random)]


def check_softmax_temperature(softmax_temperature, cases):
    """q3: softmax(Z / T) row by row; a large T flattens, a small T sharpens; T <= 0 raises ValueError."""
    name = "softmax_temperature"
    Z = cases[0].args[0]
    for T in (1.0, 2.0, 0.5):
        on = say("{Z} with T = {T}", Z=show(Z), T=T)
        out = expect_tensor(run(softmax_temperature, name, Z, T), (2, 3), name, on)
        expect_finite(out, name, on)
        if T != 1 and torch.allclose(out.double(), reference(Z * T), atol=1e-5):
            raise Incorrect(say("on {on}, `{name}` multiplied the logits by T: a larger T must make the "
                                "distribution flatter, not sharper", on=on, name=name))
        expect_close(out, reference(Z / T), name, on)
    on = say("{Z} with T = {T}", Z=show(Z), T=0.001)
    out = expect_tensor(run(softmax_temperature, name, Z, 0.001), (2, 3), name, on)
    expect_finite(out, name, on, say("dividing by a small T makes the logits huge, so the shift matters here "
                                     "too"))
    expect_close(out, reference(Z / 0.001), name, on)
    on = say("{Z} with T = {T}", Z=show(Z), T=1000)
    out = expect_tensor(run(softmax_temperature, name, Z, 1000.0), (2, 3), name, on)
    expect_close(out, reference(Z / 1000.0), name, on, why=say("a very large T should give almost uniform rows"))
    for T in NOT_TEMPERATURES:
        try:
            with forbid(SOFTMAX_FUNCTIONS, name, WRITE_IT):
                softmax_temperature(Z.clone(), T)
        except ValueError:
            continue
        except NotImplementedError:
            raise
        except Exception as exc:
            raise Incorrect(say("with T = {T}, `{name}` raised {error}; raise a ValueError that says the "
                                "temperature must be positive", T=T, name=name, error=type(exc).__name__)) from None
        raise Incorrect(say("with T = {T}, `{name}` returned a result; a temperature must be positive, so raise a "
                            "ValueError that says so", T=T, name=name))
    Z, T = cases[-1].args
    on = say("a random batch of shape {shape} with T = {T:.3g}", shape=tuple(Z.shape), T=T)
    expect_close(expect_tensor(run(softmax_temperature, name, Z, T), tuple(Z.shape), name, on), reference(Z / T),
                 name, on)


def entropy_cases(rng):
    return [Case(torch.full((1, 4), 0.25)), Case(torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])),
            Case(reference(torch.randn(6, 5, generator=rng) * 2).float())]


def check_entropy(entropy, cases):
    """q4: entropy in nats of each row of a batch of distributions, with 0 log 0 taken as 0."""
    name = "entropy"
    (P,), (P_zeros,), (P_random,) = (c.args for c in cases)
    out = expect_tensor(run(entropy, name, P), (1,), name, show(P))
    expect_finite(out, name, show(P))
    if abs(out.item() - 2.0) < 1e-4:
        raise Incorrect(say("on the uniform row {P}, `{name}` returned 2, the entropy in bits; measure it in nats "
                            "(natural logarithm)", P=show(P), name=name))
    if abs(out.item() + math.log(4)) < 1e-4:
        raise Incorrect(say("on the uniform row {P}, `{name}` returned {value:.4g}: an entropy is never negative "
                            "(check the sign)", P=show(P), name=name, value=out.item()))
    expect_close(out, torch.tensor([math.log(4)]), name, say("the uniform row {P}", P=show(P)))
    P = P_zeros
    out = expect_tensor(run(entropy, name, P), (2,), name, show(P))
    expect_finite(out, name, show(P), say("a probability of exactly 0 must add nothing (0 log 0 counts as 0)"))
    expect_close(out, torch.tensor([0.0, math.log(2)]), name, show(P))
    P = P_random
    on = say("{n} random rows of {q} probabilities", n=len(P), q=P.shape[1])
    expect_close(expect_tensor(run(entropy, name, P), (len(P),), name, on),
                 -(P.double() * P.double().log()).sum(dim=1), name, on)


q1 = Question(EXERCISE, "q1", "Stable softmax of a vector", 2, check_softmax, cases=softmax_cases,
              forbidden=SOFTMAX_FUNCTIONS, hints=[
    "softmax(z)_j = exp(z_j) / sum_k exp(z_k). What does exp(1000) give in float32?",
    "Adding the same constant c to every logit does not change the softmax: the factor exp(c) cancels. "
    "Which c keeps every exponent at most 0?",
    "Subtract z.max() from z before exp; then divide by the sum.",
])
q2 = Question(EXERCISE, "q2", "Softmax of every row of a batch", 2, check_softmax_rows, cases=softmax_rows_cases,
              forbidden=SOFTMAX_FUNCTIONS, hints=[
    "Each row is its own distribution: the maximum, the exponentials' sum and the division are per row.",
    "Z.amax(dim=1, keepdim=True) and E.sum(dim=1, keepdim=True) keep a column of shape (n, 1) that broadcasts "
    "against (n, q).",
])
q3 = Question(EXERCISE, "q3", "Softmax with a temperature", 2, check_softmax_temperature,
              cases=softmax_temperature_cases, forbidden=SOFTMAX_FUNCTIONS, hints=[
    "softmax(Z / T): T = 1 is the plain softmax; a large T flattens the rows, a small T sharpens them.",
    "Check T first (math.isfinite(T) and T > 0, else raise ValueError), then reuse softmax_rows on Z / T.",
])
q4 = Question(EXERCISE, "q4", "Entropy of each row", 2, check_entropy, cases=entropy_cases,
              forbidden=SOFTMAX_FUNCTIONS, hints=[
    "H(p) = -sum_j p_j log p_j, in nats (torch.log is the natural logarithm), one number per row.",
    "0 * log(0) is 0 * (-inf) = nan in floating point, but the term of a zero probability counts as 0: "
    "torch.special.xlogy(p, p) computes p log p with exactly that convention.",
])
QUESTIONS = [q1, q2, q3, q4]
