"""Checks of exercise 02: cross-entropy -- integer-array indexing, log-sum-exp, the loss from logits, its gradient.

Each question's inputs come from its ``*_cases(rng)`` function (fixed ones for the specific messages, random ones
drawn from ``rng``): in a class grading they are fresh, and the checkers run in the grader's process on what the
learner's code returned (:mod:`book.protocol`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from book.checks.common import call, expect_close, expect_finite, expect_tensor, expect_unchanged, forbid, show
from book.language import deferred, say
from book.protocol import Case
from book.questions import Incorrect, Question

EXERCISE = "02_cross_entropy"
TITLE = "Cross-entropy: indexing, log-sum-exp, gradient"
PASS_MARK = 0.6

LOSSES = {"cross_entropy", "nll_loss", "nll_loss_nd", "cross_entropy_loss", "nll_loss_forward", "nll_loss2d",
          "nll_loss2d_forward"}
BUILT_INS = {"softmax", "log_softmax", "_softmax", "_log_softmax", "_safe_softmax", "logsumexp", "special_softmax",
             "special_log_softmax", "special_logsumexp", "softmin", "gumbel_softmax"} | LOSSES
WRITE_IT = deferred("write it yourself from exp, log, max and sum")


def run(fn, name, *args, banned=BUILT_INS):
    """Call the learner's function with PyTorch's own versions ruled out and the inputs guarded against change."""
    copies = [a.clone() for a in args]
    on = say(" and ").join(show(a) for a in args)
    with forbid(banned, name, WRITE_IT):
        out = call(fn, *args, name=name, on=on)
    for before, after in zip(copies, args):
        expect_unchanged(before, after, name, say("an input"))
    return out


def pick_cases(rng):
    return [Case(torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5], [0.8, 0.1, 0.1], [0.2, 0.2, 0.6]]),
                 torch.tensor([0, 2, 1, 2])),
            Case(torch.tensor([[0.1, 0.2, 0.3, 0.15, 0.25], [0.5, 0.1, 0.1, 0.2, 0.1]]), torch.tensor([4, 0])),
            Case(torch.rand(1000, 10, generator=rng), torch.randint(0, 10, (1000,), generator=rng))]


def check_pick(pick, cases):
    """q1: y_hat[i, y[i]] for every row i, by integer-array indexing, shape (n,)."""
    name = "pick"
    for y_hat, y in (c.args for c in cases[:2]):
        on = say("y_hat {y_hat} and y = {y}", y_hat=show(y_hat), y=y.tolist())
        out = run(pick, name, y_hat, y)
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (len(y), len(y)):
            raise Incorrect(say("on {on}, `{name}` returned shape {shape}, one row of picks per example; "
                                "expected one number per example, shape ({n},): each row must be paired with its "
                                "own label only", on=on, name=name, shape=tuple(out.shape), n=len(y)))
        out = expect_tensor(out, (len(y),), name, on)
        expect_close(out, y_hat[torch.arange(len(y)), y], name, on)
    y_hat, y = cases[2].args
    on = say("{n} random rows", n=len(y))
    expect_close(expect_tensor(run(pick, name, y_hat, y), (len(y),), name, on), y_hat[torch.arange(len(y)), y],
                 name, on)


def reference_lse(Z):
    Z = Z.double()
    m = Z.amax(dim=1)
    return m + (Z - m[:, None]).exp().sum(dim=1).log()


def logsumexp_cases(rng):
    return [Case(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])),
            Case(torch.tensor([[1000.0, 1000.0], [0.0, 1.0]])), Case(torch.tensor([[-1000.0, -1000.0], [0.0, 1.0]])),
            Case(torch.randn(6, 9, generator=rng) * 4)]


def check_logsumexp(logsumexp, cases):
    """q2: log(sum_j exp(z_j)) of every row, stable for large and very negative logits, shape (n,)."""
    name = "logsumexp"
    (Z,), (big,), (small,), (Z_random,) = (c.args for c in cases)
    out = run(logsumexp, name, Z)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 1):
        raise Incorrect(say("on {on}, `{name}` returned shape (2, 1), expected (2,): one number per row, "
                            "without the kept dimension", on=show(Z), name=name))
    out = expect_tensor(out, (2,), name, show(Z))
    expect_close(out, reference_lse(Z), name, show(Z))
    for Z, why in [(big, say("exp(1000) overflows to inf in float32")),
                   (small, say("exp(-1000) underflows to 0 in float32, and log(0) is -inf"))]:
        out = expect_tensor(run(logsumexp, name, Z), (2,), name, show(Z))
        expect_finite(out, name, show(Z), why)
        expect_close(out, reference_lse(Z), name, show(Z), why=why)
    on = say("{n} random rows of {q} logits", n=len(Z_random), q=Z_random.shape[1])
    expect_close(expect_tensor(run(logsumexp, name, Z_random), (len(Z_random),), name, on), reference_lse(Z_random),
                 name, on)


def cross_entropy_cases(rng):
    return [Case(torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 1.0], [0.0, -1.0, 3.0]]),
                 torch.tensor([0, 1, 2, 0])),
            Case(torch.tensor([[1000.0, 0.0], [0.0, 1000.0], [-1000.0, 1000.0]]), torch.tensor([1, 1, 0])),
            Case(torch.randn(6, 4, generator=rng).requires_grad_(), torch.randint(0, 4, (6,), generator=rng),
                 backward=True)]


def check_cross_entropy(cross_entropy, cases):
    """q3: the mean cross-entropy of a batch, from logits, stable and differentiable; a 0-dim tensor."""
    name = "cross_entropy"
    logits, y = cases[0].args
    on = say("logits {logits} and y = {y}", logits=show(logits), y=y.tolist())
    out = run(cross_entropy, name, logits, y)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (4,):
        raise Incorrect(say("on {on}, `{name}` returned shape (4,), one loss per example; expected their mean "
                            "over the batch, a single number (shape ())", on=on, name=name))
    out = expect_tensor(out, (), name, on)
    expected = F.cross_entropy(logits.double(), y)
    if abs(out.item() + expected.item()) < 1e-4:
        raise Incorrect(say("on {on}, `{name}` returned {value:.4g}: a loss is -log of a probability, so it is "
                            "never negative (check the sign)", on=on, name=name, value=out.item()))
    if abs(out.item() - expected.item() * 4) < 1e-3:
        raise Incorrect(say("on {on}, `{name}` returned {value:.4g}, the sum over the 4 examples; expected their "
                            "mean", on=on, name=name, value=out.item()))
    expect_close(out, expected, name, on)
    logits, y = cases[1].args
    on = say("logits {logits} and y = {y}", logits=show(logits), y=y.tolist())
    out = expect_tensor(run(cross_entropy, name, logits, y), (), name, on)
    expect_finite(out, name, on, say("softmax rounds these probabilities to 0 and log(0) = -inf: stay with "
                                     "logits until the end"))
    expect_close(out, F.cross_entropy(logits.double(), y), name, on)
    logits, y = cases[2].args
    on = say("{n} random rows", n=len(y))
    with forbid(BUILT_INS, name, WRITE_IT):
        out = expect_tensor(call(cross_entropy, logits, y, name=name, on=on), (), name, on)
    if not out.requires_grad:
        raise Incorrect(say("`{name}` is not differentiable: its result carries no gradient (did you use "
                            ".item(), numpy, or torch.no_grad()?); autograd must be able to train with it",
                            name=name))
    out.backward()
    expect_close(logits.grad, (F.softmax(logits.detach().double(), dim=1) - F.one_hot(y, logits.shape[1])) / len(y),
                 f"{name}(...).backward()", on, atol=1e-6)


def cross_entropy_grad_cases(rng):
    return [Case(torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 1.0], [0.0, -1.0, 3.0]]),
                 torch.tensor([0, 1, 2, 0])),
            Case(torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]), torch.tensor([2, 1])),
            Case(torch.randn(5, 7, generator=rng) * 3, torch.randint(0, 7, (5,), generator=rng))]


def check_cross_entropy_grad(cross_entropy_grad, cases):
    """q4: the gradient of the mean cross-entropy w.r.t. the logits, (softmax(O) - one_hot(y)) / N."""
    name = "cross_entropy_grad"

    def expected(O, y):
        return (F.softmax(O.double(), dim=1) - F.one_hot(y, O.shape[1])) / len(y)

    O, y = cases[0].args
    on = say("logits {logits} and y = {y}", logits=show(O), y=y.tolist())
    out = expect_tensor(run(cross_entropy_grad, name, O, y, banned=LOSSES), (4, 3), name, on)
    expect_finite(out, name, on)
    want = expected(O, y)
    got = out.detach().double()
    if torch.allclose(got, want * len(y), atol=1e-5):
        raise Incorrect(say("on {on}, `{name}` is {n} times too large: the loss is the mean over the batch's "
                            "{n} rows, and so is its gradient", on=on, name=name, n=len(y)))
    if torch.allclose(got, -want, atol=1e-5) or torch.allclose(got, -want * len(y), atol=1e-5):
        raise Incorrect(say("on {on}, `{name}` points the wrong way: a step against the gradient must raise the "
                            "true class's logit, so that entry is negative", on=on, name=name))
    row_sums = got.sum(dim=1)
    if not torch.allclose(row_sums, torch.zeros_like(row_sums), atol=1e-6):
        raise Incorrect(say("on {on}, the rows of what `{name}` returned sum to {sums}; each row of the true "
                            "gradient sums to 0 (probabilities sum to 1, and so does the one-hot row)", on=on,
                            name=name, sums=show(row_sums.float())))
    expect_close(out, want, name, on, atol=1e-6)
    O, y = cases[1].args
    on = say("logits {logits} and y = {y}", logits=show(O), y=y.tolist())
    out = expect_tensor(run(cross_entropy_grad, name, O, y, banned=LOSSES), (2, 3), name, on)
    expect_finite(out, name, on, say("exp(1000) overflows: compute the softmax stably"))
    expect_close(out, expected(O, y), name, on, atol=1e-6)
    O, y = cases[2].args
    on = say("{n} random rows of {q} logits", n=len(y), q=O.shape[1])
    out = expect_tensor(run(cross_entropy_grad, name, O, y, banned=LOSSES), tuple(O.shape), name, on)
    expect_close(out, expected(O, y), name, on, atol=1e-6)


q1 = Question(EXERCISE, "q1", "Pick each row's true-class probability", 2, check_pick, cases=pick_cases,
              forbidden=BUILT_INS, hints=[
    "For row i you want y_hat[i, y[i]]: one row index and one column index per example.",
    "Index with two tensors of the same length n: the row numbers torch.arange(n) and the labels y. "
    "y_hat[:, y] is not it: that takes every label's column for every row.",
])
q2 = Question(EXERCISE, "q2", "Stable log-sum-exp of each row", 2, check_logsumexp, cases=logsumexp_cases,
              forbidden=BUILT_INS, hints=[
    "log(sum_j exp(z_j)) = m + log(sum_j exp(z_j - m)) for any number m. Which m keeps exp from overflowing?",
    "Take m as the row's maximum: Z.amax(dim=1, keepdim=True) for the shift, and add m back (without the kept "
    "dimension) at the end.",
])
q3 = Question(EXERCISE, "q3", "Cross-entropy from logits", 3, check_cross_entropy, cases=cross_entropy_cases,
              forbidden=BUILT_INS, hints=[
    "-log softmax(o)_y = -o_y + log(sum_j exp(o_j)): you have both pieces from q1 and q2.",
    "Per example: logsumexp(O) - pick(O, y); then the mean over the batch. Never take log(softmax(O)).",
])
q4 = Question(EXERCISE, "q4", "The gradient: softmax minus one-hot", 3, check_cross_entropy_grad,
              cases=cross_entropy_grad_cases, forbidden=LOSSES, hints=[
    "The derivative of -log softmax(o)_y with respect to o_j is softmax(o)_j - [j == y].",
    "Compute the row-wise softmax (torch.softmax(O, dim=1) is allowed here), subtract 1 at each row's true "
    "class (integer-array indexing, or F.one_hot), and divide by N because the loss is a mean over N rows.",
])
QUESTIONS = [q1, q2, q3, q4]
