"""Checks of exercise 06: generalisation -- a seeded validation split, the 95 % interval of an accuracy, early
stopping on validation data, the loss against the error rate, and choosing on validation, reporting on test.

Each question's inputs come from its ``*_cases(rng)`` function: fixed ones that carry the specific messages and
random ones drawn from ``rng`` (a fresh seed for the split, a fresh count of right answers, a fresh network and
batches), fresh for every class grading, in which the checkers below run in the grader's process on what the
learner's code returned (:mod:`book.protocol`). Questions that must see how the learner's code treated its
arguments (a history it must only read) run it through a driver of :mod:`book.drivers_ex06_08`.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F

from book.checks.common import Forbidden, as_number, call, callable_answer, expect_error, forbidden_calls, raises, show
from book.probes import RecordingNet
from book.language import deferred, say, translate
from book.protocol import Case, drive
from book.questions import Incorrect, NotAttempted, Question

EXERCISE = "06_generalisation"
TITLE = "Generalisation: validation split, intervals, early stopping, loss vs error rate"
PASS_MARK = 0.6

Z95 = 1.959963984540054  # the two-sided 95 % point of the standard normal
DRIVERS = "book.drivers_ex06_08"


class _CourseFunctions(Forbidden):
    """The message of :func:`book.checks.common.forbidden_calls` when the grader judges a record: the record
    says a forbidden course function was called, and :mod:`book.replay` asks the active mode whose ``names``
    hold it for the message. Torch's own functions pass through."""

    def message(self, called: str) -> str:
        return say("`{name}` calls {called}: {instead}", name=self.name, called=called,
                   instead=translate(self.instead))


def dotted(f) -> str:
    return f"{f.__module__}.{f.__qualname__}"


@contextlib.contextmanager
def not_calling(functions, name: str, instead: str):
    """The learner's code inside must not call ``functions`` (course functions the question asks to write):
    caught by their code objects in self-study, by the record when the grader judges; the same message."""
    with _CourseFunctions({dotted(f) for f in functions}, name, instead), forbidden_calls(functions, name, instead):
        yield


def driven(case, *answers):
    """What the case's driver observed (:func:`book.protocol.drive`); its Incorrect and NotAttempted are raised
    again as such (a record carries an exception's name and message)."""
    try:
        return drive(case, *answers)
    except (Incorrect, NotAttempted):
        raise
    except Exception as exc:
        kinds = {"Incorrect": Incorrect, "NotAttempted": NotAttempted}
        if type(exc).__name__ in kinds and type(exc).__module__ != "builtins":
            raise kinds[type(exc).__name__](str(exc)) from None
        raise


# --- q1: a seeded train/validation split ---------------------------------------------------------------------

def split_cases(rng):
    seed = int(torch.randint(0, 10_000, (1,), generator=rng))
    return [Case(50, 10, seed), Case(50, 10, seed), Case(50, 10, seed + 1), Case(1000, 300, seed)]


def index_set(t, what: str, on: str, name: str) -> list[int]:
    if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.is_floating_point() or t.dtype == torch.bool:
        raise Incorrect(say("on {on}, the {what} indices `{name}` returned are {kind} {t}; expected a 1-D tensor "
                            "of whole numbers (indices, as torch.randperm gives)", on=on, what=what, name=name,
                            kind=type(t).__name__, t=show(t)))
    return t.tolist()


