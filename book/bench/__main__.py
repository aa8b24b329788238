"""``python -m book.bench``: the pipelines and accuracy in one run; tables on stdout, JSON in ``_build/bench.json``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from book.bench import __doc__ as PACKAGE_DOC
from book.bench.report import D2L_SOFTMAX_FASHION_MNIST_ACC, D2L_SOURCE, machine, targets, to_markdown
from book.bench.timing import FULL, QUICK, accuracy_table, compare_pipelines, loading_only, thread_scaling
from book.data import REPO_ROOT
from book.device import default_device


def run_all(epochs: int = 5, train_size: int | None = None, accuracy_epochs: int = 10, loading: bool = True,
            threads: bool = True, normalize: bool = False, budget: str = "full",
            log: Callable[[str], None] | None = None) -> dict:
    """Everything the command measures, as one JSON-ready dictionary (the whole-book build and the grading are
    the repository's ``python -m benchmarks.whole_course``, which ``make bench`` runs next)."""
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
    results["targets"] = targets(results)
    results["d2l_reference"] = {"softmax_fashion_mnist_acc": D2L_SOFTMAX_FASHION_MNIST_ACC, "source": D2L_SOURCE}
    results["total_s"] = time.perf_counter() - start
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book.bench", description=PACKAGE_DOC.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"the Performance page's budget: {QUICK['train_size']:,} training images for the "
                             "pipeline tables")
    parser.add_argument("--epochs", type=int, help=f"epochs per pipeline, the median is over them (default "
                                                   f"{FULL['epochs']}; {QUICK['epochs']} with --quick)")
    parser.add_argument("--train-size", type=int, help="training images for the pipeline tables (default: all)")
    parser.add_argument("--accuracy-epochs", type=int, default=10,
                        help="epochs for the accuracy table (default 10; 0 skips the table)")
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
                      accuracy_epochs=args.accuracy_epochs, threads=not quick, normalize=args.normalize,
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
