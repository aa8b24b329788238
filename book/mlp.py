"""The multilayer perceptron of the MLP chapter: ``nn.Flatten``, then Linear/ReLU pairs, then a last Linear.

    >>> from book.mlp import MLP, count_parameters, save_state, load_state
    >>> net = MLP()                                 # 784-512-256-128-64-10, ReLU, outputs logits
    >>> count_parameters(net)
    575050
    >>> small = MLP((784, 256, 10), dropout=0.2)    # one hidden layer, dropout after its ReLU
    >>> path = save_state(small, "fashion.pt")      # the state_dict only, not the class
    >>> same = load_state("fashion.pt", sizes=(784, 256, 10))
    >>> result = fit(small, train_iter, val_iter, nn.CrossEntropyLoss(), num_epochs=30,
    ...              optimizer=torch.optim.SGD(small.parameters(), lr=0.1), patience=5)
    >>> result.best_epoch, result.best["val_acc"]  # the weights of that epoch are back in `small`

The layers are named ``fc1, relu1, drop1, fc2, ...`` inside ``net.layers``, so the ``state_dict`` keys
(``layers.fc1.weight``, ...) depend only on the layer sizes: weights trained with dropout load into a model
built without it, and the other way round. The last layer has no activation: the model returns *logits*, which
is what ``nn.CrossEntropyLoss`` expects (it applies log-softmax itself).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from book.device import default_device

DEFAULT_SIZES = (784, 512, 256, 128, 64, 10)


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """The layer sizes as a tuple of positive ints (input, hidden..., output), or a clear error."""
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a sequence of layer widths such as {DEFAULT_SIZES}, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, e.g. (784, 10); got {sizes}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in sizes):
        raise ValueError(f"every layer width must be a positive integer, got {sizes}")
    return sizes


class MLP(nn.Module):
    """A multilayer perceptron: ``Flatten``, then ``Linear`` + ``ReLU`` (+ ``Dropout``) per hidden layer, then a
    last ``Linear`` with no activation, so ``forward`` returns logits of shape (batch, sizes[-1]).

    ``sizes`` = (input width, hidden widths..., number of classes); ``(784, 10)`` is softmax regression.
    ``dropout`` is the probability of zeroing a hidden unit's output during training (0 = no dropout layers);
    it is active only in train mode (``net.train()``), never after ``net.eval()``.
    """

    def __init__(self, sizes: Sequence[int] = DEFAULT_SIZES, dropout: float = 0.0):
        super().__init__()
        self.sizes = check_sizes(sizes)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.flatten = nn.Flatten()
        self.layers = nn.Sequential()
        last = len(self.sizes) - 1
        for i, (d_in, d_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            self.layers.add_module(f"fc{i}", nn.Linear(d_in, d_out))
            if i < last:  # a hidden layer; the output layer stays linear
                self.layers.add_module(f"relu{i}", nn.ReLU())
                if self.dropout > 0:
                    self.layers.add_module(f"drop{i}", nn.Dropout(self.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.flatten(x))


def count_parameters(model: nn.Module) -> int:
    """How many numbers the model learns: the total size of all its parameter tensors."""
    return sum(p.numel() for p in model.parameters())


def save_state(model: nn.Module, path: str | Path) -> Path:
    """Save ``model.state_dict()`` (the weights only, moved to the CPU) to ``path``; creates missing folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: value.detach().cpu() for key, value in model.state_dict().items()}, path)
    return path


def _sizes_in(state: dict) -> tuple[int, ...] | None:
    """The layer sizes an MLP state_dict was saved from (read off its fc weights), or None if it is not one."""
    shapes = []
    i = 1
    while f"layers.fc{i}.weight" in state:
        shapes.append(tuple(state[f"layers.fc{i}.weight"].shape))
        i += 1
    if not shapes or any(len(s) != 2 for s in shapes):
        return None
    sizes = (shapes[0][1],) + tuple(s[0] for s in shapes)
    return sizes if all(a[0] == b[1] for a, b in zip(shapes, shapes[1:])) else None


def load_state(path: str | Path, sizes: Sequence[int] = DEFAULT_SIZES, dropout: float = 0.0,
               device: str | torch.device | None = None) -> MLP:
    """Build ``MLP(sizes, dropout)`` and load the weights saved in ``path`` by :func:`save_state`.

    Raises ``ValueError`` naming the sizes the file holds when they differ from ``sizes``. The model is returned
    in eval mode, on ``device`` (the CPU when None).
    """
    sizes = check_sizes(sizes)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved weights at {path}: save them first with save_state(model, path)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state_dict (got {type(state).__name__}); save it with "
                         "save_state(model, path), which stores model.state_dict()")
    found = _sizes_in(state)
    if found is None:
        raise ValueError(f"{path} does not hold the weights of a book.mlp.MLP (no layers.fc1.weight, ... keys; "
                         f"it has {sorted(state)[:4]}...); expected an MLP with sizes {sizes}")
    if found != sizes:
        raise ValueError(f"{path} holds an MLP with layer sizes {found}, but sizes {sizes} were requested: "
                         f"the expected shapes differ. Call load_state(path, sizes={found}).")
    model = MLP(sizes, dropout)
    model.load_state_dict(state)
    if device is not None:
        model.to(default_device(device))  # a device this machine lacks is named in the error
    return model.eval()