def check_split(split, cases) -> None:
    """q1: (train_idx, val_idx): disjoint, together 0..n-1, val_size of them random, the same for the same seed
    and different for another; written, not borrowed from book.evaluation.validation_split."""
    from book.evaluation import validation_split

    name = "split"
    callable_answer(split, name)
    seen = {}
    for key, case in zip(("first", "again", "other", "large"), cases):
        n, val_size, s = case.args
        on = f"n={n}, val_size={val_size}, seed={s}"  # code, not words: said as it is
        with not_calling([validation_split], name, say("write the split yourself, from a seeded permutation")):
            got = call(split, n, val_size, s, name=name, on=on)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Incorrect(say("on {on}, `{name}` returned {kind} {got}; expected two tensors of indices: "
                                "return train_idx, val_idx", on=on, name=name, kind=type(got).__name__,
                                got=show(got)))
        train, val = (index_set(t, what, on, name) for t, what in zip(got, (say("training"), say("validation"))))
        if len(val) != val_size or len(train) != n - val_size:
            raise Incorrect(say("on {on}, `{name}` returned {n_train} training and {n_val} validation indices; "
                                "expected {want} and {val_size}", on=on, name=name, n_train=len(train), n_val=len(val),
                                want=n - val_size,
                                val_size=val_size))
        if set(train) & set(val):
            raise Incorrect(say("on {on}, {n} indices are in both parts: an example used for training must never "
                                "be used to validate", on=on, n=len(set(train) & set(val))))
        if sorted(train + val) != list(range(n)):
            raise Incorrect(say("on {on}, the two parts together do not hold each of 0..{n} exactly once", on=on,
                                n=n - 1))
        seen[key] = (sorted(val), sorted(train))
    seed = cases[0].args[2]
    first_val = seen["first"][0]
    if first_val in (list(range(10)), list(range(40, 50))):
        raise Incorrect(say("`{name}` put the first examples into validation: draw the validation examples at "
                            "random (a data set may be sorted, e.g. by class)", name=name) if first_val[0] == 0 else
                        say("`{name}` put the last examples into validation: draw the validation examples at "
                            "random (a data set may be sorted, e.g. by class)", name=name))
    if seen["first"] != seen["again"]:
        raise Incorrect(say("`{name}` gave another split when called again with seed {seed}: use "
                            "torch.Generator().manual_seed(seed) for the permutation, so the split is the same "
                            "in every session", name=name, seed=seed))
    if seen["first"] == seen["other"]:
        raise Incorrect(say("`{name}` gave the same split for seeds {seed} and {seed2}: the seed must choose the "
                            "split", name=name, seed=seed, seed2=seed + 1))


# --- q2: how sure an accuracy is -----------------------------------------------------------------------------

INTERVAL_CASES = [(8_312, 10_000), (83, 100), (1, 10), (10, 10), (0, 50)]
NOT_COUNTS = [(11, 10), (-1, 10), (0, 0)]


