"""Checks of exercise 08: the Otto-style challenge -- Kaggle's log loss, count features, softmax regression, an
MLP, and a submission file.

Each question's inputs come from its ``*_cases(rng)`` function, fresh for every class grading, in which the
checkers below run in the grader's process on what the learner's code returned (:mod:`book.protocol`). The
models of q3 and q4 are scored on fresh rows of the data's generator, drawn for each grading and never seen by
the notebook (like Kaggle's private leaderboard), through the learner's own ``prepare`` of q2: a driver of
:mod:`book.drivers_ex06_08` gets the rows' counts, only this module their labels. The reference functions of the
course (``book.kaggle.log_loss``, ``book.otto.transform`` / ``standardise``, ``book.kaggle.read_submission`` /
``score_submission``) are what the answers are measured against; the answers must not call the first of them
(nor ``row_log_losses`` and ``write_submission``). ``ANSWER_KEY`` names their module, but the notebook imports
``book.kaggle`` itself (its set-up uses ``log_loss``, and ``book.otto`` imports it), so the sandbox must show it
and the grader's answer key leaves it out (:func:`grader.stage.answer_key`): the functions are forbidden one
by one instead (``forbidden=`` of q1 and q5, dotted names), flagged in that question's answer cell by any route
(:mod:`grader.evasions`) and caught when called while checked (the recording's watch, :mod:`book.protocol`).
"""

from __future__ import annotations

import functools
import math
import tempfile
from pathlib import Path

import torch
from torch import nn

from book.checks.common import call, callable_answer, expect_tensor, expect_unchanged, show
from book.checks.ex06_generalisation import driven, not_calling
from book.checks.ex07_mlp import HeldOut, observed
from book.drivers_ex06_08 import TRAIN_ROWS_SEEN
from book.language import deferred, say, translate
from book.protocol import Case
from book.questions import Incorrect, NotAttempted, Question

EXERCISE = "08_otto"
TITLE = "The Otto-style challenge: log loss, count features, two models, a submission"
PASS_MARK = 0.6

NUM_FEATURES, NUM_CLASSES = 93, 9
SOFTMAX_TARGET, MLP_TARGET = 0.70, 0.52
HOLDOUT_SIZE = 20_000
HOLDOUT_SEED = 606  # the check's fresh rows: a random stream apart from the notebook's training and test rows
EPS = 1e-15  # Kaggle's clipping constant
ANSWER_KEY = ("book.kaggle",)  # what q1 and q5 ask for; shown all the same (the notebook imports it): see above
DRIVERS = "book.drivers_ex06_08"


# --- data the checks share (generated once per kernel) -------------------------------------------------------

@functools.lru_cache(maxsize=1)
def otto_data():
    """The notebook's data set (``load_otto()`` with its defaults): its training counts and test labels."""
    from book.otto import load_otto

    return load_otto()


def holdout(rng) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh rows of the same generator, counts and labels, that the notebook never sees: drawn with a seed
    from ``rng`` (a fresh one for every class grading; self-study draws with a fixed one)."""
    return otto_data().model.sample(HOLDOUT_SIZE, HOLDOUT_SEED + int(torch.randint(0, 1 << 30, (1,),
                                                                                  generator=rng)))


def as_float(value, name: str, on: str, n_rows: int) -> float:
    """A Python number, or Incorrect saying what came back instead."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 1 and len(value) == n_rows:
            raise Incorrect(say("on {on}, `{name}` returned one value per row (a tensor of shape {shape}); the "
                                "log loss is their mean, one number", on=on, name=name, shape=tuple(value.shape)))
        raise Incorrect(say("on {on}, `{name}` returned a tensor ({value}); return a Python float (.item() or "
                            "float(...))", on=on, name=name, value=show(value)))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Incorrect(say("on {on}, `{name}` returned {kind} {value}, expected a float", on=on, name=name,
                            kind=type(value).__name__, value=show(value)))
    return float(value)


# --- q1: Kaggle's multi-class log loss -----------------------------------------------------------------------

