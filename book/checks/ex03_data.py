"""Checks of exercise 03: the data -- from uint8 images to model inputs, class counts, standardisation with
training statistics only, and a seeded minibatch iterator written without torch's DataLoader.

Each checker has two halves: ``run_*`` calls the learner's code on the question's cases and hands back what it
returned (plain tensors and numbers), and ``judge_*`` compares that with the reference computed here. The cases
come from ``*_cases(rng)``: drawn from ``rng``, fresh for every class grading, in which the checkers run in the
grader's process on what the learner's code returned and did to its inputs (:mod:`book.protocol`).
"""

from __future__ import annotations

import itertools

import torch
from torch.overrides import TorchFunctionMode

from book.checks.common import (call, callable_answer, expect_close, expect_error, expect_tensor,
                                expect_unchanged, forbidden_calls, raises, show)
from book.language import say
from book.protocol import MAX_ITERATED, Case
from book.questions import Incorrect, Question

EXERCISE = "03_data"
TITLE = "The data: tensors, scaling, class counts, standardisation, minibatches"
PASS_MARK = 0.6


def qualified(f) -> str:
    return f"{f.__module__}.{f.__qualname__}"


class forbidden_functions(TorchFunctionMode):
    """``with forbidden_functions([to_float], name, instead):`` -- the answer is incorrect if the block calls one
    of these course or library functions (:func:`book.checks.common.forbidden_calls`, same message). It is also
    a function mode holding their dotted names, through which the grader's replay reports a call that the
    sandbox recorded (``forbidden=`` of the question lists the same names)."""

    def __init__(self, functions, name: str, instead: str):
        super().__init__()
        self.functions, self.name, self.instead = list(functions), name, instead
        self.names = {qualified(f) for f in self.functions}
        self.hit = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        called = getattr(func, "__name__", "")
        if called in self.names:  # only the replay of a recorded call passes such a name
            self.hit = called
            raise Incorrect(say("`{name}` calls {called}: {instead}", name=self.name, called=called,
                                instead=self.instead))
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        self._watch = forbidden_calls(self.functions, self.name, self.instead)
        self._watch.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self._watch.__exit__(*exc)  # raises Incorrect for a call it saw
        if self.hit and exc[0] is None:  # the replay's Incorrect was caught inside the block: it still counts
            raise Incorrect(say("`{name}` calls {called}: {instead}", name=self.name, called=self.hit,
                                instead=self.instead))
        return False


def borrowed_loaders():
    from torch.utils.data import DataLoader

    from book.data import FastLoader, standard_loader

    return [DataLoader, FastLoader, standard_loader]


def borrowed_conversion():
    from book.data import to_float

    return [to_float]


def uint8_images(n: int, rng: torch.Generator, high: int = 256) -> torch.Tensor:
    """``n`` random 28x28 uint8 images with pixel values in [0, high) -- mostly background, like the real ones."""
    images = torch.randint(0, high, (n, 28, 28), generator=rng, dtype=torch.uint8)
    background = torch.rand(n, 28, 28, generator=rng) < 0.5
    return images.masked_fill(background, 0)


# --- q1: from uint8 images to float inputs in [0, 1] --------------------------------------------------------

def to_inputs_cases(rng):
    images = uint8_images(5, rng)
    images[0, 0, :3] = torch.tensor([0, 128, 255], dtype=torch.uint8)  # both ends of the range, and the middle
    dim = uint8_images(3, rng, high=201)  # a batch whose brightest pixel is 200, not 255
    dim[0, 0, 0] = 200
    return [Case(images), Case(dim), Case(images.float() / 255)]


def run_to_inputs(to_inputs, cases) -> dict:
    name = "to_inputs"
    callable_answer(to_inputs, name)
    (images,), (dim,), (scaled,) = (c.args for c in cases)
    out = {"images": images, "dim": dim}
    instead = say("this question asks you to write the conversion yourself")
    with forbidden_functions(borrowed_conversion(), name, instead):
        for key, batch in (("images", images), ("dim", dim)):
            given = batch.clone()
            out[f"{key}_out"] = call(to_inputs, given, name=name, on=say("{n} uint8 images", n=len(batch)))
            out[f"{key}_after"] = given
        out["float_input"] = raises(to_inputs, (scaled.clone(),), name)
    return out


