"""Training and evaluating a classifier: the loop of the scratch chapter, kept for every chapter after it.

    history = train(net, train_iter, test_iter, loss, num_epochs=10, updater=torch.optim.SGD(params, lr=0.1))
    train(net, train_iter, val_iter, loss, 10, updater, eval_name="val")   # rows with val_loss, val_acc
    evaluate(net, test_iter, loss)          # {"loss": average loss, "acc": accuracy}

``net`` is any callable from a batch of inputs to logits (an ``nn.Module`` or a plain function); ``loss`` maps
``(logits, y)`` to per-example losses (``reduction="none"``) or to their mean; ``updater`` is a
``torch.optim.Optimizer`` or a function ``updater(batch_size)`` that updates the parameters by hand (the
minibatch SGD of the scratch chapter, :func:`sgd`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch


class Accumulator:
    """Running sums of ``n`` quantities (e.g. total loss, correct predictions, examples seen)."""

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *values) -> None:
        if len(values) != len(self.data):
            raise ValueError(f"expected {len(self.data)} values, got {len(values)}")
        self.data = [a + float(b) for a, b in zip(self.data, values)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, i: int) -> float:
        return self.data[i]


def correct(y_hat: torch.Tensor, y: torch.Tensor) -> int:
    """How many rows of ``y_hat`` (logits or probabilities, (n, q)) put their largest value on the label."""
    if y_hat.dim() != 2 or y_hat.shape[0] != y.shape[0]:
        raise ValueError(f"expected predictions (n, q) for {y.shape[0]} labels, got shape {tuple(y_hat.shape)}")
    return int((y_hat.argmax(dim=1) == y).sum())


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows whose largest score is on the true label."""
    return correct(y_hat, y) / len(y)


def _per_example(l: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss to differentiate, summed loss to accumulate) from per-example or already-averaged losses."""
    if l.dim() == 0:
        return l, l.detach() * n
    if l.shape != (n,):
        raise ValueError(f"the loss must return one value per example ({n},) or their mean, got {tuple(l.shape)}")
    return l.mean(), l.detach().sum()


def evaluate(net: Callable, data_iter: Iterable, loss: Callable | None = None) -> dict:
    """Average loss (``None`` without ``loss``) and accuracy of ``net`` over ``data_iter``.

    Puts an ``nn.Module`` in eval mode for the pass (dropout off) and restores its mode; no graph is built.
    """
    was_training = getattr(net, "training", None)
    if was_training is not None:
        net.eval()
    metric = Accumulator(3)  # summed loss, correct predictions, examples
    with torch.no_grad():
        for X, y in data_iter:
            y_hat = net(X)
            summed = _per_example(loss(y_hat, y), len(y))[1] if loss is not None else 0.0
            metric.add(summed, correct(y_hat, y), len(y))
    if was_training:
        net.train()
    if metric[2] == 0:
        raise ValueError("data_iter yielded no examples")
    return {"loss": metric[0] / metric[2] if loss is not None else None, "acc": metric[1] / metric[2]}


def sgd(params: Iterable[torch.Tensor], lr: float, batch_size: int) -> None:
    """Minibatch stochastic gradient descent by hand: ``p -= lr * p.grad / batch_size``, then zero the grads.

    For gradients of a *summed* loss; the division makes the step size independent of the batch size.
    """
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad / batch_size
            p.grad.zero_()


def train_epoch(net: Callable, train_iter: Iterable, loss: Callable, updater, monitor=None,
                epoch: int | None = None) -> dict:
    """One pass over ``train_iter``; returns the average training loss and accuracy seen during the pass.

    With an optimizer the mean loss is differentiated; with a hand-written ``updater(batch_size)`` the *summed*
    loss is, as :func:`sgd` expects. A loss that turns nan or inf stops training with the fix in the message.
    """
    if isinstance(net, torch.nn.Module):
        net.train()
    metric = Accumulator(3)
    for step, (X, y) in enumerate(train_iter, 1):
        y_hat = net(X)
        mean, summed = _per_example(loss(y_hat, y), len(y))
        if not math.isfinite(summed.item()):
            where = f"epoch {epoch}, " if epoch is not None else ""
            raise FloatingPointError(
                f"the loss became {summed.item()} at {where}minibatch {step}: the parameters diverged. "
                "Lower the learning rate (e.g. by 10x), and check that the loss is given logits, not probabilities.")
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            mean.backward()
            updater.step()
        else:
            (mean * len(y)).backward()
            updater(len(y))
        metric.add(summed, correct(y_hat.detach(), y), len(y))
        if monitor is not None:
            monitor.step(loss=mean.item())
    return {"loss": metric[0] / metric[2], "acc": metric[1] / metric[2]}


def train(net: Callable, train_iter, test_iter, loss: Callable, num_epochs: int, updater, monitor=None,
          eval_name: str = "test") -> list[dict]:
    """Train for ``num_epochs``, evaluating on ``test_iter`` after each; returns the monitor's history.

    ``monitor`` is a :class:`book.monitor.TrainingMonitor` (one is made when None; its curves show as training
    goes). Each history row: epoch, train_loss, train_acc (averaged over the epoch while the weights moved),
    then the loss and accuracy on the second loader, named after ``eval_name``: test_loss, test_acc by default;
    ``eval_name="val"`` when that loader holds validation data gives val_loss, val_acc.

    Stopping it (the stop button, Ctrl-C) keeps the finished epochs in the monitor's history and lets the
    ``KeyboardInterrupt`` go on, so that nothing queued after the training runs with a half-trained model.
    """
    from book.monitor import TrainingMonitor

    if not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    if not isinstance(eval_name, str) or not eval_name.isidentifier() or eval_name == "train":
        raise ValueError(f"eval_name names the second loader's data in the history (e.g. 'test' or 'val', giving "
                         f"test_loss or val_loss); got {eval_name!r}")
    monitor = monitor if monitor is not None else TrainingMonitor()
    steps = len(train_iter) if hasattr(train_iter, "__len__") else None
    first = monitor.epochs_done
    with monitor.run(epochs=num_epochs, steps_per_epoch=steps):
        for epoch in range(first + 1, first + num_epochs + 1):
            train_metrics = train_epoch(net, train_iter, loss, updater, monitor, epoch)
            eval_metrics = evaluate(net, test_iter, loss)
            monitor.epoch(**{"train_loss": train_metrics["loss"], "train_acc": train_metrics["acc"],
                             f"{eval_name}_loss": eval_metrics["loss"], f"{eval_name}_acc": eval_metrics["acc"]})
    return monitor.history


def predict(net: Callable, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Predicted class indices for the inputs ``X`` (on X's device), in batches, without a graph."""
    was_training = getattr(net, "training", None)
    if was_training is not None:
        net.eval()
    with torch.no_grad():
        out = torch.cat([net(X[i:i + batch_size]).argmax(dim=1) for i in range(0, len(X), batch_size)])
    if was_training:
        net.train()
    return out


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``C[i, j]`` = how many examples of true class i were predicted as class j (int64, q × q)."""
    y_true, y_pred = y_true.cpu().long(), y_pred.cpu().long()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {tuple(y_true.shape)} vs {tuple(y_pred.shape)}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} must hold class indices in 0..{num_classes - 1}")
    return torch.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes,
                                                                                              num_classes)
