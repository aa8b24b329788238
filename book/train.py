"""Training and evaluating a classifier: the loop of the scratch chapter, kept for every chapter after it.

    history = train(net, train_iter, test_iter, loss, num_epochs=10, updater=torch.optim.SGD(params, lr=0.1))
    train(net, train_iter, val_iter, loss, 10, updater, eval_name="val")   # rows with val_loss, val_acc
    evaluate(net, test_iter, loss)          # {"loss": average loss, "acc": accuracy}

``net`` is any callable from a batch of inputs to logits (an ``nn.Module`` or a plain function); ``loss`` maps
``(logits, y)`` to per-example losses (``reduction="none"``) or to their mean; ``updater`` is a
``torch.optim.Optimizer`` or a function ``updater(batch_size)`` that updates the parameters by hand (the
minibatch SGD of the scratch chapter, :func:`sgd`).

``train`` checks its arguments before the first step, and stops a run that diverges (:class:`DivergenceCheck`)
with a :class:`TrainingDiverged` error that names the learning rate, instead of training on to the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

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


class TrainingDiverged(FloatingPointError):
    """The parameters ran away: the loss turned inf or NaN, or grew far beyond anything a learning model shows."""


class DivergenceCheck:
    """Notices a run whose loss runs away even though every number stays finite.

    The losses of this course are computed stably (log-sum-exp), so a diverging run seldom makes them inf or NaN:
    the loss grows with the weights instead (a small MLP at lr 100 with momentum reaches 1e30 in its first epoch,
    tests/test_mlp.py) and training would go on to the last epoch. Two signs that a model that learns never
    shows, judged on each epoch's mean training loss:

    - it is more than ``factor`` (10) times the *reference*; or
    - it has risen ``rises`` (3) epochs in a row and is above the reference;

    where the reference is the larger of log q -- the loss of a uniform guess over the q classes -- and the loss of
    the run's first minibatch (an unlucky initialisation can start above log q; that is no divergence). A run
    that learns goes below the reference, one that learns slowly stays near it; both signs need the loss to
    climb above it. The chapters' runs (07, 09, 10, 11) all train through this check.
    One check follows one run: :func:`train` makes a fresh one per call and hands it to :func:`train_epoch`.
    """

    def __init__(self, factor: float = 10.0, rises: int = 3):
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not factor > 1:
            raise ValueError(f"factor must be a number above 1 (the loss may grow to factor x the reference), "
                             f"got {factor!r}")
        if not isinstance(rises, int) or isinstance(rises, bool) or rises < 1:
            raise ValueError(f"rises must be a positive whole number of epochs, got {rises!r}")
        self.factor, self.rises = float(factor), rises
        self.reference: float | None = None
        self.q: int | None = None
        self.losses: list[float] = []

    def first_minibatch(self, loss: float, q: int) -> None:
        """Record the run's starting point: the mean loss of its first minibatch over ``q`` classes (once)."""
        if self.reference is None:
            self.q = q
            self.reference = max(math.log(q) if q > 0 else 0.0, loss)

    def end_of_epoch(self, loss: float, epoch: int) -> str | None:
        """Judge an epoch's mean training loss: what went wrong, in words, or None while the run is healthy."""
        self.losses.append(loss)
        if self.reference is None:
            return None
        start = (f"{self.reference:.3g}, the larger of log q = log {self.q} = {math.log(max(self.q, 1)):.3g} "
                 "(the loss of a uniform guess) and the loss of the first minibatch")
        if loss > self.factor * self.reference:
            return (f"the mean training loss of epoch {epoch} is {loss:.3g}, more than {self.factor:g} times "
                    f"{start}")
        recent = self.losses[-(self.rises + 1):]
        if len(recent) == self.rises + 1 and all(a < b for a, b in zip(recent, recent[1:])) \
                and loss > self.reference:
            return (f"the mean training loss rose {self.rises} epochs in a row, to {loss:.3g} at epoch {epoch}, "
                    f"above {start}")
        return None