def judge_to_inputs(out: dict) -> None:
    name = "to_inputs"
    for key in ("images", "dim"):
        images, got = out[key], out[f"{key}_out"]
        n = len(images)
        on = say("{n} uint8 images of shape (28, 28) whose brightest pixel is 200", n=n) if key == "dim" else \
            say("{n} uint8 images of shape (28, 28)", n=n)
        expect_unchanged(images, out[f"{key}_after"], name, say("the images it was given"))
        if not isinstance(got, torch.Tensor):
            raise Incorrect(say("on {on}, `{name}` returned {kind}, expected a tensor", on=on, name=name,
                                kind=type(got).__name__))
        if got.dtype == torch.uint8 or not got.is_floating_point():
            raise Incorrect(say("on {on}, `{name}` returned a tensor of {dtype}: convert to float first "
                                "(images.float()), then divide", on=on, name=name, dtype=got.dtype))
        if tuple(got.shape) == (n, 28, 28):
            raise Incorrect(say("on {on}, `{name}` returned shape {shape}, expected {want}: add the channel "
                                "dimension (unsqueeze(1)) that ToTensor() adds", on=on, name=name,
                                shape=tuple(got.shape), want=(n, 1, 28, 28)))
        expect_tensor(got, (n, 1, 28, 28), name, on)
        if got.dtype != torch.float32:
            raise Incorrect(say("on {on}, `{name}` returned {dtype}; the model's weights are float32, so return "
                                "float32 (images.float(), not .double())", on=on, name=name, dtype=got.dtype))
        want = images.unsqueeze(1).float() / 255
        if key == "dim" and torch.allclose(got, images.unsqueeze(1).float() / images.max(), atol=1e-6):
            raise Incorrect(say("on {on}, `{name}` divided by the batch's largest pixel ({largest}): divide by "
                                "255, the largest value a byte can hold, so that every batch is scaled the same "
                                "way", on=on, name=name, largest=images.max().item()))
        if torch.equal(got, torch.div(images.unsqueeze(1), 255, rounding_mode="floor").float()):
            raise Incorrect(say("on {on}, `{name}` returned only 0s and 1s: integer division. Convert to float "
                                "before dividing by 255", on=on, name=name))
        expect_close(got, want, name, on, rtol=1e-6, atol=1e-7,
                     why=say("expected each pixel divided by 255 (0 -> 0.0, 128 -> 0.502, 255 -> 1.0)"))
    expect_error(out["float_input"], name, say("float images already scaled to [0, 1]"),
                 say("it would scale them a second time, silently. Check images.dtype and raise a TypeError that "
                     "says uint8 images were expected"), error=say("a TypeError"))


def check_to_inputs(to_inputs, cases) -> None:
    """q1: uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] (divided by 255); any other dtype is an
    error; the input is left alone; written, not borrowed from book.data.to_float."""
    judge_to_inputs(run_to_inputs(to_inputs, cases))


# --- q2: how many of each class ------------------------------------------------------------------------------

def class_counts_cases(rng):
    return [Case(torch.tensor([2, 0, 2, 1, 2]), 4), Case(torch.randint(0, 9, (1000,), generator=rng), 10),
            Case(torch.randint(0, 3, (50,), generator=rng), 3),
            Case(torch.tensor([0, 1, 4]), 4), Case(torch.tensor([0, -1, 2]), 4)]


def run_class_counts(class_counts, cases) -> dict:
    name = "class_counts"
    callable_answer(class_counts, name)
    out = {"cases": []}
    described = [say("labels [2, 0, 2, 1, 2] with num_classes=4 (class 3 never occurs)"),
                 say("1,000 random labels 0..8 with num_classes=10"), say("50 random labels with num_classes=3")]
    for (labels, k), on in zip((c.args for c in cases[:3]), described):
        given = labels.clone()
        got = call(class_counts, given, k, name=name, on=on)
        out["cases"].append((labels, k, on, got, given))
    out["too_large"] = raises(class_counts, cases[3].args, name)
    out["negative"] = raises(class_counts, cases[4].args, name)
    return out