def slips(p: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The right log loss of (p, y) and what common slips compute instead: message -> value."""
    p, rows = p.double(), torch.arange(len(y))

    def score(q, reduce=torch.mean, log=torch.log):
        return -reduce(log(q[rows, y])).item()

    def rows_normalised(q):
        return q / q.sum(dim=1, keepdim=True)

    clipped = p.clamp(EPS, 1 - EPS)
    right = rows_normalised(clipped)
    return {
        "right": score(right),
        say("a probability of 0 at the true class gives -log 0 = inf: clip every entry to [1e-15, 1 - 1e-15] "
            "before taking the log"): score(rows_normalised(p)),
        say("rows that do not sum to 1 must be divided by their sum (after clipping)"): score(clipped),
        say("entries above 1 must be clipped too, to 1 - 1e-15: clip both ends (torch.clamp(p, 1e-15, 1 - 1e-15))"):
            score(rows_normalised(p.clamp(min=EPS))),
        say("Kaggle clips first and then divides each row by its sum; you renormalised first"):
            score(rows_normalised(p).clamp(EPS, 1 - EPS)),
        say("that is the sum over the rows; the log loss is their mean"): score(right, reduce=torch.sum),
        say("use the natural logarithm (torch.log), not log2"): score(right, log=torch.log2),
        say("use the natural logarithm (torch.log), not log10"): score(right, log=torch.log10),
        say("probabilities[:, labels] picks whole columns (an N x N matrix); pick one entry per row, "
            "probabilities[torch.arange(N), labels]"): -torch.log(right[:, y]).mean().item(),
    }


def log_loss_inputs(g) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(description, probabilities, labels): ordinary rows (drawn with ``g``), zeros, and rows that do not sum
    to 1."""
    ordinary = torch.softmax(torch.randn(5, NUM_CLASSES, generator=g) * 2, dim=1)  # float32, as a model gives
    ordinary_labels = torch.cat([ordinary[:3].argmax(1), torch.tensor([3, 8])])  # 3 rows right, 2 rows wrong
    zeros = torch.zeros(4, NUM_CLASSES, dtype=torch.float64)
    zeros[0, 2] = 1.0  # certain and right
    zeros[1, 5] = 1.0  # certain and wrong
    zeros[2, :3] = torch.tensor([0.5, 0.3, 0.2])  # a zero at the true class
    zeros[3] = 1 / NUM_CLASSES
    unnormalised = torch.full((4, NUM_CLASSES), 0.2, dtype=torch.float64)  # rows summing to 1.8
    unnormalised[1] = 0.05  # sums to 0.45
    unnormalised[2] = torch.tensor([0.0, 0.25, 0.25, 0, 0, 0, 0, 0, 0])  # a zero at the true class, sum 0.5
    unnormalised[3] = torch.tensor([3.0, 1.0, 1.0, 0, 0, 0, 0, 0, 0])  # scores above 1
    return [
        (say("5 rows of ordinary probabilities (float32)"), ordinary, ordinary_labels),
        (say("4 rows with zeros: one-hot right, one-hot wrong, a 0 at the true class, uniform"), zeros,
         torch.tensor([2, 0, 4, 1])),
        (say("4 rows that do not sum to 1 (sums 1.8, 0.45, 0.5 with a 0 at the true class, and 5 with entries "
             "above 1)"),
         unnormalised, torch.tensor([6, 1, 0, 0])),
    ]


BAD_SHAPES = [(deferred("4 rows of probabilities and 3 labels"),
               deferred("a label missing for a row (or one too many) must be an error, not a score of some rows")),
              (deferred("a 1-D tensor of probabilities (9,) and 1 label"),
               deferred("the probabilities must be a 2-D tensor, one row per example"))]


def log_loss_cases(rng):
    return [Case(p, y) for _, p, y in log_loss_inputs(rng)] + [
        Case(torch.full((4, NUM_CLASSES), 1 / NUM_CLASSES), torch.tensor([0, 1, 2])),
        Case(torch.full((NUM_CLASSES,), 1 / NUM_CLASSES), torch.tensor([0]))]


def expect_value_error(fn, p, y, name: str, on: str, why: str) -> None:
    try:
        out = fn(p, y)
    except ValueError:
        return
    except NotImplementedError:
        raise NotAttempted(say("`{name}` still raises NotImplementedError.", name=name)) from None
    except Exception as exc:  # KeyboardInterrupt (the grader's timeout) is not an Exception: it passes
        raise Incorrect(say("on {on}, `{name}` raised {kind} ({exc}); check the shapes yourself first and raise "
                            "a ValueError that says what was expected", on=on, name=name, kind=type(exc).__name__,
                            exc=exc)) from None
    raise Incorrect(say("on {on}, `{name}` returned {out} instead of raising ValueError: {why}", on=on, name=name,
                        out=show(out), why=why))


def check_log_loss(kaggle_log_loss, cases):
    """q1: clip to [1e-15, 1 - 1e-15], renormalise the rows, mean of -log p[i, y_i]; a float; ValueError on
    shapes that do not fit; inputs left alone; written, not borrowed from book.kaggle."""
    from book.kaggle import log_loss, row_log_losses

    name = "kaggle_log_loss"
    callable_answer(kaggle_log_loss, name)
    descriptions = [on for on, _, _ in log_loss_inputs(torch.Generator().manual_seed(0))]
    for on, case in zip(descriptions, cases):
        p, y = case.args
        before = p.clone()
        with not_calling([log_loss, row_log_losses], name, say("this question asks you to write the metric "
                                                               "yourself, from clamp, sum, log and mean")):
            out = call(kaggle_log_loss, p, y, name=name, on=on)
        expect_unchanged(before, p, name, say("the probabilities it was given"))
        got = as_float(out, name, on, len(y))
        want = log_loss(p, y)
        if math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-7):
            continue
        if not math.isfinite(got):
            raise Incorrect(say("on {on}, `{name}` returned {got}: a probability of 0 gives -log 0 = inf; clip "
                                "every entry to [1e-15, 1 - 1e-15] before taking the log", on=on, name=name,
                                got=got))
        for why, value in slips(p, y).items():
            if why != "right" and math.isfinite(value) and math.isclose(got, value, rel_tol=1e-5, abs_tol=1e-7):
                raise Incorrect(say("on {on}, `{name}` returned {got:.6g}, expected {want:.6g}: {why}", on=on,
                                    name=name, got=got, want=want, why=why))
        raise Incorrect(say("on {on}, `{name}` returned {got:.6g}, expected {want:.6g}", on=on, name=name, got=got,
                            want=want))
    for (on, why), case in zip(BAD_SHAPES, cases[len(descriptions):]):
        expect_value_error(kaggle_log_loss, *case.args, name, translate(on), translate(why))