def interval_cases(rng):
    n = int(torch.randint(200, 20_000, (1,), generator=rng))
    correct = int(torch.randint(n // 2, n, (1,), generator=rng))
    return [Case(c, n) for c, n in INTERVAL_CASES + [(correct, n)] + NOT_COUNTS]


def check_interval(confidence_interval, cases) -> None:
    """q2: (p, low, high) with p = correct / n and p ± 1.96 sqrt(p (1 - p) / n) clipped to [0, 1]; ValueError
    unless 0 <= correct <= n and n > 0."""
    from book.evaluation import accuracy_interval, binomial_se

    name = "confidence_interval"
    callable_answer(confidence_interval, name)
    counts = [c.args for c in cases]
    for correct, n in counts[:-len(NOT_COUNTS)]:
        on = say("{correct:,} correct of {n:,}", correct=correct, n=n)
        with not_calling([accuracy_interval, binomial_se], name, say("compute the standard error and the "
                                                                     "interval yourself")):
            got = call(confidence_interval, correct, n, name=name, on=on)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise Incorrect(say("on {on}, `{name}` returned {kind} {got}; expected three numbers: return "
                                "estimate, low, high", on=on, name=name, kind=type(got).__name__, got=show(got)))
        estimate, low, high = (as_number(v, name, on) for v in got)
        p = correct / n
        se = math.sqrt(p * (1 - p) / n)
        want = (p, max(0.0, p - Z95 * se), min(1.0, p + Z95 * se))
        # z = 1.96 (as the notebook says) and the exact 1.95996... are both right
        if abs(estimate - p) < 1e-9 and all(abs(a - b) <= 1e-3 * se + 1e-9 for a, b in zip((low, high), want[1:])):
            continue
        if abs(estimate - 100 * p) < 1e-6:
            raise Incorrect(say("on {on}, `{name}` returned {estimate:.4g} as the estimate: give proportions "
                                "between 0 and 1 ({p:.4g}), not percentages", on=on, name=name, estimate=estimate,
                                p=p))
        if abs(estimate - p) > 1e-6:
            raise Incorrect(say("on {on}, the estimate is {estimate:.6g}, expected {p:.6g} (correct / n)", on=on,
                                estimate=estimate, p=p))
        half = (high - low) / 2
        shown = say("returned ({estimate:.6g}, {low:.6g}, {high:.6g}), expected ({want:.6g}, {want_low:.6g}, "
                    "{want_high:.6g})", estimate=estimate, low=low, high=high, want=want[0], want_low=want[1],
                    want_high=want[2])
        slips = {
            say("the standard error is sqrt(p (1 - p) / n): the square root of the whole fraction"):
                math.sqrt(p * (1 - p)) / n,
            say("the standard error is a square root: sqrt(p (1 - p) / n)"): p * (1 - p) / n,
            say("that is one standard error each side (a 68 % interval); a 95 % interval goes 1.96 of them each "
                "side"):
                se / Z95,
            say("use z = 1.96, the 95 % point of the normal distribution, not 2"): 2 * se / Z95,
        }
        if 0 < low and high < 1:
            for why, wrong_se in slips.items():
                if abs(half - Z95 * wrong_se) <= 1e-3 * Z95 * wrong_se:
                    raise Incorrect(say("on {on}, `{name}` {shown}: {why}", on=on, name=name, shown=shown, why=why))
        if low < 0 or high > 1:
            raise Incorrect(say("on {on}, `{name}` {shown}: an accuracy lies between 0 and 1, so clip the "
                                "interval to [0, 1] (max(0, ...), min(1, ...))", on=on, name=name, shown=shown))
        raise Incorrect(say("on {on}, `{name}` {shown}: estimate ± 1.96 standard errors, sqrt(p (1 - p) / n)",
                            on=on, name=name, shown=shown))
    for correct, n in counts[-len(NOT_COUNTS):]:
        on = f"correct={correct}, n={n}"  # code, not words: said as it is
        expect_error(raises(confidence_interval, (correct, n), name, (ValueError,)), name, on,
                     say("correct must lie between 0 and n, and n must be positive"), say("a ValueError"))


# --- q3: early stopping on validation loss -------------------------------------------------------------------

def history(val_losses, first_epoch=1, test_best=None):
    """An epoch-by-epoch record like a training monitor's: falling training loss, the given validation losses,
    and test losses whose best epoch is ``test_best`` (recorded, and never to be chosen on)."""
    rows = []
    for i, val in enumerate(val_losses):
        epoch = first_epoch + i
        test = val + 0.02 - (0.5 if epoch == test_best else 0.0)
        rows.append({"epoch": epoch, "train_loss": round(1.0 / (i + 1), 4), "val_loss": val,
                     "val_acc": round(1 - val / 2, 4), "test_loss": round(test, 4)})
    return rows


# (description, history, patience); in this order, so that each slip is named by the first case it shows in
STOPPING_CASES = [
    (deferred("a validation loss that ties its best at epoch 3 (patience 2)"),
     history([0.8, 0.6, 0.6, 0.7, 0.7, 0.5, 0.55], test_best=5), 2),
    (deferred("a curve that improves again after training stopped (patience 3)"),
     history([0.90, 0.70, 0.62, 0.60, 0.61, 0.60, 0.63, 0.64, 0.55, 0.50, 0.52], test_best=5), 3),
    (deferred("training resumed at epoch 21 (patience 2)"),
     history([0.70, 0.66, 0.64, 0.65, 0.66, 0.65], first_epoch=21, test_best=22), 2),
    (deferred("a curve that never stops improving (patience 4)"), history([0.9, 0.8, 0.7, 0.65], test_best=2), 4),
]


def random_history(rng):
    """A fresh curve: the validation loss falls, then wanders upwards with a dip that comes too late."""
    n = int(torch.randint(8, 16, (1,), generator=rng))
    drops = (torch.rand(n, generator=rng) * 0.1).tolist()
    values, value = [], 1.2
    for i, d in enumerate(drops):
        value = value - d if i < n // 2 else value + d / 2
        values.append(round(value, 3))
    values[-1] = round(min(values) - 0.05, 3)  # the late dip, after training stopped
    first = int(torch.randint(1, 30, (1,), generator=rng))
    return history(values, first_epoch=first, test_best=first + n - 2)


def early_stopping_cases(rng):
    patience = int(torch.randint(2, 4, (1,), generator=rng))
    cases = [(on, rows, patience) for on, rows, patience in STOPPING_CASES]
    cases.append((f"a fresh validation curve (patience {patience})", random_history(rng), patience))
    return [Case("early_stopping", on, [dict(r) for r in rows], patience, driver=f"{DRIVERS}.with_arguments")
            for on, rows, patience in cases]


def stopping_reference(rows, patience, strict=True, use_patience=True):
    """The epoch early stopping keeps; with strict=False a tie counts as an improvement (a slip)."""
    best, best_i = None, None
    for i, row in enumerate(rows):
        value = row["val_loss"]
        if best is None or value < best or (not strict and value == best):
            best, best_i = value, i
        elif use_patience and i - best_i >= patience:
            break
    return best_i


def check_early_stopping(early_stopping, cases) -> None:
    """q3: the epoch whose weights early stopping keeps: the lowest val_loss seen before `patience` epochs in a
    row bring no (strict) improvement."""
    import copy

    from book.evaluation import EarlyStopping

    name = "early_stopping"
    callable_answer(early_stopping, name)
    for i, case in enumerate(cases):
        _, on, rows, patience = case.args  # the description is English data of the case: said here
        on = translate(on) if i < len(STOPPING_CASES) else \
            say("a fresh validation curve (patience {patience})", patience=patience)
        rows = copy.deepcopy(rows)
        with not_calling([EarlyStopping], name, say("write the bookkeeping yourself: a loop over the epochs")):
            out = driven(case, early_stopping)
        got, after = out["result"], out["arguments"][0]
        if after != rows:
            raise Incorrect(say("on {on}, `{name}` changed the history it was given; only read it", on=on, name=name))
        if isinstance(got, bool) or not isinstance(got, int):
            raise Incorrect(say("on {on}, `{name}` returned {kind} {got}; expected the epoch number (an int, "
                                "e.g. history[i]['epoch'])", on=on, name=name, kind=type(got).__name__,
                                got=show(got)))
        right_i = stopping_reference(rows, patience)
        want = rows[right_i]["epoch"]
        if got == want:
            continue
        epochs = [row["epoch"] for row in rows]
        stopped = min(len(rows) - 1, right_i + patience)

        def epoch_of(key, pick=min):
            return pick(rows, key=lambda row: row[key])["epoch"]

        slips = [
            (rows[stopping_reference(rows, patience, strict=False)]["epoch"],
             say("an epoch that only equals the best validation loss is no improvement: keep the earlier one")),
            (epoch_of("test_loss"), say("that is the epoch with the lowest *test* loss: the test set must play "
                                        "no part in any choice; choose on val_loss")),
            (epoch_of("train_loss"), say("that is the epoch with the lowest training loss, which keeps falling "
                                         "while the model over-fits; choose on val_loss")),
            (rows[stopping_reference(rows, patience, use_patience=False)]["epoch"],
             say("that is the best epoch of the whole curve, but training would have stopped after epoch "
                 "{epoch}, {patience} epochs without improvement: the later epochs are never trained",
                 epoch=rows[stopped]['epoch'], patience=patience)),
            (rows[stopped]["epoch"], say("that is the epoch at which training stops; early stopping keeps the "
                                         "weights of the best epoch before it")),
            (right_i, say("that is a position in the list; return the epoch number, history[i]['epoch']")),
            (right_i + 1, say("that is a position counted from 1; return the epoch number, history[i]['epoch']")),
        ]
        for value, why in slips:
            if got == value and value != want:
                raise Incorrect(say("on {on} (epochs {first}..{last}), `{name}` returned {got}, expected "
                                    "{want}: {why}", on=on, first=epochs[0], last=epochs[-1], name=name, got=got,
                                    want=want, why=why))
        raise Incorrect(say("on {on} (epochs {first}..{last}), `{name}` returned {got}, expected {want}", on=on,
                            first=epochs[0], last=epochs[-1], name=name, got=got, want=want))


# --- q4: the loss and the error rate -------------------------------------------------------------------------

def evaluate_cases(rng):
    """A network that notes how it was called (book.probes.RecordingNet, fresh weights) and three batches of
    4, 4 and 2 examples, so that a mean over batches differs from a mean over examples."""
    weight = torch.randn(2, 3, generator=rng).requires_grad_()
    X = torch.randn(10, 2, generator=rng) * 2
    y = torch.randint(0, 3, (10,), generator=rng)
    return [Case(RecordingNet(weight), [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])])]


