"""Checks of exercise 04: training softmax regression from scratch -- accuracy, evaluation, SGD, one epoch, and
a target accuracy on images the notebook never looks at, within a budget of SGD steps.

Each question's inputs come from its ``*_cases(rng)`` function, drawn from ``rng``: fresh for every class grading,
in which the checkers below run in the grader's process on what the learner's code returned and did to its inputs
(:mod:`book.protocol`). q5 is scored on the 10,000 Fashion-MNIST test images, which nothing in the notebook
touches: the learner chooses the settings on the validation images the notebook holds back from the training
images. Its training runs where the learner's code runs, in a trusted driver
(:func:`book.probes.train_linear_sgd`: one call of the learner's ``train_epoch`` per learning rate, from initial
weights and a batch order drawn from the case's seed); the checker compares the weights it hands back with the
same run of the model answer's epoch (so a record cannot bring weights trained otherwise, or for longer), then
scores them on the test images, whose labels only the checker holds.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from book.checks.common import as_number, call, callable_answer, expect_close, show, uneven_batches
from book.probes import LinearModel, RecordingNet, train_linear_sgd
from book.language import say
from book.protocol import Case, drive
from book.questions import Incorrect, Question

EXERCISE = "04_training"
TITLE = "Training from scratch: accuracy, evaluation, SGD"
PASS_MARK = 0.6

TARGET_ACC = 0.825
MAX_STEPS = 800  # SGD steps: epochs x batches per epoch
VAL_SIZE, SPLIT_SEED = 10_000, 0  # the notebook's validation split of the 60,000 training images


def accuracy_cases(rng):
    y_hat = torch.tensor([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4], [2.0, -1.0, 0.5], [0.2, 0.5, 0.3]])
    return [Case(y_hat, torch.tensor([1, 2, 2, 1, 0]))] + [
        Case(torch.randn(n, 10, generator=rng), torch.randint(0, 10, (n,), generator=rng)) for n in (1, 1000)]


def check_accuracy(accuracy, cases):
    """q1: the fraction of rows whose largest entry is at the label, as a Python float."""
    name = "accuracy"
    y_hat, y = cases[0].args
    on = say("y_hat {y_hat} and y = {y}", y_hat=show(y_hat), y=y.tolist())
    got = as_number(call(accuracy, y_hat, y, name=name, on=on), name, on)
    if abs(got - 2) < 1e-6:
        raise Incorrect(say("on {on}, `{name}` returned 2, the number of right predictions; return the fraction "
                            "of rows that are right (between 0 and 1)", on=on, name=name))
    if abs(got - 0.4) > 1e-6:
        raise Incorrect(say("on {on}, `{name}` returned {got:.4g}, expected 0.4 (2 of the 5 rows are right)", on=on,
                            name=name, got=got))
    for y_hat, y in (c.args for c in cases[1:]):
        n = len(y)
        on = say("{n} random rows of 10 logits", n=n)
        got = as_number(call(accuracy, y_hat, y, name=name, on=on), name, on)
        want = (y_hat.argmax(dim=1) == y).double().mean().item()
        if abs(got - want) > 1e-6:
            raise Incorrect(say("on {on}, `{name}` returned {got:.4g}, expected {want:.4g}", on=on, name=name,
                                got=got, want=want))


def evaluate_accuracy_cases(rng):
    X, y = torch.randn(11, 2, generator=rng) * 2, torch.randint(0, 3, (11,), generator=rng)
    return [Case(RecordingNet(), uneven_batches()),
            Case(RecordingNet(), [(X[0:5], y[0:5]), (X[5:10], y[5:10]), (X[10:], y[10:])])]


def check_evaluate_accuracy(evaluate_accuracy, cases):
    """q2: accuracy over all examples of an iterable of batches (weighted by batch size), without a graph."""
    name = "evaluate_accuracy"
    net, batches = cases[0].args
    on = say("3 batches of 4, 4 and 2 examples")
    got = as_number(call(evaluate_accuracy, net, batches, name=name, on=on), name, on)
    with torch.no_grad():
        per_batch = [((Xb @ net.weight).argmax(dim=1) == yb).double() for Xb, yb in batches]
    overall = torch.cat(per_batch).mean().item()
    mean_of_batches = sum(b.mean().item() for b in per_batch) / len(per_batch)
    if net.calls == 0:
        raise Incorrect(say("on {on}, `{name}` never called `net`", on=on, name=name))
    if abs(got - mean_of_batches) < 1e-6 and abs(got - overall) > 1e-6:
        raise Incorrect(say("on {on}, `{name}` returned {got:.4g}, the average of the batches' accuracies; the "
                            "last batch is smaller, so count right predictions and examples over all batches "
                            "instead", on=on, name=name, got=got))
    if abs(got - overall) > 1e-6:
        raise Incorrect(say("on {on}, `{name}` returned {got:.4g}, expected {overall:.4g} ({right} of 10 examples "
                            "are right)", on=on, name=name, got=got, overall=overall,
                            right=int(torch.cat(per_batch).sum())))
    if net.grad_enabled:
        raise Incorrect(say("`{name}` called `net` with gradient tracking on: evaluation builds no graph, so run "
                            "the loop inside torch.no_grad()", name=name))
    net, batches = cases[1].args
    on = say("3 random batches of 5, 5 and 1 examples")
    got = as_number(call(evaluate_accuracy, net, batches, name=name, on=on), name, on)
    with torch.no_grad():
        want = torch.cat([((Xb @ net.weight).argmax(dim=1) == yb).double() for Xb, yb in batches]).mean().item()
    if abs(got - want) > 1e-6:
        raise Incorrect(say("on {on}, `{name}` returned {got:.4g}, expected {want:.4g}", on=on, name=name, got=got,
                            want=want))


def sgd_cases(rng):
    W = torch.randn(3, 2, generator=rng).requires_grad_()
    b = torch.randn(2, generator=rng).requires_grad_()
    W.grad, b.grad = torch.randn(3, 2, generator=rng), torch.randn(2, generator=rng)
    return [Case([W, b], 0.5, 4)]


def check_sgd(sgd, cases):
    """q3: p -= lr * p.grad / batch_size for each parameter, in place, then the gradients zeroed."""
    name = "sgd"
    (W, b), lr, batch_size = cases[0].args
    start = [W.detach().clone(), b.detach().clone()]
    grads = [W.grad.clone(), b.grad.clone()]
    on = say("two parameters with lr={lr} and batch_size={batch_size}", lr=lr, batch_size=batch_size)
    call(sgd, [W, b], lr, batch_size, name=name, on=on)
    if not (W.is_leaf and b.is_leaf and W.requires_grad and b.requires_grad):
        raise Incorrect(say("after `{name}` the parameters are no longer leaf tensors that require grad: update "
                            "them in place (p -= ...) inside torch.no_grad()", name=name))
    moved = [p.detach() for p in (W, b)]
    if all(torch.equal(m, s) for m, s in zip(moved, start)):
        raise Incorrect(say("`{name}` did not change the parameters it was given: update each tensor in place (p "
                            "-= ...), not a new local name", name=name))
    for param, s, grad, label in zip(moved, start, grads, (say("the first"), say("the second"))):
        want = s - lr * grad / batch_size
        if torch.allclose(param, s - lr * grad, atol=1e-6):
            raise Incorrect(say("on {on}, {label} parameter moved by lr * grad, {batch_size} times too far: the "
                                "gradient is of the summed loss, so divide by the batch size", on=on, label=label,
                                batch_size=batch_size))
        expect_close(param, want, say("{name} (the updated parameter)", name=name), on, atol=1e-6)
    for p in (W, b):
        if p.grad is not None and p.grad.abs().max() > 0:
            raise Incorrect(say("`{name}` left the gradients in p.grad; zero them (p.grad.zero_()) so that the "
                                "next backward() does not add to them", name=name))


def train_reference(params, batches, lr, mean_loss=False, zero=True):
    """What one epoch should do (and two common mistakes): parameters after it and the mean loss per example."""
    W, b = (p.detach().clone().requires_grad_() for p in params)
    total, n = 0.0, 0
    for X, y in batches:
        loss = F.cross_entropy(X @ W + b, y, reduction="mean" if mean_loss else "sum")
        loss.backward()
        total += loss.item() * (len(y) if mean_loss else 1)
        n += len(y)
        with torch.no_grad():
            for p in (W, b):
                p -= lr * p.grad / len(y)
                if zero:
                    p.grad.zero_()
    return [W.detach(), b.detach()], total / n


def train_epoch_cases(rng):
    X = torch.randn(10, 4, generator=rng)
    y = torch.randint(0, 3, (10,), generator=rng)
    batches = [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])]
    W = (torch.randn(4, 3, generator=rng) * 0.5).requires_grad_()
    b = torch.zeros(3, requires_grad=True)
    return [Case(LinearModel(W, b), [W, b], batches, 0.3)]  # the model computes X @ W + b with these W, b


def check_train_epoch(train_epoch, cases):
    """q4: one epoch of minibatch SGD on the summed cross-entropy; returns the mean loss per example."""
    name = "train_epoch"
    net, (W, b), batches, lr = cases[0].args
    W0, b0 = W.detach().clone(), b.detach().clone()
    on = say("a toy data set (10 examples in batches of 4, 4 and 2) with lr={lr}", lr=lr)
    loss = call(train_epoch, net, [W, b], batches, lr, name=name, on=on)
    (W_want, b_want), loss_want = train_reference([W0, b0], batches, lr)
    got = [W.detach(), b.detach()]
    if torch.equal(got[0], W0) and torch.equal(got[1], b0):
        raise Incorrect(say("on {on}, `{name}` did not change the parameters: call sgd(params, lr, len(y)) after "
                            "each backward()", on=on, name=name))
    close = all(torch.allclose(p, q, atol=1e-5) for p, q in zip(got, (W_want, b_want)))
    if not close:
        (W_mean, b_mean), _ = train_reference([W0, b0], batches, lr, mean_loss=True)
        (W_acc, b_acc), _ = train_reference([W0, b0], batches, lr, zero=False)
        if all(torch.allclose(p, q, atol=1e-5) for p, q in zip(got, (W_mean, b_mean))):
            raise Incorrect(say("on {on}, the parameters moved a batch-size times too little: sgd divides by the "
                                "batch size, so call backward() on the summed loss (reduction='sum')", on=on))
        if all(torch.allclose(p, q, atol=1e-5) for p, q in zip(got, (W_acc, b_acc))):
            raise Incorrect(say("on {on}, the gradients piled up from batch to batch: they must be zeroed after "
                                "each step (is your sgd from q3 right?)", on=on))
        raise Incorrect(say("on {on}, the parameters after one epoch differ from one SGD step per batch on the "
                            "summed cross-entropy of that batch's logits (check sgd from q3, and that each batch "
                            "is used once)", on=on))
    got_loss = as_number(loss, name, on)
    if abs(got_loss - loss_want) > 1e-4:
        raise Incorrect(say("on {on}, `{name}` returned {got_loss:.4g}; expected the mean loss per example over "
                            "the epoch, {loss_want:.4g} (sum the batches' summed losses, divide by the number of "
                            "examples)", on=on, name=name, got_loss=got_loss, loss_want=loss_want))


def training_split():
    """The notebook's training images and labels (the 60,000 less its validation images), and the test split."""
    from book.data import load_dataset
    from book.evaluation import validation_split

    data = load_dataset("fashion-mnist")
    train_idx, _ = validation_split(len(data.train_labels), VAL_SIZE, seed=SPLIT_SEED)
    return data.train_images[train_idx], data.train_labels[train_idx], data.test_images, data.test_labels


