"""Checks of exercise 07: the multilayer perceptron -- an nn.Module with dropout, a training epoch with an
optimiser, evaluation in evaluation mode, a fair comparison of optimisers, and a network trained on 2,000 images
that must not over-fit, judged on images the notebook never looks at.

Each question's inputs come from its ``*_cases(rng)`` function, fresh for every class grading, in which the
checkers below run in the grader's process on what the learner's code returned (:mod:`book.protocol`). Where
the learner's code needs objects built around it -- its class instantiated with fixed seeds, a network that
notes how it was called, optimisers to compare, a network trained within the budget -- a driver of
:mod:`book.drivers_ex06_08` does that in the learner's kernel and hands back what it saw. q5 is scored on the
10,000 Fashion-MNIST test images (in an order drawn for each grading): the driver gets the images, and only
this module their labels -- the grader's sandbox shows no test-label file (:data:`grader.sandbox.HELD_OUT_FILES`;
there ``load_dataset`` gives ``test_labels`` of 255, no class). The learner chooses on the validation images the
notebook holds back from the training images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from book.checks.common import as_number, callable_answer, expect_tensor, show, uneven_batches
from book.checks.ex06_generalisation import driven
from book.language import say
from book.protocol import Case
from book.questions import Incorrect, NotAttempted, Question

EXERCISE = "07_mlp"
TITLE = "Multilayer perceptron: dropout, evaluation mode, optimisers, over-fitting"
PASS_MARK = 0.6

N_TRAIN = 2_000  # the training images of q5: the first 2,000 of the notebook's training split
VAL_SIZE, SPLIT_SEED = 10_000, 0  # the notebook's validation split of the 60,000 training images
TARGET_LOSS = 0.58  # mean cross-entropy on the 10,000 test images
MAX_EPOCHS, MIN_BATCH, MAX_HIDDENS = 30, 20, 512
DRIVERS = "book.drivers_ex06_08"


class HeldOut(Case):
    """A case whose inputs are held-out examples: their labels stay here, with the checker (never planned)."""

    __slots__ = ("labels", "extra")


def observed(obs: dict, key: str):
    """An observation of a driver, or the failure of the learner's code that stopped it before that one."""
    if key in obs:
        return obs[key]
    failed = obs.get("failed")
    if isinstance(failed, dict):
        kind = NotAttempted if failed.get("kind") == "not attempted" else Incorrect
        raise kind(str(failed.get("message", "")))
    raise Incorrect(say("the check did not observe {key!r}: did your code stop it?", key=key))


# --- q1: an MLP with dropout ------------------------------------------------------------------------------------

def mlp_cases(rng):
    X4 = torch.rand(4, 1, 28, 28, generator=rng)
    a, b = torch.randn(5, 20, generator=rng), torch.randn(5, 20, generator=rng)
    X6 = torch.rand(6, 1, 28, 28, generator=rng)
    seeds = torch.randint(0, 10_000, (3,), generator=rng).tolist()
    return [Case(X4, a, b, X6, seeds, driver=f"{DRIVERS}.mlp_outputs")]