def check_evaluate(evaluate, cases) -> None:
    """q4: (mean cross-entropy per example, wrong / all) over batches of different sizes, without a graph."""
    name = "evaluate"
    on = say("3 batches of 4, 4 and 2 examples")
    net, batches = cases[0].args
    got = call(evaluate, net, batches, name=name, on=on)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Incorrect(say("on {on}, `{name}` returned {kind} {got}; expected two numbers: return mean_loss, "
                            "error_rate", on=on, name=name, kind=type(got).__name__, got=show(got)))
    loss, error = (as_number(v, name, on) for v in got)
    if net.calls == 0:
        raise Incorrect(say("on {on}, `{name}` never called `net`", on=on, name=name))
    with torch.no_grad():
        per_batch = [(F.cross_entropy(Xb @ net.weight, yb, reduction="sum").item(),
                      ((Xb @ net.weight).argmax(1) != yb).sum().item(), len(yb)) for Xb, yb in batches]
    n = sum(b[2] for b in per_batch)
    want_loss, want_error = sum(b[0] for b in per_batch) / n, sum(b[1] for b in per_batch) / n
    batch_means = [b[0] / b[2] for b in per_batch]
    if abs(loss - want_loss) > 1e-5:
        if abs(loss - sum(batch_means) / n) < 1e-5:
            why = (say("the batches' *mean* losses were added and divided by the number of examples, which "
                       "divides twice (a loss 64 times too small with batches of 64): add the *summed* losses, "
                       "F.cross_entropy(..., reduction='sum'), or mean loss x batch size"))
        elif abs(loss - sum(batch_means) / len(per_batch)) < 1e-5:
            why = (say("that is the average of the batches' mean losses; the last batch is smaller, so weight "
                       "each batch by its size: total summed loss / number of examples"))
        elif abs(loss - want_error) < 1e-5:
            why = say("that is the error rate, wrong / all; the loss is the mean cross-entropy of the logits")
        else:
            why = say("expected the mean cross-entropy per example over all batches")
        raise Incorrect(say("on {on}, the loss is {loss:.5g}, expected {want_loss:.5g}: {why}", on=on, loss=loss,
                            want_loss=want_loss, why=why))
    if abs(error - want_error) > 1e-6:
        if abs(error - (1 - want_error)) < 1e-6:
            why = say("that is the accuracy; the error rate is wrong / all = 1 - accuracy")
        elif abs(error - want_loss) < 1e-5:
            why = say("that is the loss again; the error rate counts the wrong predictions: wrong / all")
        else:
            why = (say("expected wrong / all = {want_error} / {n} (the prediction is the largest logit)",
                       want_error=int(round(want_error * n)), n=n))
        raise Incorrect(say("on {on}, the error rate is {error:.5g}, expected {want_error:.5g}: {why}", on=on,
                            error=error, want_error=want_error, why=why))
    if net.grad_enabled:
        raise Incorrect(say("`{name}` called `net` with gradient tracking on: evaluation builds no graph, so run "
                            "the loop inside torch.no_grad()", name=name))