def steps_per_epoch(batch_size: int) -> int:
    return math.ceil((60_000 - VAL_SIZE) / batch_size)


def check_budget(lrs, batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 60_000 - VAL_SIZE:
        raise Incorrect(say("batch_size = {batch_size!r}: a batch size is a whole number from 1 to {largest:,}",
                            batch_size=batch_size, largest=60_000 - VAL_SIZE))
    if not isinstance(lrs, (list, tuple)) or not lrs:
        raise Incorrect(say("lrs = {lrs!r}: give a list with one learning rate per epoch, e.g. [0.5, 0.1] for "
                            "two epochs", lrs=lrs))
    for lr in lrs:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and 0 < lr <= 10):
            raise Incorrect(say("lrs = {lrs!r}: each learning rate is a positive number (and here at most 10)",
                                lrs=lrs))
    steps = len(lrs) * steps_per_epoch(batch_size)
    if steps > MAX_STEPS:
        fields = dict(n=len(lrs), batch_size=batch_size, steps=steps, per_epoch=steps_per_epoch(batch_size),
                      budget=MAX_STEPS)
        raise Incorrect(say("{n} epochs in batches of {batch_size} take {steps:,} SGD steps ({per_epoch:,} per "
                            "epoch); the budget is {budget}: fewer epochs or larger batches", **fields)
                        if len(lrs) > 1 else
                        say("{n} epoch in batches of {batch_size} take {steps:,} SGD steps ({per_epoch:,} per "
                            "epoch); the budget is {budget}: fewer epochs or larger batches", **fields))