def _learning_rate_advice(updater) -> str:
    """What to do about a diverging run: lower the learning rate, named with its value when it can be read."""
    if isinstance(updater, torch.optim.Optimizer):
        # a scheduler keeps the rate it started from as initial_lr: that is the one the learner chose
        rates = sorted({float(group.get("initial_lr", group["lr"])) for group in updater.param_groups})
        scheduled = any("initial_lr" in group for group in updater.param_groups)
        given = ", ".join(f"lr={r:g}" for r in rates) + (" at the start of the schedule" if scheduled else " now")
        tenth = ", ".join(f"lr={r / 10:g}" for r in rates)
        return (f"The learning rate is too large for this model and data: lower it ({given}; try {tenth}, "
                "10 times smaller)")
    return ("The learning rate your updater uses is too large for this model and data: lower it (try 10 times "
            "smaller)")


def train_epoch(net: Callable, train_iter: Iterable, loss: Callable, updater, monitor=None,
                epoch: int | None = None, scheduler=None, divergence: DivergenceCheck | None = None) -> dict:
    """One pass over ``train_iter``; returns the average training loss and accuracy seen during the pass.

    With an optimizer the mean loss is differentiated; with a hand-written ``updater(batch_size)`` the *summed*
    loss is, as :func:`sgd` expects. ``scheduler`` (e.g. ``torch.optim.lr_scheduler.CosineAnnealingLR``) is
    stepped after every minibatch, so its period counts minibatches. A loss that turns nan or inf stops training
    with the fix in the message, and so does a finite loss running away when a ``divergence`` check is given
    (:class:`DivergenceCheck`; :func:`train` always gives one): both raise :class:`TrainingDiverged`.
    """
    _check_updater(updater)
    if isinstance(net, torch.nn.Module):
        net.train()
    metric = Accumulator(3)
    where = f"epoch {epoch}, " if epoch is not None else ""  # where in the run a message points to
    for step, (X, y) in enumerate(train_iter, 1):
        y_hat = net(X)
        mean, summed = _per_example(loss(y_hat, y), len(y))
        value = summed.item()
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the loss became {value} at {where}minibatch {step}: the parameters diverged. "
                f"{_learning_rate_advice(updater)}, and check that the loss is given logits, not probabilities.")
        if divergence is not None and step == 1 and y_hat.dim() == 2:
            divergence.first_minibatch(value / len(y), y_hat.shape[1])
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            mean.backward()
            updater.step()
        else:
            (mean * len(y)).backward()
            updater(len(y))
        if scheduler is not None:
            scheduler.step()
        metric.add(summed, correct(y_hat.detach(), y), len(y))
        if monitor is not None:
            monitor.step(loss=mean.item())
    if metric[2] == 0:
        during = f"in epoch {epoch}" if epoch is not None else "in this pass"
        raise ValueError(f"train_iter yielded no examples {during}{_USED_UP}")
    result = {"loss": metric[0] / metric[2], "acc": metric[1] / metric[2]}
    if divergence is not None:
        problem = divergence.end_of_epoch(result["loss"], epoch if epoch is not None else len(divergence.losses) + 1)
        if problem is not None:
            raise TrainingDiverged(f"training diverged: {problem}. {_learning_rate_advice(updater)}.")
    return result


_USED_UP = (": it must hold at least one batch, and be iterable once per epoch (a list of batches, a DataLoader, "
            "a FastLoader; an iterator or a generator is used up after one pass)")


def _check_updater(updater) -> None:
    if isinstance(updater, torch.optim.Optimizer) or (callable(updater) and not isinstance(updater, type)):
        return
    raise TypeError(f"updater must be a torch.optim.Optimizer, e.g. torch.optim.SGD(net.parameters(), lr=0.1), or a "
                    f"function updater(batch_size) that updates the parameters, e.g. lambda n: sgd(params, lr, n); "
                    f"got {updater!r} ({type(updater).__name__}). The learning rate goes into the optimizer or "
                    "the function, not in place of them.")


