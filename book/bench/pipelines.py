"""The three pipelines that feed one model the same minibatches, and the two models they feed.

(a) :class:`book.data.FastLoader`, the course's in-memory iterator; (b) the pipeline learners copy from d2l,
``torchvision.datasets.FashionMNIST`` with ``ToTensor()`` through a ``DataLoader`` with worker processes; (c) the
compute lower bound, every epoch's batches prepared in advance. All three shuffle with the same permutations.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from book.data import FastLoader, info, load_dataset, mean_std, to_float, torchvision_root
from book.device import default_device
from book.mlp import MLP

BATCH_SIZE = 256
SEED = 0
WORKERS = 4  # d2l's get_dataloader_workers()
# Accuracies of two pipelines count as equal when they differ by at most half a percentage point. The three
# pipelines feed the very same batches, so on the CPU they agree exactly; the margin is for the GPU, whose
# parallel sums may round differently from run to run. A different order of batches would not pass: it moves
# the accuracy after a few epochs of SGD by several points.
ACCURACY_TOLERANCE = 0.005

PIPELINES = {
    "a": "(a) book.data.FastLoader",
    "b": f"(b) torchvision FashionMNIST + ToTensor() + DataLoader(num_workers={WORKERS})",
    "c": "(c) preloaded, pre-batched tensors (compute lower bound)",
}



# --- the models --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """A model as a chapter trains it: layer sizes, dropout, initialisation, optimiser."""

    label: str
    sizes: tuple[int, ...]
    dropout: float
    optimizer: str  # "sgd" or "adam"
    lr: float
    normal_init: float | None  # std of N(0, std^2) weights and zero biases; None: PyTorch's default init

    def build(self, seed: int = SEED, device: torch.device | str = "cpu") -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(seed)
        net = MLP(self.sizes, dropout=self.dropout)
        if self.normal_init is not None:
            for module in net.modules():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, std=self.normal_init)
                    nn.init.zeros_(module.bias)
        net.to(device)
        optimizer_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[self.optimizer]
        return net, optimizer_class(net.parameters(), lr=self.lr)


MODELS = {
    # chapter 07 (and d2l): nn.Linear(784, 10) from N(0, 0.01^2), SGD with lr 0.1
    "softmax": ModelSpec("softmax regression 784-10, SGD lr 0.1", (784, 10), 0.0, "sgd", 0.1, 0.01),
    # a Fashion-MNIST MLP of the kind chapter 10 trains: one hidden layer of 256, dropout 0.2, Adam lr 1e-3
    "mlp": ModelSpec("MLP 784-256-10, dropout 0.2, Adam lr 1e-3", (784, 256, 10), 0.2, "adam", 1e-3, None),
}


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(MODELS)}")
    return MODELS[name]



# --- the three pipelines -----------------------------------------------------------------------------------

def train_count(n_available: int, train_size: int | None) -> int:
    if train_size is None:
        return n_available
    if not isinstance(train_size, int) or not 1 <= train_size <= n_available:
        raise ValueError(f"train_size must be an integer from 1 to {n_available} (or None for all), "
                         f"got {train_size!r}")
    return train_size


def _features(images: torch.Tensor, normalize: tuple[float, float] | None) -> torch.Tensor:
    """What ``ToTensor()`` (then ``Normalize(mean, std)``) makes of each image, for the whole set at once."""
    x = to_float(images)
    return x if normalize is None else (x - normalize[0]) / normalize[1]


def fast_pipeline(dataset: str = "fashion-mnist", batch_size: int = BATCH_SIZE, seed: int = SEED,
                  train_size: int | None = None, device=None, normalize: bool = False):
    """(a) ``(train, test)`` iterables: :class:`book.data.FastLoader` over the tensors in memory."""
    data = load_dataset(dataset)
    n = train_count(len(data.train_labels), train_size)
    norm = mean_std(data.train_images) if normalize else None
    train = FastLoader(_features(data.train_images[:n], norm), data.train_labels[:n], batch_size, seed=seed,
                       device=device)
    test = FastLoader(_features(data.test_images, norm), data.test_labels, batch_size, shuffle=False,
                      device=device)
    return train, test


def _worker_context():
    # Fork where the platform offers it safely (Linux): a forked worker inherits the imported torchvision,
    # while a spawned or forkserver worker (the default from Python 3.14) imports it afresh and, beside a CPU-only
    # torch, dies on the import that book.torchvision_compat repairs in this process only. It also starts faster.
    return "fork" if sys.platform.startswith("linux") else None


class SameOrderSampler(torch.utils.data.Sampler):
    """The shuffling of ``DataLoader(shuffle=True, generator=torch.Generator().manual_seed(seed))`` -- a fresh
    ``torch.randperm(n, generator=...)`` every epoch -- drawn exactly as :class:`book.data.FastLoader` draws it.

    ``shuffle=True`` does the same work, but its generator is also drawn from for the workers' seeds, so its
    order drifts from FastLoader's. With this sampler (b) sees the very batches (a) sees, and equal accuracy is
    a check of the pipelines, not luck: a few epochs of SGD end several points apart on two different orders.
    """

    def __init__(self, n: int, seed: int = SEED):
        self.n, self.generator = n, torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def torchvision_pipeline(dataset: str = "fashion-mnist", batch_size: int = BATCH_SIZE, seed: int = SEED,
                         train_size: int | None = None, normalize: bool = False, num_workers: int = WORKERS):
    """(b) ``(train, test)`` DataLoaders as d2l builds them: a torchvision data set decoding one image at a time
    through ``ToTensor()`` (and ``Normalize``), batched by ``num_workers`` worker processes. Batches stay on the
    CPU, as in d2l; the training loop moves them to the device. Shuffled by :class:`SameOrderSampler`."""
    from book.torchvision_compat import import_torchvision

    tv = import_torchvision()
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms

    steps = [transforms.ToTensor()]
    if normalize:
        mean, std = mean_std(load_dataset(dataset).train_images)
        steps.append(transforms.Normalize((mean,), (std,)))
    transform = transforms.Compose(steps)
    dataset_class = getattr(tv.datasets, info(dataset).torchvision_name)
    root = torchvision_root(dataset)
    train_set = dataset_class(root=root, train=True, download=False, transform=transform)
    test_set = dataset_class(root=root, train=False, download=False, transform=transform)
    n = train_count(len(train_set), train_size)
    if n < len(train_set):
        train_set = Subset(train_set, range(n))
    # The generators seed the workers only: without them DataLoader draws those seeds from torch's global
    # generator, and the dropout masks of the MLP would then differ from those of (a) and (c).
    options = dict(batch_size=batch_size, num_workers=num_workers,
                   multiprocessing_context=_worker_context() if num_workers > 0 else None)
    with allow_many_workers():
        train = DataLoader(train_set, sampler=SameOrderSampler(n, seed),
                           generator=torch.Generator().manual_seed(seed), **options)
        test = DataLoader(test_set, shuffle=False, generator=torch.Generator().manual_seed(seed), **options)
    return train, test


@contextlib.contextmanager
def allow_many_workers():
    """Silence torch's warning that 4 workers exceed the 2 it suggests on 2 cores: 4 is what is measured."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
        yield