def judge_class_counts(out: dict) -> None:
    name = "class_counts"
    for labels, k, on, got, after in out["cases"]:
        expect_unchanged(labels, after, name, say("the labels it was given"))
        want = torch.bincount(labels, minlength=k)
        if not isinstance(got, torch.Tensor):
            raise Incorrect(say("on {on}, `{name}` returned {kind} {got}; expected a tensor of {k} counts", on=on,
                                name=name, kind=type(got).__name__, got=show(got), k=k))
        if got.dim() == 1 and len(got) < k and torch.equal(got.long(), want[:len(got)]):
            raise Incorrect(say("on {on}, `{name}` returned {n} counts, expected {k}: a class that never occurs "
                                "still needs its count of 0 (torch.bincount's minlength)", on=on, name=name,
                                n=len(got), k=k))
        if tuple(got.shape) != (k,):
            raise Incorrect(say("on {on}, `{name}` returned shape {shape}, expected ({k},): one count per class",
                                on=on, name=name, shape=tuple(got.shape), k=k))
        if got.is_floating_point() or got.dtype == torch.bool:
            raise Incorrect(say("on {on}, `{name}` returned {dtype} counts; counts are whole numbers: return an "
                                "integer tensor (torch.int64)", on=on, name=name, dtype=got.dtype))
        if not torch.equal(got.long(), want):
            raise Incorrect(say("on {on}, `{name}` returned {got}, expected {want}", on=on, name=name, got=show(got),
                                want=show(want)))
    for key, labels in (("too_large", "[0, 1, 4]"), ("negative", "[0, -1, 2]")):
        expect_error(out[key], name, say("labels {labels} with num_classes=4", labels=labels),
                     say("a label outside 0..num_classes-1 means the labels or num_classes are wrong, and a "
                         "count would hide it"), error=say("a ValueError"))


def check_class_counts(class_counts, cases) -> None:
    """q2: the number of examples of each class 0..num_classes-1 (0 for absent classes), an integer tensor; a
    ValueError for labels outside that range."""
    judge_class_counts(run_class_counts(class_counts, cases))


# --- q3: standardise with the training statistics ------------------------------------------------------------

def standardise_cases(rng):
    train = torch.rand(40, 1, 28, 28, generator=rng) ** 2  # skewed like real pixels
    test = 0.3 + 0.5 * torch.rand(10, 1, 28, 28, generator=rng)  # other statistics, so that a leak shows
    return [Case(train, test), Case(train.clone(), test[:3].clone())]


def run_standardise(standardise, cases) -> dict:
    name = "standardise"
    callable_answer(standardise, name)
    train, test = cases[0].args
    on = say("40 training and 10 test images (float, in [0, 1])")
    train_in, test_in = train.clone(), test.clone()
    got = call(standardise, train_in, test_in, name=name, on=on)
    fewer = call(standardise, train.clone(), test[:3].clone(), name=name, on=say("the same training images, 3 "
                                                                                 "test images"))
    return {"train": train, "test": test, "on": on, "got": got, "fewer": fewer,
            "train_after": train_in, "test_after": test_in}


def judge_standardise(out: dict) -> None:
    name = "standardise"
    train, test, on, got = out["train"], out["test"], out["on"], out["got"]
    expect_unchanged(train, out["train_after"], name, say("the training images"))
    expect_unchanged(test, out["test_after"], name, say("the test images"))
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Incorrect(say("on {on}, `{name}` returned {kind} {got}; expected two tensors: return "
                            "train_standardised, test_standardised", on=on, name=name, kind=type(got).__name__,
                            got=show(got)))
    got_train, got_test = (expect_tensor(t, tuple(x.shape), f"{name} ({which})", on)
                           for t, x, which in zip(got, (train, test), (say("training images"), say("test images"))))
    mu, sigma = train.mean(), train.std()
    want_train, want_test = (train - mu) / sigma, (test - mu) / sigma

    def close(a, b):
        # loose enough for the 1/N (population) standard deviation instead of 1/(N-1)
        return bool(torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-3))

    both = torch.cat([train, test])
    if not close(got_train, want_train):
        per_pixel = (train - train.mean(0)) / train.std(0)
        if close(got_train, per_pixel):
            why = (say("each pixel position was standardised on its own (mean(dim=0)); use one mean and one "
                       "standard deviation over all training pixels, as Normalize((mu,), (sigma,)) does"))
        elif close(got_train, (train - both.mean()) / both.std()):
            why = (say("the mean and standard deviation came from the training and test images together: the "
                       "test images leak into them. Use the training images only"))
        elif close(got_train, train - mu):
            why = say("the mean was subtracted, but nothing was divided by the standard deviation")
        else:
            why = say("expected (x - mean) / std with the mean and standard deviation of all training pixels")
        raise Incorrect(say("on {on}, the standardised training images are wrong: {why}", on=on, why=why))
    if not close(got_test, want_test):
        if close(got_test, (test - test.mean()) / test.std()):
            why = (say("the test images were standardised with their own mean and standard deviation; use the "
                       "training images' numbers for both (the test set must not shape its own inputs)"))
        elif close(got_test, (test - both.mean()) / both.std()):
            why = say("they used statistics of the training and test images together; use the training images' "
                      "only")
        elif close(got_test, test):
            why = say("they were not standardised at all; apply the training mean and standard deviation to them "
                      "too")
        else:
            why = say("expected (x - mean) / std with the training images' mean and standard deviation")
        raise Incorrect(say("on {on}, the standardised test images are wrong: {why}", on=on, why=why))
    fewer = out["fewer"]
    if not (isinstance(fewer, (tuple, list)) and len(fewer) == 2 and isinstance(fewer[1], torch.Tensor)
            and fewer[1].shape == test[:3].shape and close(fewer[1], got_test[:3])):
        raise Incorrect(say("with only the first 3 test images, `{name}` standardised them differently: a test "
                            "image's inputs must depend on the training images (and itself) only", name=name))


