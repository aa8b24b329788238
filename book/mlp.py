"""The multilayer perceptron of the MLP chapter: ``nn.Flatten``, then Linear/ReLU pairs, then a last Linear.

    >>> from book.mlp import MLP, count_parameters, save_state, load_state
    >>> net = MLP()                                 # 784-512-256-128-64-10, ReLU, outputs logits
    >>> count_parameters(net)
    575050
    >>> small = MLP((784, 256, 10), dropout=0.2)    # one hidden layer, dropout after its ReLU
    >>> path = save_state(small, "fashion.pt")      # the state_dict only, not the class
    >>> same = load_state("fashion.pt", sizes=(784, 256, 10))

The layers are named ``fc1, relu1, drop1, fc2, ...`` inside ``net.layers``, so the ``state_dict`` keys
(``layers.fc1.weight``, ...) depend only on the layer sizes: weights trained with dropout load into a model
built without it, and the other way round. The last layer has no activation: the model returns *logits*, which
is what ``nn.CrossEntropyLoss`` expects (it applies log-softmax itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

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
        model.to(device)
    return model.eval()