class PreBatched:
    """(c) Every epoch's shuffled minibatches, made (on the device) before the clock starts.

    Iterating walks a ready list: the loop that consumes it does the training step and nothing else. Each
    iteration hands out the next prepared epoch, whose batches are dropped as soon as it is handed out,
    so at most ``epochs`` epochs of data are held at once. The permutations are drawn exactly as
    :class:`book.data.FastLoader` draws them, so with the same seed (a) and (c) see the same batches.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, epochs: int, seed: int = SEED,
                 shuffle: bool = True, device=None):
        device = default_device(device)
        generator = torch.Generator().manual_seed(seed)
        X, y = X.to(device), y.to(device)
        self.batches_per_epoch = -(-len(y) // batch_size)
        self._epochs = []
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=generator).to(device) if shuffle else None
            Xe, ye = (X[order], y[order]) if shuffle else (X, y)
            self._epochs.append(list(zip(Xe.split(batch_size), ye.split(batch_size))))
        self.y = y  # as FastLoader: len(loader.y) is the number of examples

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self):
        if not self._epochs:
            raise RuntimeError("PreBatched: every prepared epoch is used up; make it with a larger epochs=")
        return iter(self._epochs.pop(0))


def preloaded_pipeline(dataset: str = "fashion-mnist", batch_size: int = BATCH_SIZE, seed: int = SEED,
                       train_size: int | None = None, device=None, normalize: bool = False, epochs: int = 3):
    """(c) ``(train, test)``: :class:`PreBatched` training epochs and the test set cut into batches once."""
    data = load_dataset(dataset)
    n = train_count(len(data.train_labels), train_size)
    norm = mean_std(data.train_images) if normalize else None
    train = PreBatched(_features(data.train_images[:n], norm), data.train_labels[:n], batch_size, epochs, seed,
                       device=device)
    test = PreBatched(_features(data.test_images, norm), data.test_labels, batch_size, 1, shuffle=False,
                      device=device)
    return train, list(test)


def make_pipeline(key: str, epochs: int, **options):
    """``(train, test)`` of pipeline ``"a"``, ``"b"`` or ``"c"`` (see :data:`PIPELINES`)."""
    if key == "a":
        return fast_pipeline(**options)
    if key == "b":
        options.pop("device", None)  # its batches are made on the CPU, like d2l's
        return torchvision_pipeline(**options)
    if key == "c":
        return preloaded_pipeline(epochs=epochs, **options)
    raise ValueError(f"unknown pipeline {key!r}: expected one of {sorted(PIPELINES)}")