def check_mlp(MLP, cases):
    """q1: an nn.Module subclass MLP(num_inputs=784, num_hiddens=256, num_outputs=10, dropout=0.0): Flatten,
    Linear, ReLU, Dropout, Linear; forward returns logits; dropout only in training mode."""
    name = "MLP"
    obs = driven(cases[0], MLP)
    if not observed(obs, "is_module_class"):
        raise Incorrect(say("`{name}` should be a class derived from nn.Module (class MLP(nn.Module): ...), but "
                            "it is {observed}", name=name, observed=observed(obs, 'type_name')))
    expected = 784 * 256 + 256 + 256 * 10 + 10
    count = observed(obs, "default_count")
    if count != expected:
        raise Incorrect(say("MLP() has {count:,} parameters, expected {expected:,} for 784 inputs, one hidden "
                            "layer of 256 units and 10 outputs (784*256 + 256 + 256*10 + 10)", count=count,
                            expected=expected))
    n = 4
    on = say("a batch of {n} images of shape (1, 28, 28)", n=n)
    out = expect_tensor(observed(obs, "default_out"), (n, 10), "MLP()", on)
    if torch.allclose(out.sum(dim=1), torch.ones(n), atol=1e-4) and (out >= 0).all():
        raise Incorrect(say("on {on}, MLP() returns probabilities (each row sums to 1); it must return logits: "
                            "nn.CrossEntropyLoss applies the softmax itself", on=on))
    count = observed(obs, "small_count")
    if count != 20 * 7 + 7 + 7 * 3 + 3:
        raise Incorrect(say("MLP(20, 7, 3) has {count} parameters, expected {expected}: use the arguments "
                            "num_inputs, num_hiddens and num_outputs for the layer sizes", count=count,
                            expected=20 * 7 + 7 + 7 * 3 + 3))
    f = {k: expect_tensor(v, (5, 3), "MLP(20, 7, 3)", say("inputs of shape (5, 20)"))
         for k, v in observed(obs, "small_out").items()}
    if set(f) != {"a+b", "a", "b", "0"}:
        raise Incorrect(say("the check did not observe MLP(20, 7, 3) on all its inputs"))
    if torch.allclose(f["a+b"] - f["0"], (f["a"] - f["0"]) + (f["b"] - f["0"]), atol=1e-5):
        raise Incorrect(say("MLP is a linear function of its input (f(a+b) - f(0) = [f(a) - f(0)] + [f(b) - "
                            "f(0)]): put a ReLU between the two linear layers"))
    check_dropout(obs, len(cases[0].args[3]))


def outputs(obs: dict, key: str, n: int, name: str, on: str) -> list[torch.Tensor]:
    values = observed(obs, key)
    return [expect_tensor(v, (n, 10), name, on) for v in values]


def check_dropout(obs: dict, n: int):
    """MLP(dropout=p): random in training mode, deterministic in evaluation mode and then the same function as
    MLP(dropout=0) with the same initial weights; dropout acts on the hidden units."""
    on = say("{n} images", n=n)
    plain_count, dropped_count = observed(obs, "dropout_counts")
    if dropped_count != plain_count:
        raise Incorrect(say("MLP(dropout=0.5) has another number of parameters than MLP(dropout=0.0): dropout "
                            "has no parameters of its own"))
    a, b = outputs(obs, "plain_train", n, "MLP(dropout=0.0)", on)
    if not torch.equal(a, b):
        raise Incorrect(say("on {on}, MLP(dropout=0.0) in training mode gave two different outputs for the same "
                            "input: with dropout 0 nothing may be random", on=on))
    a, b = outputs(obs, "dropped_train", n, "MLP(dropout=0.5)", on)
    if torch.equal(a, b):
        raise Incorrect(say("on {on}, MLP(dropout=0.5) in training mode gave the same output twice: dropout must "
                            "zero a random half of the hidden units on every forward pass (nn.Dropout(dropout) "
                            "after the ReLU)", on=on))
    if (a == 0).float().mean() > 0.2:
        raise Incorrect(say("on {on}, MLP(dropout=0.5) in training mode returned logits of which {share:.0f} % "
                            "are exactly 0: dropout acts on the hidden units, not on the output", on=on,
                            share=100 * (a == 0).float().mean()))
    z1, z2 = outputs(obs, "dropped_black", n, "MLP(dropout=0.5)", say("{n} black images", n=n))
    if torch.equal(z1, z2):
        raise Incorrect(say("MLP(dropout=0.5) in training mode is random for images but not for black ones (all "
                            "pixels 0): dropout acts on its input pixels. Put it after the ReLU, on the hidden "
                            "units"))
    e1, e2 = outputs(obs, "dropped_eval", n, "MLP(dropout=0.5)", on)
    if not torch.equal(e1, e2):
        raise Incorrect(say("on {on}, MLP(dropout=0.5) in evaluation mode (after .eval()) gave two different "
                            "outputs: dropout must be off in evaluation mode (nn.Dropout switches itself off)",
                            on=on))
    (reference,) = outputs(obs, "plain_eval", n, "MLP(dropout=0.0)", on)
    if not torch.allclose(e1, reference, atol=1e-5):
        raise Incorrect(say("on {on}, MLP(dropout=0.5) in evaluation mode differs from MLP(dropout=0.0) with the "
                            "same weights: in evaluation mode dropout must change nothing (nn.Dropout scales the "
                            "kept units by 1 / (1 - p) during training instead)", on=on))


# --- q2: a training epoch -----------------------------------------------------------------------------------------