def describe(lrs, batch_size) -> str:
    return (say("lrs={lrs}, batch_size={batch_size} ({n} steps)", lrs=list(lrs), batch_size=batch_size,
                n=len(lrs) * steps_per_epoch(batch_size)))


WEIGHT_TOLERANCE = 0.01  # relative distance from the reference run: rounding differs, SGD does not


def reference_epoch(net, params, train_iter, lr):
    """One epoch as the model answer trains it (the reference run of q5)."""
    total, seen = 0.0, 0
    for X, y in train_iter:
        loss = F.cross_entropy(net(X), y, reduction="sum")
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad / len(y)
                p.grad.zero_()
        total += loss.item()
        seen += len(y)
    return total / seen


def target_cases(rng):
    seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=rng))
    return [Case(seed, VAL_SIZE, SPLIT_SEED, MAX_STEPS, driver="train_linear_sgd")]


def check_target(lrs, batch_size, train_epoch, cases):
    """q5: softmax regression trained with the learner's train_epoch, one epoch per learning rate of ``lrs``,
    within MAX_STEPS SGD steps, reaches TARGET_ACC on the 10,000 test images (scored here: the learner's code
    only hands back the weights)."""
    check_budget(lrs, batch_size)
    callable_answer(train_epoch, "train_epoch")
    setting = describe(lrs, batch_size)
    on = say("Fashion-MNIST with {setting}", setting=setting)
    out = call(lambda: drive(cases[0], lrs, batch_size, train_epoch), name="train_epoch", on=on)
    if not isinstance(out, dict):
        raise Incorrect(say("with {setting}, the training run handed back nothing to score", setting=setting))
    losses = [as_number(loss, "train_epoch", on) for loss in list(out.get("losses") or [])[:len(lrs)]]
    for epoch, loss in enumerate(losses, 1):
        if not math.isfinite(loss):
            raise Incorrect(say("with {setting}, training diverged: the loss of epoch {epoch} is {loss!r}; a "
                                "smaller learning rate helps", setting=setting, epoch=epoch, loss=loss))
    W, b = out.get("W"), out.get("b")
    if not (isinstance(W, torch.Tensor) and isinstance(b, torch.Tensor) and W.shape == (784, 10)
            and b.shape == (10,) and W.is_floating_point() and torch.isfinite(W).all() and torch.isfinite(b).all()):
        raise Incorrect(say("with {setting}, the weights after training are not finite numbers of their original "
                            "shapes: did train_epoch replace the parameters?", setting=setting))
    # the same run with the model answer's epoch: weights that these settings do not give (trained longer, or
    # elsewhere) are refused, so the budget holds and the record cannot bring weights of its own
    reference = train_linear_sgd(list(lrs), batch_size, reference_epoch, *cases[0].args)
    got, want = torch.cat([W.double().flatten(), b.double()]), torch.cat([reference["W"].double().flatten(),
                                                                          reference["b"].double()])
    gap = ((got - want).norm() / want.norm()).item()
    if not gap <= WEIGHT_TOLERANCE:
        fields = dict(setting=setting, gap=100 * gap, n=len(lrs))
        raise Incorrect(say("with {setting}, the weights after training differ by {gap:.2g} % from what {n} epochs "
                            "of minibatch SGD with these settings give: train_epoch must take one step of sgd per "
                            "batch on the summed cross-entropy, as in q4", **fields) if len(lrs) > 1 else
                        say("with {setting}, the weights after training differ by {gap:.2g} % from what {n} epoch "
                            "of minibatch SGD with these settings give: train_epoch must take one step of sgd per "
                            "batch on the summed cross-entropy, as in q4", **fields))
    _, _, test_images, test_labels = training_split()
    with torch.no_grad():
        X_test = test_images.reshape(-1, 784).float().div(255)
        correct = int(((X_test @ W.float() + b.float()).argmax(dim=1) == test_labels).sum())
    from book.evaluation import accuracy_interval

    acc = accuracy_interval(correct, len(test_labels))
    if acc.estimate < TARGET_ACC:
        raise Incorrect(say("with {setting}, the accuracy on the {n:,} test images is {acc}, below the {target:g} "
                            "% target. Compare with your validation accuracy: if that was above the target too, "
                            "aim higher; if it jumps from epoch to epoch, lower the last learning rate",
                            setting=setting, n=len(test_labels), acc=acc, target=100 * TARGET_ACC))
    return say("Test accuracy {acc} with {setting}.", acc=acc, setting=setting)