def check_standardise(standardise, cases) -> None:
    """q3: (x - mu) / sigma for training and test images, with mu and sigma of all training pixels only."""
    judge_standardise(run_standardise(standardise, cases))


# --- q4: a seeded minibatch iterator -------------------------------------------------------------------------

RUNS = ("first", "again", "other", "big")  # the calls of q4, in order


def minibatches_cases(rng):
    n = 10
    X = torch.arange(2 * n, dtype=torch.float32).reshape(n, 2)  # row i is [2i, 2i + 1]: it names its example
    y = torch.arange(n)
    seed = int(torch.randint(0, 10_000, (1,), generator=rng))
    return [Case(X.clone(), y.clone(), batch_size, s, iterate=True)
            for batch_size, s in ((4, seed), (4, seed), (4, seed + 1), (32, seed))]


def run_minibatches(minibatches, cases) -> dict:
    name = "minibatches"
    callable_answer(minibatches, name)
    X, y, _, seed = cases[0].args
    n = len(y)
    out = {"n": n, "X": X, "y": y, "seed": seed, "runs": {}}
    rng_before = torch.random.get_rng_state()
    for key, case in zip(RUNS, cases):
        _, _, batch_size, s = case.args
        on = say("{n} examples, batch_size={batch_size}, seed={s}", n=n, batch_size=batch_size, s=s)
        X_in, y_in = X.clone(), y.clone()
        with forbidden_functions(borrowed_loaders(), name,
                                 say("write the iterator yourself, from a permutation of the indices")):
            # at most MAX_ITERATED batches, as the grader's recording lists them: an endless generator ends here
            batches = call(lambda: list(itertools.islice(iter(call(minibatches, X_in, y_in, batch_size, s,
                                                                   name=name, on=on)), MAX_ITERATED)),
                           name=name, on=on)
        out["runs"][key] = (on, batch_size, batches, X_in, y_in)
    out["global_rng_changed"] = not torch.equal(rng_before, torch.random.get_rng_state())
    return out