def reference_epoch(net, batches, lr: float, momentum: float = 0.0, adam: bool = False) -> list[float]:
    """The model answer of q2 (and q4's), to compare with: one step per batch on the mean cross-entropy, the step
    losses. The steps are torch.optim.SGD's (with momentum) or torch.optim.Adam's with their default settings,
    written out: building an optimiser imports torch._dynamo, seconds the grader need not spend."""
    params = list(net.parameters())
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    losses = []
    for t, (Xb, yb) in enumerate(batches, start=1):
        loss = F.cross_entropy(net(Xb), yb)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, m, v in zip(params, grads, first, second):
                if adam:  # betas (0.9, 0.999), eps 1e-8, as torch.optim.Adam
                    m.mul_(0.9).add_(g, alpha=0.1)
                    v.mul_(0.999).addcmul_(g, g, value=0.001)
                    denominator = (v.sqrt() / math.sqrt(1 - 0.999 ** t)).add_(1e-8)
                    p.addcdiv_(m, denominator, value=-lr / (1 - 0.9 ** t))
                else:
                    m.copy_(g if t == 1 or not momentum else momentum * m + g)
                    p.sub_(lr * m)
        losses.append(loss.item())
    return losses


def toy_network(weights) -> nn.Module:
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        for p, w in zip(net.parameters(), weights):
            p.copy_(w)
    return net


def train_epoch_cases(rng):
    """Fresh weights of a toy network and three batches; SGD with momentum (built by the driver: the network
    comes in evaluation mode, and the answer must put it in training mode itself)."""
    X, y = torch.randn(10, 4, generator=rng), torch.randint(0, 3, (10,), generator=rng)
    weights = [torch.randn(shape, generator=rng) * 0.5 for shape in ((5, 4), (5,), (3, 5), (3,))]
    batches = [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])]
    return [Case(weights, batches, 0.3, 0.9, driver=f"{DRIVERS}.toy_epoch")]


def check_train_epoch(train_epoch, cases):
    """q2: one epoch in training mode with an optimiser on the mean cross-entropy; the list of step losses."""
    name = "train_epoch"
    callable_answer(train_epoch, name)
    weights, batches, lr, momentum = cases[0].args
    reference = toy_network(weights)
    want = reference_epoch(reference, batches, lr, momentum)
    on = say("a toy network, SGD with momentum, and 3 batches")
    out = driven(cases[0], train_epoch)
    got = out["got"]
    if out["training"] is not True:
        raise Incorrect(say("`{name}` left a model that came in evaluation mode in evaluation mode: put it in "
                            "training mode (net.train()) first, or dropout would never be active", name=name))
    if not isinstance(got, list) or not all(isinstance(v, float) for v in got):
        raise Incorrect(say("on {on}, `{name}` returned {got}; expected a list of Python floats, the loss of "
                            "each step (loss.item())", on=on, name=name, got=show(got)))
    if len(got) != len(batches):
        raise Incorrect(say("on {on}, `{name}` returned {n} losses; expected one per batch, 3", on=on, name=name,
                            n=len(got)))
    if not all(math.isclose(u, v, rel_tol=1e-4, abs_tol=1e-6) for u, v in zip(got, want)):
        if math.isclose(got[0], want[0], rel_tol=1e-4):
            raise Incorrect(say("on {on}, the first step's loss is right but the later ones are not ({got} "
                                "instead of {want}): are the gradients zeroed before each backward()?", on=on,
                                got=show(got), want=show(want)))
        raise Incorrect(say("on {on}, the losses of the steps are {got}, expected {want}: the mean cross-entropy "
                            "of each batch's logits, before that batch's step", on=on, got=show(got),
                            want=show(want)))
    after = out["parameters"]
    wanted = list(reference.parameters())
    if not (isinstance(after, list) and len(after) == len(wanted) and all(
            isinstance(p, torch.Tensor) and p.shape == q.shape and torch.allclose(p.double(), q.double(), atol=1e-6)
            for p, q in zip(after, wanted))):
        raise Incorrect(say("on {on}, the losses are right but the parameters after the epoch are not: one "
                            "optimizer.step() per batch, after backward()", on=on))


# --- q3: evaluation mode ------------------------------------------------------------------------------------------

def evaluate_cases(rng):
    batches = uneven_batches()
    weight = torch.randn(2, 3, generator=rng)
    return [Case(weight, batches, driver=f"{DRIVERS}.mode_net_accuracy")]