# --- q5: choose on validation, report on test ----------------------------------------------------------------

CHOICE_CASES = [
    (deferred("4 learning rates"), {"lr 0.03": (0.801, 0.809), "lr 0.1": (0.823, 0.812), "lr 0.3": (0.819, 0.817),
                          "lr 1.0": (0.771, 0.768)}),
    (deferred("3 models"), {"softmax regression": (0.842, 0.835), "MLP, 1 hidden layer": (0.881, 0.874),
                  "MLP, 2 hidden layers": (0.879, 0.880)}),
]


def choose_cases(rng):
    """The fixed tables, and a fresh one in which the best on test is never the best on validation."""
    k = int(torch.randint(4, 9, (1,), generator=rng))
    accs = (0.75 + 0.15 * torch.rand(k, 2, generator=rng)).tolist()
    best_val = max(range(k), key=lambda i: accs[i][0])
    other = (best_val + 1) % k
    accs[other][1] = max(a[1] for a in accs) + 0.01  # another configuration is the best on the test set
    fresh = {f"config {i}": (round(v, 4), round(t, 4)) for i, (v, t) in enumerate(accs)}
    return [Case("choose_and_report", on, {n: {"val_acc": v, "test_acc": t} for n, (v, t) in table.items()},
                 driver=f"{DRIVERS}.with_arguments")
            for on, table in CHOICE_CASES + [(f"{k} fresh configurations", fresh)]]