q1 = Question(EXERCISE, "q1", "Accuracy of a batch", 1, check_accuracy,
              cases=accuracy_cases, hints=[
    "The prediction of a row is the index of its largest entry: y_hat.argmax(dim=1).",
    "Compare the predictions with y, count the matches, divide by the number of rows, and return a Python float "
    "(.item() or float()).",
])
q2 = Question(EXERCISE, "q2", "Accuracy over a data set", 2, check_evaluate_accuracy,
              cases=evaluate_accuracy_cases, hints=[
    "Go through data_iter batch by batch, keeping two running sums: right predictions and examples seen.",
    "Batches can differ in size (the last one is often smaller), so don't average the batches' accuracies. "
    "Run the loop inside `with torch.no_grad():`.",
])
q3 = Question(EXERCISE, "q3", "One step of minibatch SGD", 2, check_sgd,
              cases=sgd_cases, hints=[
    "For each parameter p: p <- p - lr * p.grad / batch_size, then reset p.grad to zero.",
    "Change each tensor in place (p -= ..., p.grad.zero_()) inside `with torch.no_grad():`, so that p stays the "
    "leaf tensor autograd fills.",
])
q4 = Question(EXERCISE, "q4", "One epoch of training", 2, check_train_epoch,
              cases=train_epoch_cases, hints=[
    "For each batch (X, y): logits = net(X); loss = F.cross_entropy(logits, y, reduction='sum'); "
    "loss.backward(); then one step of your sgd.",
    "sgd divides by the batch size, so pass len(y) (the last batch may be smaller). Keep a running sum of the "
    "summed losses (loss.item()) and of len(y); return their ratio.",
])
q5 = Question(EXERCISE, "q5", f"{100 * TARGET_ACC:g} % on unseen images within {MAX_STEPS} SGD steps", 3,
              check_target, cases=target_cases, hints=[
    "Watch the validation accuracy after each epoch: with one learning rate throughout it jumps around, because "
    "every step follows one noisy batch. A large learning rate first and a much smaller one at the end lets the "
    "weights settle.",
    "For example, batches of 256 (196 steps per epoch) for 4 epochs: a learning rate of 1 for two epochs, then "
    "ten times smaller, then ten times smaller again. Check the validation accuracy, then the budget.",
])
QUESTIONS = [q1, q2, q3, q4, q5]
