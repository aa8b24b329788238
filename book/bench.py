"""Benchmarks: the course's data pipeline beside the one learners would otherwise copy, and the book's build.

    python -m book.bench                  # everything: tables on stdout, JSON in _build/bench.json
    python -m book.bench --skip-book      # without the two whole-book builds (they take minutes)
    python -m book.bench --quick          # the reduced budget of the book's Performance page
    make bench                            # the first, after the set-up that `make book` does too

What is measured, all in one run, on ``default_device()`` (CUDA when present, else the CPU):

* **epoch time** of one model trained through three pipelines, with the same model, seed, batch size and
  training step (forward, backward, update):
  (a) :class:`book.data.FastLoader`, the course's in-memory iterator;
  (b) the pipeline learners copy from d2l: ``torchvision.datasets.FashionMNIST`` with ``ToTensor()``
  (optionally ``Normalize``) through a ``DataLoader`` with 4 worker processes;
  (c) the compute lower bound: every epoch's minibatches prepared before the clock starts, so the loop does
  nothing but the training step.
  Median seconds per epoch, ratio to (a), and test accuracy after the same number of epochs, for softmax
  regression (chapter 07) and for an MLP (chapters 09-10);
* **loading only**: one epoch of batches from each way of storing and indexing the images, no training;
* **test accuracy after 10 epochs** for both models on Fashion-MNIST and MNIST, beside the figure d2l published;
* **whole-book execution**: a cold build (no cache) and a cached rebuild of a copy of the book;
* **grading time** of one exercise notebook with ``python -m book.grade``.

Timings are never asserted in tests; ``tests/test_bench.py`` checks only that the pipelines reach the same
accuracy and that the tables have their rows and columns.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Importing book.bench imported `book` first, which sets OMP_WAIT_POLICY=PASSIVE before torch loads (idle
# OpenMP threads spinning on 2 shared cores made 2-thread epochs 10-20x slower here).
from book import OMP_WAIT_POLICY_IN_EFFECT

from book.data import FastLoader, REPO_ROOT, info, load_dataset, mean_std, to_float, torchvision_root  # noqa: E402
from book.device import default_device  # noqa: E402
from book.mlp import MLP  # noqa: E402

# Dive into Deep Learning (Zhang, Lipton, Li, Smola), section 3.7 "Concise Implementation of Softmax
# Regression", MXNet/Gluon edition (2019): softmax regression on Fashion-MNIST, batch 256, SGD with learning
# rate 0.1, weights drawn from N(0, 0.01^2), 10 epochs -- "This algorithm achieves an accuracy of 83.7%".
D2L_SOFTMAX_FASHION_MNIST_ACC = 0.837
D2L_SOURCE = ("Dive into Deep Learning, sec. 3.7 'Concise Implementation of Softmax Regression' "
              "(MXNet/Gluon edition, 2019), https://d2l.ai")

BATCH_SIZE = 256
SEED = 0
WORKERS = 4  # d2l's get_dataloader_workers()
# Accuracies of two pipelines count as equal when they differ by at most half a percentage point. The three
# pipelines feed the very same batches, so on the CPU they agree exactly; the margin is for the GPU, whose
# parallel sums may round differently from run to run. A different order of batches would not pass: it moves
# the accuracy after a few epochs of SGD by several points.
ACCURACY_TOLERANCE = 0.005

# The targets.
TARGET_SPEEDUP_OVER_TORCHVISION = 20.0  # (a) at least 20x faster per epoch than (b)
TARGET_SLOWDOWN_OVER_LOWER_BOUND = 2.0  # (a) within 2x of (c)
TARGET_COLD_BUILD_S = 300.0
TARGET_CACHED_BUILD_S = 30.0
TARGET_GRADING_S = 10.0

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

def _train_count(n_available: int, train_size: int | None) -> int:
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
    n = _train_count(len(data.train_labels), train_size)
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
    n = _train_count(len(train_set), train_size)
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
        device = torch.device(device) if device is not None else default_device()
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
    n = _train_count(len(data.train_labels), train_size)
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


# --- timing ------------------------------------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA runs asynchronously: wait for it before reading the clock


def train_timed(net: nn.Module, optimizer: torch.optim.Optimizer, train_iter: Iterable, epochs: int,
                device: torch.device, log: Callable[[str], None] | None = None) -> list[float]:
    """Train for ``epochs`` with the bare training step; return each epoch's wall-clock seconds.

    The step is the same for every pipeline: move the batch to the device (nothing to do when it is there
    already), forward, cross-entropy, backward, update. No metrics are computed inside the loop.
    """
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    seconds = []
    for epoch in range(1, epochs + 1):
        _sync(device)
        start = time.perf_counter()
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            loss = loss_fn(net(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        _sync(device)
        seconds.append(time.perf_counter() - start)
        if log:
            log(f"  epoch {epoch}/{epochs}: {seconds[-1]:.2f} s")
    return seconds


def evaluate_accuracy(net: nn.Module, test_iter: Iterable, device: torch.device) -> float:
    """Accuracy on every test batch (moved to ``device`` first), in eval mode, without a graph."""
    from book.train import evaluate

    return evaluate(net, ((X.to(device), y.to(device)) for X, y in test_iter))["acc"]


def _rng_state(device: torch.device) -> tuple:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(state: tuple, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def compare_pipelines(model: str = "softmax", dataset: str = "fashion-mnist", epochs: int = 3,
                      batch_size: int = BATCH_SIZE, seed: int = SEED, train_size: int | None = None,
                      pipelines: Iterable[str] = ("a", "b", "c"), device=None, normalize: bool = False,
                      log: Callable[[str], None] | None = None) -> dict:
    """Train ``model`` for ``epochs`` through each pipeline; median seconds per epoch and test accuracy.

    The pipelines take turns epoch by epoch, so that a busy spell of a shared machine slows all of them alike
    rather than one. Each keeps its own state of torch's random generator (the dropout masks), so the turns
    change nothing in what it computes.

    Returns ``{"model", "dataset", "epochs", "batch_size", "train_size", "device", "rows": [...]}``, one row per
    pipeline: ``pipeline``, ``label``, ``epoch_seconds``, ``median_s``, ``ratio_to_a``, ``test_acc``.
    """
    spec = model_spec(model)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer (3 or more for a meaningful median), got {epochs!r}")
    device = torch.device(device) if device is not None else default_device()
    options = dict(dataset=dataset, batch_size=batch_size, seed=seed, train_size=train_size, device=device,
                   normalize=normalize)
    runs = {}
    with allow_many_workers():
        for key in pipelines:
            train, test = make_pipeline(key, epochs, **options)
            net, optimizer = spec.build(seed, device)  # the same initial weights for every pipeline
            runs[key] = {"train": train, "test": test, "net": net, "optimizer": optimizer,
                         "rng": _rng_state(device), "seconds": []}
        forked = [device] if device.type == "cuda" else []
        for epoch in range(1, epochs + 1):
            for key, run in runs.items():
                with torch.random.fork_rng(devices=forked):
                    _set_rng_state(run["rng"], device)
                    run["seconds"] += train_timed(run["net"], run["optimizer"], run["train"], 1, device)
                    run["rng"] = _rng_state(device)
            if log:
                log(f"{spec.label}, {dataset}, epoch {epoch}/{epochs}: "
                    + ", ".join(f"({key}) {run['seconds'][-1]:.2f} s" for key, run in runs.items()))
        rows = []
        for key, run in runs.items():
            train = run["train"]
            rows.append({"pipeline": key, "label": PIPELINES[key], "epoch_seconds": run["seconds"],
                         "median_s": statistics.median(run["seconds"]),
                         "test_acc": evaluate_accuracy(run["net"], run["test"], device),
                         "train_examples": len(train.dataset) if hasattr(train, "dataset") else len(train.y)})
    runs.clear()  # (c) holds several epochs of data
    reference = next((r["median_s"] for r in rows if r["pipeline"] == "a"), None)
    for row in rows:
        row["ratio_to_a"] = row["median_s"] / reference if reference else None
    return {"model": model, "model_label": spec.label, "dataset": dataset, "epochs": epochs,
            "batch_size": batch_size, "seed": seed, "train_size": rows[0]["train_examples"] if rows else None,
            "normalize": normalize, "device": str(device), "rows": rows}


def loading_only(dataset: str = "fashion-mnist", batch_size: int = BATCH_SIZE, repeats: int = 3,
                 train_size: int | None = None, include_torchvision: bool = True, device=None) -> list[dict]:
    """Seconds to produce one epoch of shuffled batches, without training, for each way of doing it.

    The rows are the design choices behind :class:`book.data.FastLoader` and their alternatives: float
    storage converted once vs uint8 converted per batch; ``index_select`` vs fancy indexing vs permuting the
    whole set then slicing; and, for scale, the torchvision pipeline (b). Median of ``repeats`` epochs.
    """
    device = torch.device(device) if device is not None else default_device()
    data = load_dataset(dataset)
    n = _train_count(len(data.train_labels), train_size)
    images_u8, labels = data.train_images[:n].to(device), data.train_labels[:n].to(device)
    images_f = to_float(images_u8)
    generator = torch.Generator().manual_seed(SEED)

    def batches(order):
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]

    def float_index_select():
        for idx in batches(torch.randperm(n, generator=generator).to(device)):
            images_f.index_select(0, idx), labels.index_select(0, idx)

    def float_fancy_indexing():
        for idx in batches(torch.randperm(n, generator=generator).to(device)):
            images_f[idx], labels[idx]

    def float_permute_then_slice():
        order = torch.randperm(n, generator=generator).to(device)
        X, y = images_f[order], labels[order]
        for i in range(0, n, batch_size):
            X[i:i + batch_size], y[i:i + batch_size]

    def uint8_convert_per_batch():
        for idx in batches(torch.randperm(n, generator=generator).to(device)):
            images_u8.index_select(0, idx).unsqueeze(1).float().div_(255), labels.index_select(0, idx)

    fast = FastLoader(data.train_images[:n], data.train_labels[:n], batch_size, device=device)

    def fast_loader():
        for _ in fast:
            pass

    variants = [("book.data.FastLoader (float32 stored once, index_select per batch)", fast_loader),
                ("float32 stored, index_select per batch (FastLoader's inner loop)", float_index_select),
                ("float32 stored, fancy indexing X[idx] per batch", float_fancy_indexing),
                ("float32 stored, whole set permuted per epoch, then sliced", float_permute_then_slice),
                ("uint8 stored, index_select then converted to float per batch", uint8_convert_per_batch)]
    if include_torchvision:
        train, _ = torchvision_pipeline(dataset, batch_size, train_size=train_size)

        def torchvision_loader():
            for _ in train:
                pass
        variants.append((PIPELINES["b"], torchvision_loader))
    rows = []
    for label, run in variants:
        seconds = []
        with allow_many_workers():
            for _ in range(repeats):
                _sync(device)
                start = time.perf_counter()
                run()
                _sync(device)
                seconds.append(time.perf_counter() - start)
        rows.append({"label": label, "seconds": seconds, "median_s": statistics.median(seconds)})
    return rows


def thread_scaling(models: Iterable[str] = ("softmax", "mlp"), threads: Iterable[int] | None = None,
                   epochs: int = 3, train_size: int | None = None) -> list[dict]:
    """Median epoch time of pipeline (a) on the CPU at each torch thread count (default: 1 and torch's own).

    The counts take turns epoch by epoch, so a busy spell of a shared machine hits them alike. A small model
    may train faster on one thread: splitting its small matrix products costs more than it saves, and more so
    when other programs hold the cores. The thread count is restored afterwards.
    """
    previous = torch.get_num_threads()
    threads = sorted(set(threads or {1, previous}))
    device = torch.device("cpu")
    rows = []
    try:
        for model in models:
            train, _ = fast_pipeline(train_size=train_size, device=device)
            nets = {n: model_spec(model).build(SEED, device) for n in threads}
            seconds = {n: [] for n in threads}
            for _ in range(epochs):
                for n in threads:
                    torch.set_num_threads(n)
                    seconds[n] += train_timed(*nets[n], train, 1, device)
            rows += [{"model": model, "threads": n, "epoch_seconds": s, "median_s": statistics.median(s)}
                     for n, s in seconds.items()]
    finally:
        torch.set_num_threads(previous)
    return rows


def accuracy_table(epochs: int = 10, batch_size: int = BATCH_SIZE, seed: int = SEED,
                   models: Iterable[str] = ("softmax", "mlp"), datasets: Iterable[str] = ("fashion-mnist", "mnist"),
                   device=None, log: Callable[[str], None] | None = None) -> list[dict]:
    """Test accuracy after ``epochs`` epochs of each model on each data set, through pipeline (a)."""
    device = torch.device(device) if device is not None else default_device()
    rows = []
    for model in models:
        spec = model_spec(model)
        for dataset in datasets:
            if log:
                log(f"{spec.label} on {dataset}, {epochs} epochs")
            train, test = fast_pipeline(dataset, batch_size, seed, device=device)
            net, optimizer = spec.build(seed, device)
            seconds = train_timed(net, optimizer, train, epochs, device)
            rows.append({"model": model, "model_label": spec.label, "dataset": dataset, "epochs": epochs,
                         "test_acc": evaluate_accuracy(net, test, device), "train_seconds": sum(seconds)})
    return rows


# --- the whole book and the grader -------------------------------------------------------------------------

BOOK_SOURCES = ["_config.yml", "_toc.yml", "intro.md", "chapters", "scripts"]


def copy_book_sources(dest: str | Path, root: Path = REPO_ROOT) -> Path:
    """Copy what ``jupyter-book build`` reads into ``dest``: config, table of contents, pages, the local
    Sphinx extension (no ``_build``, so nothing is cached). The npm web assets are linked, not copied."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    toc_text = (root / "_toc.yml").read_text()
    for name in BOOK_SOURCES:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif source.is_file():
            shutil.copy2(source, dest / name)
    # Pages the table of contents names outside those folders (e.g. exercises/README) come along too.
    for line in toc_text.splitlines():
        entry = line.strip().removeprefix("- ").strip()
        if entry.startswith("file:"):
            stem = entry.split(":", 1)[1].strip()
            for candidate in (root / stem).parent.glob(Path(stem).name + ".*"):
                target = dest / candidate.relative_to(root)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(candidate, target)
    if (root / ".web_assets").is_dir():
        (dest / ".web_assets").symlink_to(root / ".web_assets", target_is_directory=True)
    return dest


def book_build_times(timeout: float = 900, log: Callable[[str], None] | None = None) -> dict:
    """Build a copy of the book twice into a fresh folder: cold (empty execution cache), then cached.

    The copy keeps the measurement away from anyone's ``_build`` and from files edited meanwhile.
    Returns ``{"cold_s", "cached_s", "ok", "error"}``; a failed build is reported, not raised.
    """
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    if not jupyter_book.exists():
        return {"cold_s": None, "cached_s": None, "ok": False,
                "error": f"{jupyter_book} not found: install the course environment (make venv)"}
    env = dict(os.environ)  # with OMP_WAIT_POLICY, set above
    result = {"cold_s": None, "cached_s": None, "ok": True, "error": None}
    with tempfile.TemporaryDirectory(prefix="bench-book-") as tmp:
        source = copy_book_sources(Path(tmp) / "src")
        output = Path(tmp) / "out"
        for key in ("cold_s", "cached_s"):
            if log:
                log(f"book build ({key.split('_')[0]}) ...")
            start = time.perf_counter()
            try:
                completed = subprocess.run(
                    [str(jupyter_book), "build", str(source), "-W", "-n", "--keep-going", "--path-output", str(output)],
                    capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
            except subprocess.TimeoutExpired:
                result.update(ok=False, error=f"the {key[:-2]} build took longer than {timeout:.0f} s")
                break
            result[key] = time.perf_counter() - start
            if log:
                log(f"  {result[key]:.1f} s")
            if completed.returncode != 0:
                result.update(ok=False, error=f"the {key[:-2]} build failed (exit {completed.returncode}):\n"
                                              + (completed.stdout + completed.stderr)[-3000:])
                break
    return result


def grading_time(notebook: str | Path | None = None, module: str = "book.grade", timeout: float = 300) -> dict:
    """Seconds for ``python -m book.grade <notebook>`` on one solution notebook (a learner's whole wait).

    Without the grader (no ``book.grade``) or without a solution notebook the row says so instead.
    """
    if importlib.util.find_spec(module) is None:
        return {"seconds": None, "status": "n/a (grader not installed)", "notebook": None}
    if notebook is None:
        solutions = sorted((REPO_ROOT / "exercises" / "solutions").glob("*.ipynb"))
        if not solutions:
            return {"seconds": None, "status": "n/a (no notebook in exercises/solutions)", "notebook": None}
        notebook = solutions[0]
    notebook = Path(notebook).resolve()
    env = dict(os.environ)  # with OMP_WAIT_POLICY, set above
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:  # whatever the grader writes lands here
        start = time.perf_counter()
        try:
            completed = subprocess.run([sys.executable, "-m", module, str(notebook)], capture_output=True,
                                       text=True, timeout=timeout, cwd=tmp, env=env)
        except subprocess.TimeoutExpired:
            return {"seconds": None, "status": f"timed out after {timeout:.0f} s", "notebook": str(notebook)}
        seconds = time.perf_counter() - start
    output = (completed.stdout + completed.stderr)[-300:]
    status = "ok" if completed.returncode == 0 else f"exit {completed.returncode}: {output}"
    return {"seconds": seconds, "status": status, "notebook": str(notebook), "returncode": completed.returncode}


# --- targets, tables, JSON ---------------------------------------------------------------------------------

def machine() -> dict:
    """Where the numbers were taken: they mean little without it."""
    device = default_device()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
            or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") if OMP_WAIT_POLICY_IN_EFFECT
            else "default (torch was imported before book could set PASSIVE)",
            "load_average_1min": round(load[0], 2) if load else None}


def _row(comparison: dict, key: str) -> dict | None:
    return next((r for r in comparison["rows"] if r["pipeline"] == key), None)


def targets(results: dict) -> list[dict]:
    """Each target of the issue: what was measured and whether it is met (``None``: not measured)."""
    out = []
    for comparison in results.get("pipelines", []):
        a, b, c = (_row(comparison, k) for k in "abc")
        name = comparison["model"]
        if a and b:
            speedup = b["median_s"] / a["median_s"]
            same = abs(a["test_acc"] - b["test_acc"]) <= ACCURACY_TOLERANCE
            out.append({"target": f"{name}: (a) at least {TARGET_SPEEDUP_OVER_TORCHVISION:.0f}x faster per epoch "
                                  f"than (b), at equal accuracy (within {100 * ACCURACY_TOLERANCE:.1f} points)",
                        "measured": f"{speedup:.1f}x; accuracy {100 * a['test_acc']:.2f}% vs "
                                    f"{100 * b['test_acc']:.2f}%",
                        "met": speedup >= TARGET_SPEEDUP_OVER_TORCHVISION and same})
        if a and c:
            slowdown = a["median_s"] / c["median_s"]
            out.append({"target": f"{name}: (a) within {TARGET_SLOWDOWN_OVER_LOWER_BOUND:.0f}x of (c)",
                        "measured": f"{slowdown:.2f}x", "met": slowdown <= TARGET_SLOWDOWN_OVER_LOWER_BOUND})
    book = results.get("book_build")
    for key, limit, label in (("cold_s", TARGET_COLD_BUILD_S, "whole book, cold build"),
                              ("cached_s", TARGET_CACHED_BUILD_S, "whole book, cached rebuild")):
        seconds = book.get(key) if book else None
        out.append({"target": f"{label} under {limit:.0f} s",
                    "measured": f"{seconds:.1f} s" if seconds is not None else _not_measured(book),
                    "met": (seconds < limit and book["ok"]) if seconds is not None else None})
    grading = results.get("grading")
    seconds = grading.get("seconds") if grading else None
    out.append({"target": f"grading one notebook under {TARGET_GRADING_S:.0f} s",
                "measured": f"{seconds:.1f} s" if seconds is not None else (grading or {}).get("status", "skipped"),
                "met": (seconds < TARGET_GRADING_S and grading["status"] == "ok") if seconds is not None else None})
    return out


def _not_measured(book: dict | None) -> str:
    if book is None:
        return "skipped"
    return "failed: " + (book.get("error") or "").splitlines()[0] if book.get("error") else "not measured"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("s" if n != 1 else "")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def pipelines_markdown(comparison: dict) -> str:
    """One pipeline comparison as a titled Markdown table."""
    title = (f"**Epoch time, {comparison['model_label']} on {comparison['dataset']}**: batch "
             f"{comparison['batch_size']}, seed {comparison['seed']}, {_epochs(comparison['epochs'])} of "
             f"{comparison['train_size']:,} training images, {comparison['device']}"
             + (", inputs normalised" if comparison["normalize"] else ""))
    rows = [[r["label"], f"{r['median_s']:.3f}", f"{r['ratio_to_a']:.2f}×" if r["ratio_to_a"] else "–",
             _pct(r["test_acc"])] for r in comparison["rows"]]
    return title + "\n\n" + markdown_table(
        ["pipeline", "median s/epoch", "ratio to (a)", f"test accuracy after {_epochs(comparison['epochs'])}"], rows)


def loading_markdown(rows: list[dict], batch_size: int = BATCH_SIZE) -> str:
    fastest = min(r["median_s"] for r in rows)
    return (f"**Loading only**: one epoch of shuffled batches of {batch_size}, no training (median of "
            f"{len(rows[0]['seconds'])})\n\n"
            + markdown_table(["how the batches are made", "s/epoch", "ratio to the fastest"],
                             [[r["label"], f"{r['median_s']:.4f}", f"{r['median_s'] / fastest:.1f}×"]
                              for r in rows]))


def threads_markdown(rows: list[dict]) -> str:
    return (f"**Torch threads**: pipeline (a) on the CPU, median of {len(rows[0]['epoch_seconds'])} epochs, "
            "the thread counts taking turns\n\n"
            + markdown_table(["model", "torch threads", "s/epoch"],
                             [[model_spec(r["model"]).label, r["threads"], f"{r['median_s']:.3f}"] for r in rows]))


def accuracy_markdown(rows: list[dict]) -> str:
    epochs = rows[0]["epochs"]
    table = []
    for model in dict.fromkeys(r["model"] for r in rows):
        cells = {r["dataset"]: r for r in rows if r["model"] == model}
        seconds = sum(r["train_seconds"] for r in cells.values())
        table.append([model_spec(model).label, _pct(cells.get("fashion-mnist", {}).get("test_acc")),
                      _pct(cells.get("mnist", {}).get("test_acc")), f"{seconds:.1f}"])
    table.append(["d2l's published softmax regression (SGD lr 0.1, batch 256, 10 epochs)¹",
                  _pct(D2L_SOFTMAX_FASHION_MNIST_ACC), "–", "–"])
    return (f"**Test accuracy after {_epochs(epochs)}** (pipeline (a), batch "
            f"{BATCH_SIZE}, seed {SEED})\n\n"
            + markdown_table(["model", "Fashion-MNIST", "MNIST", "training s (both data sets)"], table)
            + f"\n\n¹ {D2L_SOURCE}.")


def build_markdown(results: dict) -> str:
    book, grading = results.get("book_build"), results.get("grading")
    rows = []
    if book is not None:
        for key, label in (("cold_s", "whole book, cold build (no execution cache)"),
                           ("cached_s", "whole book, cached rebuild")):
            rows.append([label, f"{book[key]:.1f}" if book.get(key) is not None else _not_measured(book)])
    else:
        rows.append(["whole book (cold build, cached rebuild)", "skipped (--skip-book)"])
    if grading is not None:
        name = Path(grading["notebook"]).name if grading.get("notebook") else ""
        rows.append([f"grading one exercise notebook {name}".rstrip(),
                     f"{grading['seconds']:.1f}" if grading.get("seconds") is not None else grading["status"]])
    else:
        rows.append(["grading one exercise notebook", "skipped (--skip-grading)"])
    return "**Book and grader**\n\n" + markdown_table(["what", "seconds"], rows)


def targets_markdown(results: dict) -> str:
    verdict = {True: "yes", False: "**no**", None: "not measured"}
    return "**Targets**\n\n" + markdown_table(
        ["target", "measured", "met"], [[t["target"], t["measured"], verdict[t["met"]]] for t in targets(results)])


def to_markdown(results: dict) -> str:
    m = results["machine"]
    head = (f"## Benchmarks ({results['budget']} budget)\n\n"
            f"{m['device']} ({m['device_name']}), {m['cpu_count']} CPUs, {m['torch_threads']} torch threads, "
            f"torch {m['torch']}, Python {m['python']}, OMP_WAIT_POLICY={m['omp_wait_policy']}, "
            f"load average at start {m['load_average_1min']}; total {results['total_s']:.0f} s")
    parts = [head]
    parts += [pipelines_markdown(c) for c in results.get("pipelines", [])]
    if results.get("loading"):
        parts.append(loading_markdown(results["loading"]))
    if results.get("threads"):
        parts.append(threads_markdown(results["threads"]))
    if results.get("accuracy"):
        parts.append(accuracy_markdown(results["accuracy"]))
    parts.append(build_markdown(results))
    parts.append(targets_markdown(results))
    return "\n\n".join(parts) + "\n"


# --- the command -------------------------------------------------------------------------------------------

# The full budget takes the median over 5 epochs (a shared machine is noisy); the page makes do with 3.
FULL = dict(epochs=5, train_size=None)
QUICK = dict(epochs=3, train_size=20000)


def run_all(epochs: int = 5, train_size: int | None = None, accuracy_epochs: int = 10, book: bool = True,
            grading: bool = True, loading: bool = True, threads: bool = True, normalize: bool = False,
            budget: str = "full", log: Callable[[str], None] | None = None) -> dict:
    """Everything the command measures, as one JSON-ready dictionary."""
    start = time.perf_counter()
    results = {"budget": budget, "machine": machine(), "pipelines": []}
    for model in ("softmax", "mlp"):
        results["pipelines"].append(compare_pipelines(model, epochs=epochs, train_size=train_size,
                                                      normalize=normalize, log=log))
    if loading:
        if log:
            log("loading only")
        results["loading"] = loading_only(train_size=train_size, repeats=epochs)
    if threads and default_device().type == "cpu":
        if log:
            log("torch threads")
        results["threads"] = thread_scaling(epochs=epochs, train_size=train_size)
    if accuracy_epochs:
        results["accuracy"] = accuracy_table(epochs=accuracy_epochs, log=log)
    results["book_build"] = book_build_times(log=log) if book else None
    results["grading"] = grading_time() if grading else None
    results["targets"] = targets(results)
    results["d2l_reference"] = {"softmax_fashion_mnist_acc": D2L_SOFTMAX_FASHION_MNIST_ACC, "source": D2L_SOURCE}
    results["total_s"] = time.perf_counter() - start
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"the Performance page's budget: {QUICK['train_size']:,} training images for the "
                             "pipeline tables, no book build and no grading")
    parser.add_argument("--epochs", type=int, help=f"epochs per pipeline, the median is over them (default "
                                                   f"{FULL['epochs']}; {QUICK['epochs']} with --quick)")
    parser.add_argument("--train-size", type=int, help="training images for the pipeline tables (default: all)")
    parser.add_argument("--accuracy-epochs", type=int, default=10,
                        help="epochs for the accuracy table (default 10; 0 skips the table)")
    parser.add_argument("--skip-book", action="store_true", help="skip the cold and cached whole-book builds")
    parser.add_argument("--skip-grading", action="store_true", help="skip timing the grader")
    parser.add_argument("--normalize", action="store_true",
                        help="add Normalize(mean, std) to (b) and standardise the inputs of (a) and (c) alike")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) first (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "_build" / "bench.json",
                        help="where to write the results as JSON (default: _build/bench.json)")
    args = parser.parse_args(argv)
    for name in ("epochs", "train_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.accuracy_epochs < 0:
        parser.error(f"--accuracy-epochs must be 0 (skip) or more, got {args.accuracy_epochs}")
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    budget = QUICK if quick else FULL
    results = run_all(epochs=args.epochs or budget["epochs"], train_size=args.train_size or budget["train_size"],
                      accuracy_epochs=args.accuracy_epochs, book=not (args.skip_book or quick),
                      grading=not (args.skip_grading or quick), threads=not quick, normalize=args.normalize,
                      budget="quick" if quick else "full",
                      log=lambda line: print(line, file=sys.stderr, flush=True))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    print(to_markdown(results))
    print(f"(JSON written to {args.json})")
    return 0


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {value!r}")


if __name__ == "__main__":
    raise SystemExit(main())