def check_choose(choose_and_report, cases) -> None:
    """q5: the name with the best validation accuracy, and its test accuracy."""
    import copy

    name = "choose_and_report"
    callable_answer(choose_and_report, name)
    for i, case in enumerate(cases):
        _, on, results = case.args  # the description is English data of the case: said here
        on = translate(on) if i < len(CHOICE_CASES) else say("{k} fresh configurations", k=len(results))
        results = copy.deepcopy(results)
        out = driven(case, choose_and_report)
        got, after = out["result"], out["arguments"][0]
        if after != results:
            raise Incorrect(say("on {on}, `{name}` changed the results it was given; only read them", on=on,
                                name=name))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Incorrect(say("on {on}, `{name}` returned {kind} {got}; expected a pair: return name, "
                                "test_accuracy", on=on, name=name, kind=type(got).__name__, got=show(got)))
        chosen, reported = got
        by_val = max(results, key=lambda k: results[k]["val_acc"])
        by_test = max(results, key=lambda k: results[k]["test_acc"])
        if not isinstance(chosen, str) or chosen not in results:
            raise Incorrect(say("on {on}, `{name}` chose {chosen!r}, which is not one of the results' names", on=on,
                                name=name, chosen=chosen))
        if chosen == by_test and chosen != by_val:
            raise Incorrect(say("on {on}, `{name}` chose {chosen!r}, the best on the *test* set: a choice made "
                                "on the test set makes its accuracy an over-statement. Choose on val_acc", on=on,
                                name=name, chosen=chosen))
        if chosen != by_val:
            raise Incorrect(say("on {on}, `{name}` chose {chosen!r}; expected the highest validation accuracy",
                                on=on, name=name, chosen=chosen))
        reported = as_number(reported, name, on)
        if abs(reported - results[chosen]["val_acc"]) < 1e-9:
            raise Incorrect(say("on {on}, `{name}` reported the validation accuracy of its choice; that number "
                                "was used to choose, so it is too high. Report the chosen one's test accuracy",
                                on=on, name=name))
        if abs(reported - max(r["test_acc"] for r in results.values())) < 1e-9 and by_val != by_test:
            raise Incorrect(say("on {on}, `{name}` reported the best test accuracy of all; report the test "
                                "accuracy of the configuration chosen on validation", on=on, name=name))
        if abs(reported - results[chosen]["test_acc"]) > 1e-9:
            raise Incorrect(say("on {on}, `{name}` reported {reported:.4g}; expected the chosen one's test "
                                "accuracy, {test_acc:.4g}", on=on, name=name, reported=reported,
                                test_acc=results[chosen]['test_acc']))


COURSE_VERSIONS = ["book.evaluation.validation_split", "book.evaluation.accuracy_interval",
                   "book.evaluation.binomial_se", "book.evaluation.EarlyStopping"]

q1 = Question(EXERCISE, "q1", "A seeded train/validation split", 2, check_split, cases=split_cases,
              forbidden=COURSE_VERSIONS[:1], hints=[
    "A random permutation of 0..n-1 from your own generator: torch.randperm(n, generator=torch.Generator()"
    ".manual_seed(seed)).",
    "Its first val_size entries are the validation indices, the rest the training indices: return perm[val_size:], "
    "perm[:val_size].",
])
q2 = Question(EXERCISE, "q2", "How sure an accuracy is: a 95 % interval", 2, check_interval, cases=interval_cases,
              forbidden=COURSE_VERSIONS[1:3], hints=[
    "p = correct / n; the standard error is math.sqrt(p * (1 - p) / n); the interval is p ± 1.96 standard errors.",
    "Check 0 <= correct <= n and n > 0 first (raise ValueError), and clip: low = max(0.0, p - 1.96 * se), "
    "high = min(1.0, p + 1.96 * se).",
])
q3 = Question(EXERCISE, "q3", "Early stopping on validation loss", 2, check_early_stopping,
              cases=early_stopping_cases, forbidden=COURSE_VERSIONS[3:], hints=[
    "Walk through the rows in order, remembering the lowest val_loss so far and the row it came from. A row "
    "improves only if its val_loss is strictly lower.",
    "When the current row is `patience` rows after the best one and did not improve, stop (break). Return the best "
    "row's 'epoch'. Never look at test_loss or train_loss.",
])
q4 = Question(EXERCISE, "q4", "The loss is not the error rate", 2, check_evaluate, cases=evaluate_cases, hints=[
    "Inside torch.no_grad(), keep three running sums over the batches: the summed cross-entropy "
    "(F.cross_entropy(logits, y, reduction='sum').item()), the wrong predictions, and the examples.",
    "Return total_loss / examples and wrong / examples; a prediction is logits.argmax(dim=1).",
])
q5 = Question(EXERCISE, "q5", "Choose on validation, report on test", 2, check_choose, cases=choose_cases, hints=[
    "max(results, key=lambda name: results[name]['val_acc']) is the name with the best validation accuracy.",
    "Return that name and results[name]['test_acc'], the only honest number for it.",
])
QUESTIONS = [q1, q2, q3, q4, q5]