# --- q2: log1p and standardisation with the training statistics ----------------------------------------------

def reference_features(train, test, kind="log1p"):
    from book.otto import standardise, transform

    return standardise(transform(train, kind), transform(test, kind))


def features_pair(out, name: str, on: str, shapes) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        what = show(out) if isinstance(out, torch.Tensor) else f"{type(out).__name__} {show(out)}"
        raise Incorrect(say("on {on}, `{name}` returned {what}; expected two tensors, the training features and "
                            "the test features: return train_features, test_features", on=on, name=name, what=what))
    return tuple(expect_tensor(t, shape, say("{name} ({which} features)", name=name, which=which), on)
                 for t, shape, which in zip(out, shapes, (say("training"), say("test"))))


def standardised_alone(x: torch.Tensor) -> torch.Tensor:
    """x standardised with its own per-column statistics (what a leak of the test statistics computes)."""
    std = x.std(0)
    return (x - x.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # loose enough for float32 and for the population (1/N) standard deviation instead of the 1/(N-1) one
    return bool(torch.allclose(a.double(), b.double(), rtol=2e-3, atol=2e-3))


def prepare_cases(rng):
    """2,000 training rows and 500 test rows (three times the counts: other statistics, so that a leak of them
    shows) with a feature that never occurs; then the same training rows with the first 50 test rows."""
    from book.otto import make_model

    model = make_model()
    seeds = torch.randint(0, 1 << 30, (2,), generator=rng).tolist()
    train, _ = model.sample(2_000, seed=seeds[0])
    test, _ = model.sample(500, seed=seeds[1])
    test = test * 3
    train[:, 4] = test[:, 4] = 0  # a feature that never occurs: standard deviation 0
    return [Case(train, test), Case(train.clone(), test[:50].clone())]


def check_prepare(prepare, cases):
    """q2: log1p of the counts, then per-column standardisation with the *training* rows' mean and standard
    deviation, applied to both; a column constant in training stays finite."""
    from book.otto import transform

    name = "prepare"
    callable_answer(prepare, name)
    train_in, test_in = cases[0].args
    train, test = train_in.clone(), test_in.clone()
    on = say("2,000 training rows and 500 test rows of counts (feature 5 is 0 everywhere)")
    out = call(prepare, train_in, test_in, name=name, on=on)
    expect_unchanged(train, train_in, name, say("the training counts"))
    expect_unchanged(test, test_in, name, say("the test counts"))
    got_train, got_test = features_pair(out, name, on, (tuple(train.shape), tuple(test.shape)))
    want_train, want_test = reference_features(train, test)

    for got, which in ((got_train, say("training")), (got_test, say("test"))):
        bad = ~torch.isfinite(got)
        if bad.any():
            columns = sorted(set(bad.nonzero()[:, 1].tolist()))
            if columns == [4]:
                raise Incorrect(say("on {on}, the {which} features of feature 5 are nan: its standard deviation "
                                    "in the training rows is 0, and 0 / 0 is nan. Divide such a column by 1 "
                                    "instead (it then stays 0)", on=on, which=which))
            raise Incorrect(say("on {on}, the {which} features hold nan or inf (in features {columns})", on=on,
                                which=which, columns=', '.join(str(c + 1) for c in columns[:5])))

    log_train, log_test = transform(train), transform(test)
    combined = standardised_alone(torch.cat([log_train, log_test]))
    if not close(got_train, want_train):
        if close(got_train, log_train):
            why = (say("they are log1p of the counts, not standardised: subtract each column's mean and divide "
                       "by its standard deviation, both computed on the training rows"))
        elif close(got_train, reference_features(train, test, "raw")[0]):
            why = say("they are the raw counts standardised: take log1p of the counts first, then standardise")
        elif close(got_train, reference_features(train, test, "anscombe")[0]):
            why = say("they are the Anscombe transform standardised; this question asks for log1p")
        elif close(got_train, combined[:len(train)]):
            why = (say("they were standardised with statistics of the training and test rows together: the test "
                       "rows leak into them. Use the mean and standard deviation of the training rows only"))
        elif close(got_train, (log_train - log_train.mean()) / log_train.std()):
            why = (say("one mean and one standard deviation for the whole table; standardise each column "
                       "(feature) on its own: mean(dim=0), std(dim=0)"))
        else:
            why = (say("expected log1p of the counts, standardised per column with the training rows' mean and "
                       "standard deviation"))
        raise Incorrect(say("on {on}, the training features are wrong: {why}", on=on, why=why))
    if not close(got_test, want_test):
        if close(got_test, standardised_alone(log_test)):
            why = (say("the test rows were standardised with their own mean and standard deviation: statistics "
                       "of the test set leak into its features (and new rows would be scaled differently). Use "
                       "the training rows' mean and standard deviation for both"))
        elif close(got_test, combined[len(train):]):
            why = (say("they were standardised with statistics of the training and test rows together: use the "
                       "training rows' mean and standard deviation only"))
        elif close(got_test, log_test):
            why = say("they are not standardised: apply the training rows' mean and standard deviation to them too")
        else:
            why = (say("expected log1p of the test counts, shifted and scaled with the training rows' mean and "
                       "standard deviation"))
        raise Incorrect(say("on {on}, the test features are wrong: {why}", on=on, why=why))
    # A leak that the comparisons above might miss: a test row's features must not depend on the other test rows.
    fewer = say("the same training rows and only the first 50 test rows")
    again_train, again_test = features_pair(call(prepare, *cases[1].args, name=name, on=fewer),
                                            name, fewer, (tuple(train.shape), (50, NUM_FEATURES)))
    if not (torch.allclose(again_train, got_train) and torch.allclose(again_test, got_test[:50])):
        raise Incorrect(say("on {fewer}, `{name}` gave other features than before: the features must depend on "
                            "the training rows (and the row itself) only, never on the other test rows", fewer=fewer,
                            name=name))


# --- q3 and q4: models scored on fresh rows ------------------------------------------------------------------

def held_out_cases(rng, name: str = "softmax_net"):
    """The training counts, fresh rows of counts (their labels stay in the case, here), and two random rows of
    features for a linearity test; ``name``: the model's name in the messages."""
    data = otto_data()
    counts, labels = holdout(rng)
    a, b = torch.randn(6, NUM_FEATURES, generator=rng), torch.randn(6, NUM_FEATURES, generator=rng)
    case = HeldOut(name, data.train_features, counts, a, b, driver=f"{DRIVERS}.held_out_logits")
    case.labels, case.extra = labels, None
    return [case]


def batched_logits(parts, n: int, name: str) -> torch.Tensor:
    """The logits a driver observed for ``n`` rows in batches of 8192, checked and joined (float64)."""
    sizes = [min(8192, n - i) for i in range(0, n, 8192)]
    if not isinstance(parts, list) or len(parts) != len(sizes):
        raise Incorrect(say("`{name}` returned no logits for some of the rows", name=name))
    on = say("a batch of rows of 93 features")
    parts = [expect_tensor(z, (k, NUM_CLASSES), name, on) for z, k in zip(parts, sizes)]
    logits = torch.cat(parts).double().cpu()
    if not torch.isfinite(logits).all():
        raise Incorrect(say("`{name}` returns nan or inf: did training diverge? (a smaller learning rate helps)",
                            name=name))
    return logits


def held_out_scores(net, prepare, name: str, case) -> dict:
    """Score ``net`` on the fresh rows, featurised by the learner's ``prepare`` (fitted on the training counts).

    Returns the log loss, whether the net is linear, its number of parameters, and what explains a miss (the
    log losses of the raw counts' and of the training features' predictions)."""
    from book.kaggle import log_loss

    if not isinstance(net, nn.Module) and getattr(net, "_state", None) is None:  # (a recorded model has one)
        raise Incorrect(say("`{name}` should be a trained model (an nn.Module), but it is {kind} {net}", name=name,
                            kind=type(net).__name__, net=show(net)))
    params = list(net.parameters())
    if not params:
        raise Incorrect(say("`{name}` has no parameters: it cannot have learned anything", name=name))
    train_counts, counts = case.args[1:3]
    labels, train_labels = case.labels, otto_data().train_labels
    on = say("the {n_train:,} training rows and {n:,} fresh rows", n_train=len(train_counts), n=len(counts))
    obs = driven(case, net, prepare)
    if "prepared" in obs:
        features_pair(obs["prepared"], "prepare", on, (tuple(train_counts.shape), tuple(counts.shape)))
    logits = batched_logits(observed(obs, "fresh"), len(counts), name)
    if (logits >= 0).all() and torch.allclose(logits.sum(1), torch.ones(len(logits), dtype=torch.float64), atol=1e-4):
        raise Incorrect(say("`{name}` returns probabilities (its rows sum to 1): it ends in a softmax. The last "
                            "layer must return logits; the loss (and predict_proba) turn them into probabilities",
                            name=name))
    f = {k: expect_tensor(v, (6, NUM_CLASSES), name, say("rows of 93 features")).double()
         for k, v in observed(obs, "linearity").items()}
    if set(f) != {"a+b", "a", "b", "0"}:
        raise Incorrect(say("the check did not observe `{name}` on all its inputs", name=name))
    linear = bool(torch.allclose(f["a+b"] - f["0"], (f["a"] - f["0"]) + (f["b"] - f["0"]), atol=1e-4, rtol=1e-4))
    raw = batched_logits(observed(obs, "raw"), len(counts), name)
    seen = min(TRAIN_ROWS_SEEN, len(train_counts))  # enough training rows to tell over-fitting
    train = batched_logits(observed(obs, "train"), seen, name)
    return {"loss": log_loss(torch.softmax(logits, 1), labels), "linear": linear,
            "params": sum(p.numel() for p in params), "labels": labels,
            "raw": log_loss(torch.softmax(raw, 1), labels),
            "train": log_loss(torch.softmax(train, 1), train_labels[:seen])}


def explain_miss(scores: dict, target: float, name: str) -> str:
    """Why the held-out log loss misses the target, as far as the numbers tell."""
    from book.otto import prior_log_loss

    loss = scores["loss"]
    prior = prior_log_loss(otto_data().train_labels, scores["labels"])
    text = say("`{name}` scores a log loss of {loss:.4f} on {HOLDOUT_SIZE:,} fresh rows; the bar is {target:.2f}",
               name=name, loss=loss, HOLDOUT_SIZE=HOLDOUT_SIZE, target=target)
    if loss > prior - 0.05:
        return (text + say(". That is no better than guessing the training class shares ({prior:.2f}): was the "
                           "model trained (fit returns the trained model), on the features X_train?", prior=prior))
    if scores["raw"] < loss - 0.05:
        return (text + say(", but {raw:.4f} when fed the raw counts: it was trained on the raw counts. Train it "
                           "on X_train, the features prepare returns (log1p, standardised): those are what it is "
                           "scored on", raw=scores['raw']))
    if scores["train"] < loss - 0.08:
        return (text + say(", and {train:.4f} on the training rows: it over-fits. Fewer epochs, a smaller "
                           "network or more dropout", train=scores['train']))
    return (text + say(" ({train:.4f} on the training rows). More epochs, another learning rate, or (for the "
                       "MLP) another size of network", train=scores['train']))


def check_softmax_regression(softmax_net, prepare, cases):
    """q3: one linear layer 93 -> 9 (logits), scoring at most 0.70 on the fresh rows."""
    name = "softmax_net"
    scores = held_out_scores(softmax_net, prepare, name, cases[0])
    expected = NUM_FEATURES * NUM_CLASSES + NUM_CLASSES
    if not scores["linear"]:
        raise Incorrect(say("`{name}` is not a linear function of its input: softmax regression is a single "
                            "nn.Linear({NUM_FEATURES}, {NUM_CLASSES}); hidden layers and activations belong to q4",
                            name=name, NUM_FEATURES=NUM_FEATURES, NUM_CLASSES=NUM_CLASSES))
    if scores["params"] != expected:
        raise Incorrect(say("`{name}` has {params:,} parameters; softmax regression, one "
                            "nn.Linear({NUM_FEATURES}, {NUM_CLASSES}) with a bias, has {NUM_FEATURES} x "
                            "{NUM_CLASSES} + {NUM_CLASSES} = {expected}", name=name, params=scores['params'],
                            NUM_FEATURES=NUM_FEATURES, NUM_CLASSES=NUM_CLASSES, expected=expected))
    if scores["loss"] > SOFTMAX_TARGET:
        raise Incorrect(explain_miss(scores, SOFTMAX_TARGET, name))
    return say("Log loss {loss:.4f} on {HOLDOUT_SIZE:,} fresh rows (the bar: {SOFTMAX_TARGET:.2f}).",
               loss=scores['loss'], HOLDOUT_SIZE=HOLDOUT_SIZE, SOFTMAX_TARGET=SOFTMAX_TARGET)


def check_mlp(mlp, prepare, cases):
    """q4: a model with a hidden layer (not linear), scoring at most 0.52 on the fresh rows."""
    name = "mlp"
    scores = held_out_scores(mlp, prepare, name, cases[0])
    if scores["linear"]:
        raise Incorrect(say("`{name}` is a linear function of its input, so it is softmax regression at best: "
                            "give it a hidden layer with a ReLU (e.g. MLP((93, 256, 9)))", name=name))
    if scores["loss"] > MLP_TARGET:
        raise Incorrect(explain_miss(scores, MLP_TARGET, name))
    return (say("Log loss {loss:.4f} on {HOLDOUT_SIZE:,} fresh rows (the bar: {MLP_TARGET:.2f}); {params:,} "
                "parameters.", loss=scores['loss'], HOLDOUT_SIZE=HOLDOUT_SIZE, MLP_TARGET=MLP_TARGET,
                params=scores['params']))


# --- q5: a submission file ------------------------------------------------------------------------------------

def submission_inputs(rng):
    """Ids out of order and far apart (a fresh one among them); float32 probabilities with tiny entries (a file
    must keep them)."""
    ids = torch.tensor([17, 3, 42, 8 + int(torch.randint(0, 1000, (1,), generator=rng)) * 100])
    p = torch.tensor([[0.7, 0.1, 0.05, 0.05, 0.05, 0.02, 0.01, 0.01, 0.01],
                      [2e-9, 0.999999998, 0, 0, 0, 0, 0, 0, 0],
                      [0.123456789, 0.2, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05, 0.076543211],
                      [1e-12, 0.25, 0.25, 0.25, 0.25 - 1e-12, 0, 0, 0, 0]], dtype=torch.float32)
    labels = torch.tensor([0, 0, 8, 0])  # the tiny entries sit at true classes: their digits decide the score
    return ids, p, labels


SMALL_FILE = "small_submission.csv"


def submission_cases(rng):
    ids, p, labels = submission_inputs(rng)
    on = f"4 ids ({', '.join(map(str, ids.tolist()))}) and float32 probabilities with tiny entries"
    case = HeldOut(SMALL_FILE, ids, p, on, driver=f"{DRIVERS}.submission_files")
    case.labels, case.extra = labels, None
    return [case]


def read_back(path: Path, name: str, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The file's ids and probabilities as book.kaggle.read_submission reads them, after a check of line 1."""
    from book.kaggle import CLASSES, OttoFormatError, read_submission

    header = ",".join(["id", *CLASSES])
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise Incorrect(say("{what} is not a text file (UTF-8)", what=what)) from None
    if not lines:
        raise Incorrect(say("{what} is empty", what=what))
    first = lines[0].strip()
    if first != header:
        if first.startswith(",") or first.lower().startswith("unnamed"):
            why = say("it starts with an unnamed column (pandas writes its index there: use to_csv(..., "
                      "index=False))")
        elif first[:1].isdigit():
            why = say("it is a row of numbers: the header line is missing")
        else:
            why = say("it is {first!r}", first=first[:70])
        raise Incorrect(say("the first line of {what} must be the header {header!r}; {why}", what=what,
                            header=header, why=why))
    if any("tensor(" in line for line in lines[1:3]):
        raise Incorrect(say("{what} holds text like {lines!r}: write Python numbers, not tensors (ids.tolist(), "
                            "probabilities.tolist())", what=what, lines=lines[1][:40]))
    try:
        return read_submission(path)
    except OttoFormatError as exc:
        raise Incorrect(say("book.kaggle.read_submission rejects {what}: {error}", what=what,
                            error=str(exc).replace(str(path), say("the file")))) from None


def check_submission(write_kaggle_submission, submission_path, cases):
    """q5: a file Kaggle would accept (header, one row per id, every digit that matters), and the notebook's own
    submission at ``submission_path`` scored against the test rows' labels."""
    from book.kaggle import OttoFormatError, log_loss, score_submission, write_submission

    name = "write_kaggle_submission"
    callable_answer(write_kaggle_submission, name)
    case = cases[0]
    _, ids, p, on = case.args  # the case holds the English description: said here
    on = say("4 ids ({ids}) and float32 probabilities with tiny entries", ids=", ".join(map(str, ids.tolist())))
    with not_calling([write_submission], name, say("this question asks you to write the file yourself (open(), "
                                                   "or the csv module)")):
        files = driven(case, write_kaggle_submission, submission_path)
    with tempfile.TemporaryDirectory(prefix="otto-check-") as folder:
        if files["small"] is None:
            raise Incorrect(say("on {on}, `{name}` wrote no file at the path it was given", on=on, name=name))
        path = Path(folder) / SMALL_FILE
        path.write_bytes(bytes(files["small"].tolist()))
        got_ids, got_p = read_back(path, name, say("the file `{name}` wrote for {on}", name=name, on=on))
        row_of = {i: r for r, i in enumerate(got_ids.tolist())}
        if sorted(row_of) != sorted(ids.tolist()):
            raise Incorrect(say("on {on}, the file holds the ids {got_ids}; expected one row for each of {ids}",
                                on=on, got_ids=got_ids.tolist(), ids=ids.tolist()))
        want = p.double()
        for r, i in enumerate(ids.tolist()):
            row = got_p[row_of[i]]
            if torch.allclose(row, want[r], rtol=1e-6, atol=0):
                continue
            others = [j for s, j in enumerate(ids.tolist()) if s != r and torch.allclose(row, want[s], rtol=1e-4)]
            if others:
                raise Incorrect(say("on {on}, the row of id {i} holds the probabilities of id {others}: write "
                                    "each id with its own row of probabilities", on=on, i=i, others=others[0]))
            if torch.allclose(row, want[r], rtol=1e-2, atol=1e-4):
                k = int(((row - want[r]).abs() / want[r].clamp(min=1e-300)).argmax())
                raise Incorrect(say("on {on}, id {i}'s Class_{k} is {want:.6g} but reads back as {got:.6g}: "
                                    "written with too few digits. A tiny probability of the true class changes "
                                    "the score a lot; write at least 9 significant digits (f'{{p:.9g}}')", on=on,
                                    i=i, k=k + 1, want=want[r, k].item(), got=row[k].item()))
            raise Incorrect(say("on {on}, id {i}'s probabilities read back as {row}, expected {want} (in the "
                                "order Class_1 ... Class_9)", on=on, i=i, row=show(row), want=show(want[r])))
        expected_score = log_loss(p, case.labels)
        scored = score_submission(path, ids, case.labels)
        if not math.isclose(scored, expected_score, rel_tol=1e-6):
            raise Incorrect(say("on {on}, the file scores {scored:.6g} but the probabilities {expected_score:.6g}",
                                on=on, scored=scored, expected_score=expected_score))

        data = otto_data()
        shown = files["own_name"]
        if files["own"] is None:
            raise Incorrect(say("there is no file at submission_path ({shown}): write your model's predictions "
                                "for the test rows there, write_kaggle_submission(submission_path, "
                                "otto.test_ids, ...)", shown=shown))
        own = Path(folder) / "own_submission.csv"  # the learner's file, as its bytes were recorded
        own.write_bytes(bytes(files["own"].tolist()))
        what = say("your submission {what}", what=Path(shown).name)
        got_ids, _ = read_back(own, name, what)
        try:
            score = score_submission(own, data.test_ids, data.test_labels)
        except OttoFormatError as exc:
            raise Incorrect(say("{what} is not a valid submission: {error} (otto.test_ids are the ids)", what=what,
                                error=str(exc).replace(str(own), say("the file")))) from None
    return (say("Your submission {what} is valid: {n:,} rows, log loss {score:.4f} on the test rows.",
                what=Path(shown).name, n=len(got_ids), score=score))


q1 = Question(EXERCISE, "q1", "Kaggle's multi-class log loss", 3, check_log_loss,
              cases=log_loss_cases, forbidden=("book.kaggle.log_loss", "book.kaggle.row_log_losses"), hints=[
    "Three steps on the probabilities p (N, 9): clip every entry to [1e-15, 1 - 1e-15] (torch.clamp), divide each "
    "row by its sum (keepdim=True), then average -log of the entry at each row's label.",
    "One entry per row: p[torch.arange(len(labels)), labels]. Before all that, raise ValueError unless p is 2-D "
    "and labels has one entry per row (p.dim(), labels.shape). Clamp makes a new tensor, so the input stays as it "
    "was; return a Python float (.item()).",
])
q2 = Question(EXERCISE, "q2", "Count features: log1p and standardisation", 2, check_prepare,
              cases=prepare_cases, hints=[
    "log1p first (torch.log1p of the counts as floats), for the training and the test counts alike. Then the "
    "mean and standard deviation of every column, computed on the training features only (dim=0).",
    "Apply the same mean and std to both: (train - mean) / std and (test - mean) / std. Where std is 0 (a "
    "feature that never varies in training), divide by 1: torch.where(std > 0, std, torch.ones_like(std)).",
])
q3 = Question(EXERCISE, "q3", f"Softmax regression: log loss at most {SOFTMAX_TARGET:.2f}", 2,
              check_softmax_regression, cases=held_out_cases, hints=[
    "Softmax regression is one layer: nn.Linear(93, 9) (or MLP((93, 9))). It returns logits; no softmax at the "
    "end. Train it with fit on X_train, the features of q2.",
    "A linear model converges fast: a handful of epochs with Adam at lr around 0.01 is plenty. "
    "test_log_loss(softmax_net) prints the final score: compare settings on a validation split of the training "
    "rows, not on it.",
])
q4 = Question(EXERCISE, "q4", f"An MLP: log loss at most {MLP_TARGET:.2f}", 3, check_mlp,
              cases=functools.partial(held_out_cases, name="mlp"), hints=[
    "Hidden layers with ReLUs let the model bend its boundaries: MLP((93, h1, h2, 9), dropout=...) from book.mlp. "
    "Wide layers (hundreds of units) with dropout around 0.3 work well on this data.",
    "Adam at a learning rate of 1e-3 to 2e-3 for about 5 epochs. Hold out a validation split of the training rows "
    "(book.evaluation.validation_split) and watch its log loss: if it rises while the training loss falls, the "
    "network over-fits (more dropout, fewer epochs). The test rows give the final score only. Keep the cell "
    "under 30 s.",
])
q5 = Question(EXERCISE, "q5", "A valid Kaggle submission", 2, check_submission,
              cases=submission_cases, forbidden=("book.kaggle.write_submission",), hints=[
    "Line 1 is the header id,Class_1,...,Class_9; then one line per id: the id, then its 9 probabilities, "
    "separated by commas.",
    "Use ids.tolist() and probabilities.tolist() to get Python numbers, and write each probability with 9 "
    "significant digits (f'{p:.9g}'): rounding 1e-9 to 0 changes the score. Then call your function with "
    "submission_path, otto.test_ids and your best model's probabilities (predict_proba(model, X_test)).",
])
QUESTIONS = [q1, q2, q3, q4, q5]
