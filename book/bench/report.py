"""The benchmark's report: the machine it ran on, the targets met or missed, Markdown tables.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from book import OMP_WAIT_POLICY_IN_EFFECT
from book.bench.pipelines import ACCURACY_TOLERANCE, BATCH_SIZE, SEED, model_spec
from book.device import default_device

# Dive into Deep Learning (Zhang, Lipton, Li, Smola), section 3.7 "Concise Implementation of Softmax
# Regression", MXNet/Gluon edition (2019): softmax regression on Fashion-MNIST, batch 256, SGD with learning
# rate 0.1, weights drawn from N(0, 0.01^2), 10 epochs -- "This algorithm achieves an accuracy of 83.7%".
D2L_SOFTMAX_FASHION_MNIST_ACC = 0.837
D2L_SOURCE = ("Dive into Deep Learning, sec. 3.7 'Concise Implementation of Softmax Regression' "
              "(MXNet/Gluon edition, 2019), https://d2l.ai")

# The targets the course set itself.
TARGET_SPEEDUP_OVER_TORCHVISION = 20.0  # (a) at least 20x faster per epoch than (b)
TARGET_SLOWDOWN_OVER_LOWER_BOUND = 2.0  # (a) within 2x of (c)
TARGET_COLD_BUILD_S = 300.0
TARGET_CACHED_BUILD_S = 30.0
TARGET_GRADING_S = 10.0


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
    """Each target the course set itself: what was measured and whether it is met (``None``: not measured)."""
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
    # the whole-book build and the grading are timed by the repository's `python -m benchmarks.whole_course`
    # (part of `make bench`); results without those keys were not meant to measure them
    book = results.get("book_build")
    for key, limit, label in (("cold_s", TARGET_COLD_BUILD_S, "whole book, cold build"),
                              ("cached_s", TARGET_CACHED_BUILD_S, "whole book, cached rebuild")):
        seconds = book.get(key) if book else None
        measured = (f"{seconds:.1f} s" if seconds is not None else _not_measured(book) if "book_build" in results
                    else ELSEWHERE)
        out.append({"target": f"{label} under {limit:.0f} s", "measured": measured,
                    "met": (seconds < limit and book["ok"]) if seconds is not None else None})
    grading = results.get("grading")
    seconds = grading.get("seconds") if grading else None
    measured = (f"{seconds:.1f} s" if seconds is not None else (grading or {}).get("status", "skipped")
                if "grading" in results else ELSEWHERE)
    out.append({"target": f"grading one notebook under {TARGET_GRADING_S:.0f} s", "measured": measured,
                "met": (seconds < TARGET_GRADING_S and grading["status"] == "ok") if seconds is not None else None})
    return out


ELSEWHERE = "measured by `python -m benchmarks.whole_course` (make bench)"


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
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))  # the columns: only the data sets measured
    names = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}
    table = []
    for model in dict.fromkeys(r["model"] for r in rows):
        cells = {r["dataset"]: r for r in rows if r["model"] == model}
        seconds = sum(r["train_seconds"] for r in cells.values())
        table.append([model_spec(model).label, *(_pct(cells.get(d, {}).get("test_acc")) for d in datasets),
                      f"{seconds:.1f}"])
    table.append(["d2l's published softmax regression (SGD lr 0.1, batch 256, 10 epochs)¹",
                  *(_pct(D2L_SOFTMAX_FASHION_MNIST_ACC) if d == "fashion-mnist" else "–" for d in datasets), "–"])
    seconds_header = "training s" + (" (all data sets)" if len(datasets) > 1 else "")
    return (f"**Test accuracy after {_epochs(epochs)}** (pipeline (a), batch "
            f"{BATCH_SIZE}, seed {SEED})\n\n"
            + markdown_table(["model", *(names.get(d, d) for d in datasets), seconds_header], table)
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
    if "book_build" in results or "grading" in results:
        parts.append(build_markdown(results))
    parts.append(targets_markdown(results))
    return "\n\n".join(parts) + "\n"
