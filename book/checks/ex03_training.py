"""Checks of exercise 03: training softmax regression from scratch -- accuracy, evaluation, SGD, one epoch, and
reaching 80 % test accuracy on Fashion-MNIST within a small budget."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from book.checks.common import call, callable_answer, expect_close, show
from book.questions import Incorrect, Question

EXERCISE = "03_training"
TITLE = "Training from scratch: accuracy, evaluation, SGD"
PASS_MARK = 0.6

TARGET_ACC = 0.80
MAX_EPOCHS, MIN_BATCH = 2, 32


def as_number(value, name: str, on: str) -> float:
    if isinstance(value, torch.Tensor):
        raise Incorrect(f"on {on}, `{name}` returned a tensor ({show(value)}); return a Python number "
                        "(float(...) or .item())")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Incorrect(f"on {on}, `{name}` returned {type(value).__name__}, expected a number")
    return float(value)


def check_accuracy(accuracy):
    """q1: the fraction of rows whose largest entry is at the label, as a Python float."""
    name = "accuracy"
    y_hat = torch.tensor([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4], [2.0, -1.0, 0.5], [0.2, 0.5, 0.3]])
    y = torch.tensor([1, 2, 2, 1, 0])
    on = f"y_hat {show(y_hat)} and y = {y.tolist()}"
    got = as_number(call(accuracy, y_hat, y, name=name, on=on), name, on)
    if abs(got - 2) < 1e-6:
        raise Incorrect(f"on {on}, `{name}` returned 2, the number of right predictions; return the fraction of "
                        "rows that are right (between 0 and 1)")
    if abs(got - 0.4) > 1e-6:
        raise Incorrect(f"on {on}, `{name}` returned {got:.4g}, expected 0.4 (2 of the 5 rows are right)")
    for n in (1, 1000):
        y_hat = torch.randn(n, 10, generator=torch.Generator().manual_seed(n))
        y = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(n + 1))
        on = f"{n} random rows of 10 logits"
        got = as_number(call(accuracy, y_hat, y, name=name, on=on), name, on)
        want = (y_hat.argmax(dim=1) == y).double().mean().item()
        if abs(got - want) > 1e-6:
            raise Incorrect(f"on {on}, `{name}` returned {got:.4g}, expected {want:.4g}")


class RecordingNet:
    """A fixed linear model that notes whether it was called with gradient tracking on."""

    def __init__(self):
        self.weight = torch.tensor([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]], requires_grad=True)
        self.calls, self.grad_enabled = 0, False

    def __call__(self, X):
        self.calls += 1
        self.grad_enabled |= torch.is_grad_enabled()
        return X @ self.weight


def check_evaluate_accuracy(evaluate_accuracy):
    """q2: accuracy over all examples of an iterable of batches (weighted by batch size), without a graph."""
    name = "evaluate_accuracy"
    X = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [3.0, 1.2],  # no ties between logits
                      [1.0, 3.2], [2.0, 1.0], [1.0, 2.0], [5.0, 0.0], [0.0, 5.0]])
    y = torch.tensor([0, 1, 1, 1, 2, 1, 2, 0, 0, 0])
    batches = [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])]
    net = RecordingNet()
    on = "3 batches of 4, 4 and 2 examples"
    got = as_number(call(evaluate_accuracy, net, batches, name=name, on=on), name, on)
    with torch.no_grad():
        per_batch = [((Xb @ net.weight).argmax(dim=1) == yb).double() for Xb, yb in batches]
    overall = torch.cat(per_batch).mean().item()
    mean_of_batches = sum(b.mean().item() for b in per_batch) / len(per_batch)
    if net.calls == 0:
        raise Incorrect(f"on {on}, `{name}` never called `net`")
    if abs(got - mean_of_batches) < 1e-6 and abs(got - overall) > 1e-6:
        raise Incorrect(f"on {on}, `{name}` returned {got:.4g}, the average of the batches' accuracies; the last "
                        "batch is smaller, so count right predictions and examples over all batches instead")
    if abs(got - overall) > 1e-6:
        raise Incorrect(f"on {on}, `{name}` returned {got:.4g}, expected {overall:.4g} "
                        f"({int(torch.cat(per_batch).sum())} of 10 examples are right)")
    if net.grad_enabled:
        raise Incorrect(f"`{name}` called `net` with gradient tracking on: evaluation builds no graph, so "
                        "run the loop inside torch.no_grad()")


def check_sgd(sgd):
    """q3: p -= lr * p.grad / batch_size for each parameter, in place, then the gradients zeroed."""
    name = "sgd"
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 2, generator=g).requires_grad_()
    b = torch.randn(2, generator=g).requires_grad_()
    W.grad, b.grad = torch.randn(3, 2, generator=g), torch.randn(2, generator=g)
    start = [W.detach().clone(), b.detach().clone()]
    grads = [W.grad.clone(), b.grad.clone()]
    lr, batch_size = 0.5, 4
    on = f"two parameters with lr={lr} and batch_size={batch_size}"
    call(sgd, [W, b], lr, batch_size, name=name, on=on)
    if not (W.is_leaf and b.is_leaf and W.requires_grad and b.requires_grad):
        raise Incorrect(f"after `{name}` the parameters are no longer leaf tensors that require grad: update them "
                        "in place (p -= ...) inside torch.no_grad()")
    moved = [p.detach() for p in (W, b)]
    if all(torch.equal(m, s) for m, s in zip(moved, start)):
        raise Incorrect(f"`{name}` did not change the parameters it was given: update each tensor in place "
                        "(p -= ...), not a new local name")
    for param, s, grad, label in zip(moved, start, grads, ("the first", "the second")):
        want = s - lr * grad / batch_size
        if torch.allclose(param, s - lr * grad, atol=1e-6):
            raise Incorrect(f"on {on}, {label} parameter moved by lr * grad, {batch_size} times too far: the "
                            "gradient is of the summed loss, so divide by the batch size")
        expect_close(param, want, f"{name} (the updated parameter)", on, atol=1e-6)
    for p in (W, b):
        if p.grad is not None and p.grad.abs().max() > 0:
            raise Incorrect(f"`{name}` left the gradients in p.grad; zero them (p.grad.zero_()) so that the next "
                            "backward() does not add to them")


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


def check_train_epoch(train_epoch):
    """q4: one epoch of minibatch SGD on the summed cross-entropy; returns the mean loss per example."""
    name = "train_epoch"
    g = torch.Generator().manual_seed(0)
    X = torch.randn(10, 4, generator=g)
    y = torch.randint(0, 3, (10,), generator=g)
    batches = [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])]
    W0, b0 = torch.randn(4, 3, generator=g) * 0.5, torch.zeros(3)
    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()

    def net(X):
        return X @ W + b

    lr = 0.3
    on = f"a toy data set (10 examples in batches of 4, 4 and 2) with lr={lr}"
    loss = call(train_epoch, net, [W, b], batches, lr, name=name, on=on)
    (W_want, b_want), loss_want = train_reference([W0, b0], batches, lr)
    got = [W.detach(), b.detach()]
    if torch.equal(got[0], W0) and torch.equal(got[1], b0):
        raise Incorrect(f"on {on}, `{name}` did not change the parameters: call sgd(params, lr, len(y)) after "
                        "each backward()")
    close = all(torch.allclose(p, q, atol=1e-5) for p, q in zip(got, (W_want, b_want)))
    if not close:
        (W_mean, b_mean), _ = train_reference([W0, b0], batches, lr, mean_loss=True)
        (W_acc, b_acc), _ = train_reference([W0, b0], batches, lr, zero=False)
        if all(torch.allclose(p, q, atol=1e-5) for p, q in zip(got, (W_mean, b_mean))):
            raise Incorrect(f"on {on}, the parameters moved a batch-size times too little: sgd divides by the "
                            "batch size, so call backward() on the summed loss (reduction='sum')")
        if all(torch.allclose(p, q, atol=1e-5) for p, q in zip(got, (W_acc, b_acc))):
            raise Incorrect(f"on {on}, the gradients piled up from batch to batch: they must be zeroed after each "
                            "step (is your sgd from q3 right?)")
        raise Incorrect(f"on {on}, the parameters after one epoch differ from one SGD step per batch on the summed "
                        "cross-entropy of that batch's logits (check sgd from q3, and that each batch is used once)")
    got_loss = as_number(loss, name, on)
    if abs(got_loss - loss_want) > 1e-4:
        raise Incorrect(f"on {on}, `{name}` returned {got_loss:.4g}; expected the mean loss per example over the "
                        f"epoch, {loss_want:.4g} (sum the batches' summed losses, divide by the number of examples)")


def check_budget(lr, batch_size, num_epochs):
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or not 1 <= num_epochs <= MAX_EPOCHS:
        raise Incorrect(f"num_epochs = {num_epochs!r}: the budget is a whole number of epochs from 1 to {MAX_EPOCHS}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not MIN_BATCH <= batch_size <= 60000:
        raise Incorrect(f"batch_size = {batch_size!r}: the budget allows whole numbers from {MIN_BATCH} to 60000")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and 0 < lr <= 10):
        raise Incorrect(f"lr = {lr!r}: a learning rate is a positive number (and here at most 10)")


def check_target(lr, batch_size, num_epochs, train_epoch):
    """q5: softmax regression trained from W ~ N(0, 0.01^2), b = 0 (seed 0) with the learner's train_epoch
    reaches 80 % test accuracy on Fashion-MNIST within the budget."""
    from book.data import FastLoader, load_dataset

    check_budget(lr, batch_size, num_epochs)
    callable_answer(train_epoch, "train_epoch")
    data = load_dataset("fashion-mnist")
    torch.manual_seed(0)
    W = torch.normal(0, 0.01, size=(784, 10)).requires_grad_()
    b = torch.zeros(10, requires_grad=True)

    def net(X):
        return X.reshape(-1, 784) @ W + b

    train_iter = FastLoader(data.train_images, data.train_labels, batch_size=batch_size, seed=0, device="cpu")
    setting = f"lr={lr}, batch_size={batch_size}, {num_epochs} epoch{'s' if num_epochs > 1 else ''}"
    for epoch in range(1, num_epochs + 1):
        on = f"Fashion-MNIST with {setting}"
        loss = as_number(call(train_epoch, net, [W, b], train_iter, lr, name="train_epoch", on=on), "train_epoch", on)
        if not math.isfinite(loss):
            raise Incorrect(f"with {setting}, training diverged: the loss of epoch {epoch} is {loss!r}; "
                            "a smaller learning rate helps")
    with torch.no_grad():
        X_test = data.test_images.reshape(-1, 784).float().div(255)
        acc = ((X_test @ W + b).argmax(dim=1) == data.test_labels).double().mean().item()
    if acc < TARGET_ACC:
        raise Incorrect(f"with {setting}, the test accuracy is {100 * acc:.2f}%, below the {100 * TARGET_ACC:.0f}% "
                        "target")
    return f"Test accuracy {100 * acc:.2f}% with {setting}."


q1 = Question(EXERCISE, "q1", "Accuracy of a batch", 1, check_accuracy, hints=[
    "The prediction of a row is the index of its largest entry: y_hat.argmax(dim=1).",
    "Compare the predictions with y, count the matches, divide by the number of rows, and return a Python float "
    "(.item() or float()).",
])
q2 = Question(EXERCISE, "q2", "Accuracy over a data set", 2, check_evaluate_accuracy, hints=[
    "Go through data_iter batch by batch, keeping two running sums: right predictions and examples seen.",
    "Batches can differ in size (the last one is often smaller), so don't average the batches' accuracies. "
    "Run the loop inside `with torch.no_grad():`.",
])
q3 = Question(EXERCISE, "q3", "One step of minibatch SGD", 2, check_sgd, hints=[
    "For each parameter p: p <- p - lr * p.grad / batch_size, then reset p.grad to zero.",
    "Change each tensor in place (p -= ..., p.grad.zero_()) inside `with torch.no_grad():`, so that p stays the "
    "leaf tensor autograd fills.",
])
q4 = Question(EXERCISE, "q4", "One epoch of training", 2, check_train_epoch, hints=[
    "For each batch (X, y): logits = net(X); loss = F.cross_entropy(logits, y, reduction='sum'); "
    "loss.backward(); then one step of your sgd.",
    "sgd divides by the batch size, so pass len(y) (the last batch may be smaller). Keep a running sum of the "
    "summed losses (loss.item()) and of len(y); return their ratio.",
])
q5 = Question(EXERCISE, "q5", f"Reach {100 * TARGET_ACC:.0f}% on Fashion-MNIST in at most {MAX_EPOCHS} epochs", 3,
              check_target, hints=[
    "Within one or two epochs, the number of steps matters: smaller batches take more steps per epoch.",
    "More steps with noisier gradients call for a smaller learning rate. Try a few settings and watch the "
    "accuracy the check reports.",
])
QUESTIONS = [q1, q2, q3, q4, q5]