def check_loader(name: str, data) -> None:
    """Refuse, before any training, a loader that cannot serve every epoch: not iterable, an iterator (used up
    after one pass), or one that says it holds no batches (``len(data) == 0``)."""
    if isinstance(data, Iterator) or not isinstance(data, Iterable):
        what = "an iterator, used up after one pass" if isinstance(data, Iterator) else "not iterable"
        raise TypeError(f"{name} must yield (X, y) batches once per epoch: a DataLoader, a FastLoader or a list of "
                        f"batches; got {type(data).__name__}, {what}")
    if hasattr(data, "__len__") and len(data) == 0:
        raise ValueError(f"{name} yields no batches{_USED_UP}")


def train(net: Callable, train_iter, test_iter, loss: Callable, num_epochs: int, updater, monitor=None,
          eval_name: str = "test", scheduler=None) -> list[dict]:
    """Train for ``num_epochs``, evaluating on ``test_iter`` after each; returns the monitor's history.

    ``monitor`` is a :class:`book.monitor.TrainingMonitor` (one is made when None; its curves show as training
    goes). Each history row: epoch, train_loss, train_acc (averaged over the epoch while the weights moved),
    then the loss and accuracy on the second loader, named after ``eval_name``: test_loss, test_acc by default;
    ``eval_name="val"`` when that loader holds validation data gives val_loss, val_acc. ``test_iter=None``
    trains without measuring anything else. ``scheduler`` is stepped after every minibatch (see
    :func:`train_epoch`).

    Every argument is checked before the first step (an empty loader, ``updater=0.1``, ``num_epochs=0`` are
    errors that say what was expected). A run that diverges stops with :class:`TrainingDiverged`, naming the
    learning rate: a loss that turns inf or NaN, or an epoch's training loss that runs away (:class:`DivergenceCheck`).

    Stopping it (the stop button, Ctrl-C) keeps the finished epochs in the monitor's history and lets the
    ``KeyboardInterrupt`` go on, so that nothing queued after the training runs with a half-trained model.
    """
    from book.monitor import TrainingMonitor

    if not callable(net):
        raise TypeError(f"net must map a batch of inputs to logits (an nn.Module or a function), got {net!r}")
    check_loader("train_iter", train_iter)
    if test_iter is not None:
        check_loader("test_iter", test_iter)
    if not callable(loss):
        raise TypeError(f"loss must be a function of (logits, y), e.g. nn.CrossEntropyLoss(), got {loss!r}")
    if not isinstance(num_epochs, int) or isinstance(num_epochs, bool) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    _check_updater(updater)
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must be a learning-rate scheduler with a step() method, e.g. "
                        f"torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=...), got {scheduler!r}")
    if not isinstance(eval_name, str) or not eval_name.isidentifier() or eval_name == "train":
        raise ValueError(f"eval_name names the second loader's data in the history (e.g. 'test' or 'val', giving "
                         f"test_loss or val_loss); got {eval_name!r}")
    monitor = monitor if monitor is not None else TrainingMonitor()
    steps = len(train_iter) if hasattr(train_iter, "__len__") else None
    first = monitor.epochs_done
    divergence = DivergenceCheck()
    with monitor.run(epochs=num_epochs, steps_per_epoch=steps):
        for epoch in range(first + 1, first + num_epochs + 1):
            trained = train_epoch(net, train_iter, loss, updater, monitor, epoch, scheduler, divergence)
            row = {"train_loss": trained["loss"], "train_acc": trained["acc"]}
            if test_iter is not None:
                measured = evaluate(net, test_iter, loss)
                row.update({f"{eval_name}_loss": measured["loss"], f"{eval_name}_acc": measured["acc"]})
            monitor.epoch(**row)
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