def judge_minibatches(out: dict) -> None:
    name = "minibatches"
    n, X, y = out["n"], out["X"], out["y"]
    orders = {}
    for key, (on, batch_size, batches, X_after, y_after) in out["runs"].items():
        expect_unchanged(X, X_after, name, say("the features it was given"))
        expect_unchanged(y, y_after, name, say("the labels it was given"))
        sizes = []
        seen = []
        for i, batch in enumerate(batches):
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2
                    and all(isinstance(t, torch.Tensor) for t in batch)):
                raise Incorrect(say("on {on}, batch {i} is {kind} {batch}; each batch must be a pair of tensors "
                                    "(X_batch, y_batch)", on=on, i=i + 1, kind=type(batch).__name__,
                                    batch=show(batch)))
            Xb, yb = batch
            if Xb.dim() != 2 or Xb.shape[1] != 2 or yb.shape != (len(Xb),):
                raise Incorrect(say("on {on}, batch {i} has X of shape {shape} and y of shape {shape2}; expected "
                                    "(b, 2) and (b,): whole rows of X, one label each", on=on, i=i + 1,
                                    shape=tuple(Xb.shape), shape2=tuple(yb.shape)))
            if not torch.equal(Xb[:, 0], 2 * yb.to(Xb.dtype)):
                raise Incorrect(say("on {on}, batch {i} pairs features with the labels of other examples: index "
                                    "X and y with the same indices", on=on, i=i + 1))
            sizes.append(len(yb))
            seen += yb.tolist()
        want = [min(batch_size, n - i) for i in range(0, n, batch_size)]
        if sizes != want:
            raise Incorrect(say("on {on}, the batches have sizes {sizes}, expected {want}: full batches, and the "
                                "remainder in a smaller last batch", on=on, sizes=sizes, want=want))
        if sorted(seen) != list(range(n)):
            missing = sorted(set(range(n)) - set(seen))
            twice = sorted({i for i in seen if seen.count(i) > 1})
            raise Incorrect(say("on {on}, one pass does not hold every example exactly once (missing {missing}, "
                                "repeated {twice}): shuffle a permutation of 0..n-1 and cut it into batches", on=on,
                                missing=missing, twice=twice))
        orders[key] = seen
    if orders["first"] == list(range(n)):
        raise Incorrect(say("`{name}` gave the examples in their original order: shuffle them (torch.randperm)",
                            name=name))
    if orders["first"] != orders["again"]:
        raise Incorrect(say("`{name}` gave another order when called again with the same seed: draw the "
                            "permutation from torch.Generator().manual_seed(seed), so that runs repeat", name=name))
    if orders["first"] == orders["other"]:
        raise Incorrect(say("`{name}` gave the same order for seeds {seed} and {seed2}: the seed must choose the "
                            "shuffle", name=name, seed=out['seed'], seed2=out['seed'] + 1))
    if out["global_rng_changed"]:
        raise Incorrect(say("`{name}` used or re-seeded PyTorch's global random generator: draw the permutation "
                            "from a torch.Generator of its own, so that the batches do not change the model's "
                            "random initialisation (or dropout) and vice versa", name=name))


def check_minibatches(minibatches, cases) -> None:
    """q4: one pass over (X, y) in shuffled batches of batch_size (last one smaller), every example once, rows
    and labels kept together, the order fixed by the seed through a generator of its own; no DataLoader."""
    judge_minibatches(run_minibatches(minibatches, cases))


FORBIDDEN_Q1 = tuple(sorted(qualified(f) for f in borrowed_conversion()))
FORBIDDEN_Q4 = tuple(sorted(qualified(f) for f in borrowed_loaders()))

q1 = Question(EXERCISE, "q1", "From bytes to inputs in [0, 1]", 2, check_to_inputs, cases=to_inputs_cases,
              forbidden=FORBIDDEN_Q1, hints=[
    "Three steps: convert to float32 (images.float()), divide by 255, add the channel dimension "
    "(unsqueeze(1)). Check the dtype first.",
    "if images.dtype != torch.uint8: raise TypeError(f\"expected uint8 images, got {images.dtype}\"); then "
    "return images.float().div(255).unsqueeze(1).",
])
q2 = Question(EXERCISE, "q2", "How many of each class", 2, check_class_counts, cases=class_counts_cases, hints=[
    "torch.bincount counts the occurrences of each value; its minlength argument makes room for classes that "
    "never occur.",
    "First check labels.min() >= 0 and labels.max() < num_classes (raise ValueError otherwise), then return "
    "torch.bincount(labels, minlength=num_classes).",
])
q3 = Question(EXERCISE, "q3", "Standardise with training statistics", 2, check_standardise,
              cases=standardise_cases, hints=[
    "One mean and one standard deviation, over every pixel of the training images: train.mean(), train.std().",
    "Return (train - mu) / sigma, (test - mu) / sigma, with mu and sigma from the training images for both.",
])
q4 = Question(EXERCISE, "q4", "A seeded minibatch iterator", 3, check_minibatches, cases=minibatches_cases,
              forbidden=FORBIDDEN_Q4, hints=[
    "g = torch.Generator().manual_seed(seed); order = torch.randperm(len(y), generator=g) shuffles the indices "
    "without touching PyTorch's global generator.",
    "for start in range(0, len(y), batch_size): idx = order[start:start + batch_size]; yield X[idx], y[idx]",
])
QUESTIONS = [q1, q2, q3, q4]