# What "best" can mean when choosing an epoch on validation data, as book.evaluation.EarlyStopping's mode.
_MODE = {"val_loss": "min", "val_acc": "max"}


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` did: one history row per epoch it ran (epoch, train_loss, train_acc, val_loss, val_acc,
    time), the epoch it judged best on the validation data, that epoch's row and its weights (``best_state``, a
    state_dict: ``model.load_state_dict(result.best_state)``), whether patience ran out before ``num_epochs``,
    and whether the model's weights were changed back to the best epoch's at the end."""

    history: list[dict]
    best_epoch: int
    best: dict
    best_state: dict
    stopped_early: bool
    restored: bool


def fit(net: nn.Module, train_iter, val_iter, loss: Callable, num_epochs: int, optimizer: torch.optim.Optimizer,
        monitor=None, patience: int | None = None, best: str = "val_loss", restore_best: bool = True,
        eval_loss: Callable | None = None) -> FitResult:
    """Train ``net`` on ``train_iter``, measuring it on the *validation* data ``val_iter`` after every epoch.

    The epoch with the lowest ``val_loss`` (or, with ``best="val_acc"``, the highest validation accuracy) is the
    best; with ``patience`` = k, training stops once k epochs in a row have not beaten it (early stopping, with
    :class:`book.evaluation.EarlyStopping` of chapter 08 keeping the count and the best weights), and
    with ``restore_best`` the model ends with the best epoch's weights, not the last one's. The test set has no
    part in any of this: score it once, afterwards. ``monitor`` (a :class:`book.monitor.TrainingMonitor`; one is
    made when None) shows the curves and keeps counting epochs across calls. ``eval_loss`` is the loss measured
    on the validation data when it should differ from the training ``loss`` (e.g. the plain cross-entropy when
    training with label smoothing); by default it is ``loss``. A run that diverges stops with
    :class:`book.train.TrainingDiverged`, naming the learning rate.
    """
    from book.evaluation import EarlyStopping
    from book.monitor import TrainingMonitor
    from book.train import DivergenceCheck, check_loader, evaluate, train_epoch

    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be an nn.Module (fit saves and restores its state_dict), got {type(net).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError("optimizer must be a torch.optim.Optimizer, e.g. torch.optim.SGD(net.parameters(), lr=0.1), "
                        f"got {optimizer!r}")
    if not isinstance(num_epochs, int) or isinstance(num_epochs, bool) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    if patience is not None and (not isinstance(patience, int) or isinstance(patience, bool) or patience < 1):
        raise ValueError(f"patience must be None (no early stopping) or a positive number of epochs, got {patience!r}")
    if best not in _MODE:
        raise ValueError(f"best must be one of {sorted(_MODE)}, got {best!r}")
    if eval_loss is not None and not callable(eval_loss):
        raise TypeError(f"eval_loss must be a loss function such as nn.CrossEntropyLoss(), got {eval_loss!r}")
    check_loader("train_iter", train_iter)
    check_loader("val_iter", val_iter)

    monitor = monitor if monitor is not None else TrainingMonitor()
    first = monitor.epochs_done
    # without patience the stopper only keeps the best epoch: it cannot run out within num_epochs
    stopper = EarlyStopping(patience=patience if patience is not None else num_epochs, mode=_MODE[best])
    stopped_early = False
    steps = len(train_iter) if hasattr(train_iter, "__len__") else None
    divergence = DivergenceCheck()  # a run that diverges stops, naming the learning rate, as in book.train.train
    with monitor.run(epochs=num_epochs, steps_per_epoch=steps):
        for epoch in range(first + 1, first + num_epochs + 1):
            trained = train_epoch(net, train_iter, loss, optimizer, monitor, epoch, divergence=divergence)
            measured = evaluate(net, val_iter, eval_loss if eval_loss is not None else loss)
            row = monitor.epoch(train_loss=trained["loss"], train_acc=trained["acc"],
                                val_loss=measured["loss"], val_acc=measured["acc"])
            if stopper.step(row[best], net) and patience is not None:
                stopped_early = epoch < first + num_epochs
                break
    history = [dict(r) for r in monitor.history[first:]]
    best_row = history[stopper.best_epoch - 1]
    # the weights are those of the last epoch trained: put the best epoch's back
    restored = restore_best and best_row["epoch"] != history[-1]["epoch"]
    if restore_best:
        stopper.restore(net)
    return FitResult(history, best_row["epoch"], best_row, stopper.best_state, stopped_early, restored)