def check_evaluate(evaluate, cases) -> None:
    """q3: accuracy over all examples, in evaluation mode, without a graph; the model's mode restored."""
    name = "evaluate"
    callable_answer(evaluate, name)
    weight, batches = cases[0].args
    out = driven(cases[0], evaluate)
    for start in ("train", "eval"):
        run = out[start]
        on = say("3 batches of 4, 4 and 2 examples, a model in {start} mode", start=start)
        got = as_number(run["got"], name, on)
        with torch.no_grad():
            right = [((Xb @ weight).argmax(1) == yb) for Xb, yb in batches]
            wrong_mode = [((-(Xb @ weight)).argmax(1) == yb) for Xb, yb in batches]
        want = torch.cat(right).double().mean().item()
        if not run["modes"]:
            raise Incorrect(say("on {on}, `{name}` never called `net`", on=on, name=name))
        if any(run["modes"]) and abs(got - torch.cat(wrong_mode).double().mean().item()) < 1e-6:
            raise Incorrect(say("on {on}, `{name}` evaluated the model in training mode, where dropout is on: "
                                "call net.eval() before the loop", on=on, name=name))
        if abs(got - want) > 1e-6:
            mean_of_batches = sum(r.double().mean().item() for r in right) / len(right)
            if abs(got - mean_of_batches) < 1e-6:
                raise Incorrect(say("on {on}, `{name}` returned {got:.4g}, the average of the batches' "
                                    "accuracies; the last batch is smaller: count right predictions and examples "
                                    "over all batches", on=on, name=name, got=got))
            raise Incorrect(say("on {on}, `{name}` returned {got:.4g}, expected {want:.4g}, the accuracy over "
                                "all examples in evaluation mode", on=on, name=name, got=got, want=want))
        if run["after"] is not (start == "train"):
            raise Incorrect(say("`{name}` left a model that came in {start} mode in {end} mode: remember "
                                "net.training first and restore it at the end (net.train(was_training)), or "
                                "training would go on without dropout", name=name, start=start,
                                end='train' if run['after'] else 'eval'))
        if run["grad_enabled"]:
            raise Incorrect(say("`{name}` called `net` with gradient tracking on: run the loop inside "
                                "torch.no_grad()", name=name))


# --- q4: a fair comparison of optimisers --------------------------------------------------------------------------

def compare_cases(rng):
    X, y = torch.randn(12, 4, generator=rng), torch.randint(0, 3, (12,), generator=rng)
    return [Case(X, y, 4, [0.1, 0.01], driver=f"{DRIVERS}.optimiser_comparison")]


