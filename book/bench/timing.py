"""Timing: epochs through each pipeline, loading alone, torch's threads, the accuracy after a number of epochs.

Epochs are timed with the wall clock, one whole epoch at a time, the pipelines taking turns so that a busy spell of
the machine slows all of them alike (``torch.utils.benchmark.Timer`` times a short statement many times over,
which does not fit a training epoch that changes the model); medians keep one slow epoch from deciding.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

from book.bench.pipelines import (BATCH_SIZE, PIPELINES, SEED, train_count, allow_many_workers, fast_pipeline,
                                  make_pipeline, model_spec, torchvision_pipeline)
from book.data import FastLoader, load_dataset, to_float
from book.device import default_device

# The full budget takes the median over 5 epochs (a shared machine is noisy); the Performance page makes do
# with 3 epochs on part of the training set.
FULL = dict(epochs=5, train_size=None)
QUICK = dict(epochs=3, train_size=10000)


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
    device = default_device(device)
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
    device = default_device(device)
    data = load_dataset(dataset)
    n = train_count(len(data.train_labels), train_size)
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
    device = default_device(device)
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