def check_compare_optimizers(compare_optimizers, train_epoch, cases):
    """q3: a fresh network per optimiser (make_net()), one epoch each with train_epoch, mean step loss per name."""
    name = "compare_optimizers"
    callable_answer(compare_optimizers, name)
    callable_answer(train_epoch, "train_epoch")
    X, y, batch, lrs = cases[0].args
    batches = [(X[i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)]
    want = {}
    for key, lr in zip(("sgd", "adam"), lrs):
        torch.manual_seed(0)  # the driver's make_net() builds its network from this seed
        net = nn.Sequential(nn.Linear(X.shape[1], 5), nn.ReLU(), nn.Linear(5, 3))
        losses = reference_epoch(net, batches, lr, adam=key == "adam")
        want[key] = sum(losses) / len(losses)
    on = say("two optimisers ('sgd' and 'adam') on a toy problem")
    out = driven(cases[0], compare_optimizers, train_epoch)
    got = out["got"]
    if not isinstance(got, dict) or set(got) != set(want):
        raise Incorrect(say("on {on}, `{name}` returned {got}; expected a dict with the same keys as the "
                            "optimisers' dict, 'sgd' and 'adam'", on=on, name=name, got=show(got)))
    if out["calls"] < len(want):
        raise Incorrect(say("on {on}, `{name}` called make_net() {calls} time(s) for {n} optimisers: each "
                            "optimiser must start from a fresh network, or the second continues where the first "
                            "stopped", on=on, name=name, calls=out['calls'], n=len(want)))
    for key in want:
        value = got[key]
        if isinstance(value, torch.Tensor) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Incorrect(say("on {on}, the value for {key!r} is {value}; expected a Python float, the mean of "
                                "the epoch's step losses", on=on, key=key, value=show(value)))
        if not math.isclose(value, want[key], rel_tol=1e-4, abs_tol=1e-6):
            raise Incorrect(say("on {on}, the value for {key!r} is {value:.5g}, expected {want:.5g}: the mean of "
                                "the losses that train_epoch returns for one epoch (is train_epoch from q2 "
                                "right?)", on=on, key=key, value=value, want=want[key]))


# --- q5: 2,000 training images, scored on the test images ----------------------------------------------------

def data_split():
    """The q5 training images (the first N_TRAIN of the notebook's training split) and the test split."""
    from book.data import load_dataset
    from book.evaluation import validation_split

    data = load_dataset("fashion-mnist")
    train_idx, _ = validation_split(len(data.train_labels), VAL_SIZE, seed=SPLIT_SEED)
    subset = train_idx[:N_TRAIN]
    return data.train_images[subset], data.train_labels[subset], data.test_images, data.test_labels


def whole(value, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def check_budget(num_hiddens, dropout, batch_size, num_epochs) -> None:
    if not whole(num_hiddens, 1, MAX_HIDDENS):
        raise Incorrect(say("num_hiddens = {num_hiddens!r}: a whole number of hidden units from 1 to "
                            "{MAX_HIDDENS}", num_hiddens=num_hiddens, MAX_HIDDENS=MAX_HIDDENS))
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise Incorrect(say("dropout = {dropout!r}: a probability from 0 (no dropout) up to, not including, 1",
                            dropout=dropout))
    if not whole(batch_size, MIN_BATCH, N_TRAIN):
        raise Incorrect(say("batch_size = {batch_size!r}: the budget allows whole numbers from {MIN_BATCH} to "
                            "{N_TRAIN:,}", batch_size=batch_size, MIN_BATCH=MIN_BATCH, N_TRAIN=N_TRAIN))
    if not whole(num_epochs, 1, MAX_EPOCHS):
        raise Incorrect(say("num_epochs = {num_epochs!r}: the budget is a whole number of epochs from 1 to "
                            "{MAX_EPOCHS}", num_epochs=num_epochs, MAX_EPOCHS=MAX_EPOCHS))


def target_cases(rng):
    """The 2,000 training images with their labels, and the 10,000 test images in an order drawn for this
    grading, without their labels (kept in the case, on the checker's side)."""
    train_images, train_labels, test_images, test_labels = data_split()
    order = torch.randperm(len(test_labels), generator=rng)
    seed = 0  # the notebook's try_setting trains with seed 0: the check trains exactly as it does
    case = HeldOut(train_images, train_labels, test_images[order], seed,
                   (MAX_HIDDENS, MIN_BATCH, MAX_EPOCHS, N_TRAIN), driver=f"{DRIVERS}.train_target")
    case.labels, case.extra = test_labels[order], train_labels
    return [case]


def logits(parts, n: int, name: str) -> torch.Tensor:
    if not isinstance(parts, list) or not parts:
        raise Incorrect(say("`{name}` returned no logits", name=name))
    sizes = [min(2000, n - i) for i in range(0, n, 2000)]
    if len(parts) != len(sizes):
        raise Incorrect(say("`{name}` returned logits for {n} batches, expected {want}", name=name, n=len(parts),
                            want=len(sizes)))
    on = say("a batch of images")
    return torch.cat([expect_tensor(z, (k, 10), name, on) for z, k in zip(parts, sizes)]).double()


def check_target(MLP, num_hiddens, dropout, make_optimizer, batch_size, num_epochs, cases):
    """q5: the learner's MLP and optimiser, trained on 2,000 images within the budget, reach a mean cross-entropy
    of at most TARGET_LOSS on the 10,000 test images (labels never handed to learner code)."""
    from book.evaluation import accuracy_interval

    check_budget(num_hiddens, dropout, batch_size, num_epochs)
    callable_answer(make_optimizer, "make_optimizer")
    case = cases[0]
    out = driven(case, MLP, num_hiddens, dropout, make_optimizer, batch_size, num_epochs)
    name = f"MLP(784, {num_hiddens}, 10, dropout={dropout})"
    if out.get("budget") is False:
        raise Incorrect(say("the settings are outside the budget"))
    if "net" in out:
        raise Incorrect(say("{name} returned {net}, expected an nn.Module (see q1)", name=name, net=out['net']))
    if "optimizer" in out:
        raise Incorrect(say("make_optimizer returned {optimizer}, expected a torch.optim optimiser, e.g. "
                            "torch.optim.Adam(params, lr=1e-3)", optimizer=out['optimizer']))
    setting = str(out.get("setting"))
    if out.get("diverged"):
        raise Incorrect(say("with {setting}, training diverged in epoch {diverged} (the loss became nan or inf); "
                            "lower the learning rate", setting=setting, diverged=out['diverged']))
    train_labels, test_labels = case.extra, case.labels
    train_logits = logits(out.get("train_logits"), len(train_labels), name)
    test_logits = logits(out.get("test_logits"), len(test_labels), name)
    for z in (train_logits, test_logits):
        if not torch.isfinite(z).all():
            raise Incorrect(say("with {setting}, the trained network returns nan or inf", setting=setting))
    test_loss = F.cross_entropy(test_logits, test_labels).item()
    train_loss = F.cross_entropy(train_logits, train_labels).item()
    correct = int((test_logits.argmax(1) == test_labels).sum())
    acc = accuracy_interval(correct, len(test_labels))
    scores = (say("a loss of {test_loss:.4f} on the {n:,} test images (accuracy {acc}); {train_loss:.4f} on its "
                  "2,000 training images", test_loss=test_loss, n=len(test_labels), acc=acc, train_loss=train_loss))
    if test_loss > TARGET_LOSS:
        if train_loss < test_loss - 0.15:
            why = (say("it over-fits: far better on its training images than on new ones. Stop earlier (choose "
                       "the epoch with the lowest validation loss) or use more dropout"))
        else:
            why = say("it under-fits: train longer, or with a larger learning rate")
        raise Incorrect(say("with {setting}, {scores}; the target is {TARGET_LOSS}: {why}", setting=setting,
                            scores=scores, TARGET_LOSS=TARGET_LOSS, why=why))
    return say("With {setting}: {scores}.", setting=setting, scores=scores)


q1 = Question(EXERCISE, "q1", "An MLP with dropout, as an nn.Module", 3, check_mlp, cases=mlp_cases, hints=[
    "In __init__, call super().__init__() first, then create the layers as attributes: nn.Flatten(), "
    "nn.Linear(num_inputs, num_hiddens), nn.ReLU(), nn.Dropout(dropout), nn.Linear(num_hiddens, num_outputs).",
    "forward(self, X) applies them in that order and returns the last layer's output (logits, no softmax). "
    "nn.Dropout is only active in training mode; you need not test the mode yourself.",
])
q2 = Question(EXERCISE, "q2", "A training epoch with an optimiser", 2, check_train_epoch,
              cases=train_epoch_cases, hints=[
    "net.train() first; then for each batch: loss = F.cross_entropy(net(X), y), optimizer.zero_grad(), "
    "loss.backward(), optimizer.step().",
    "Collect loss.item() of every step in a list and return it.",
])
q3 = Question(EXERCISE, "q3", "Evaluate in evaluation mode", 2, check_evaluate, cases=evaluate_cases, hints=[
    "was_training = net.training; net.eval(); then count right predictions and examples over all batches inside "
    "torch.no_grad().",
    "Before returning right / seen, put the model back: net.train(was_training).",
])
q4 = Question(EXERCISE, "q4", "Compare optimisers fairly", 2, check_compare_optimizers, cases=compare_cases, hints=[
    "A fair comparison starts every optimiser from the same weights: call make_net() once per optimiser.",
    "For each name, make: net = make_net(); optimizer = make(net.parameters()); losses = train_epoch(net, "
    "optimizer, train_iter); store sum(losses) / len(losses) under that name.",
])
q5 = Question(EXERCISE, "q5", f"2,000 images, a loss of at most {TARGET_LOSS} on unseen ones", 3, check_target,
              cases=target_cases,
              hints=[
    "Watch the validation loss per epoch in try_setting: where it turns upwards while the training loss keeps "
    "falling, the network starts to memorise its 2,000 images. Stop before that.",
    "Dropout lets a network train for longer before it over-fits: try dropout 0.5 with Adam (lr 1e-3), and "
    "choose the number of epochs by the validation loss.",
])
QUESTIONS = [q1, q2, q3, q4, q5]
