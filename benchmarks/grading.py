"""How long grading takes: one notebook (each exercise's solutions notebook), and a folder of submissions.

    .venv/bin/python benchmarks/grading.py              # 3 repeats of each, median
    .venv/bin/python benchmarks/grading.py --repeat 5 --folder-size 6

Prints Markdown tables. Each figure is the whole command a learner or a teacher runs, ``python -m book.grade ...``
in a fresh process: the grader's start, nbval's pytest, the kernel (torch imported there), every cell and check.
*CPU s* is the processor time of that command and everything it started (pytest, the kernel): on a machine shared
with other work the wall time grows, the CPU time much less. The machine's load is printed with the tables.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "exercises" / "solutions"


def timed(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the command and its children, exit status) of ``python -m book.grade args``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "book.grade", *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"grading {args} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return wall, cpu, done.returncode


def median_of(args: list[str], repeat: int) -> tuple[float, float]:
    runs = [timed(args) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is shown)")
    parser.add_argument("--folder-size", type=int, default=3, help="submissions in the folder")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="the grader's --jobs for the folder")
    args = parser.parse_args(argv)

    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} (1 min) before the runs; "
          f"median of {args.repeat} runs\n")
    print("| one notebook | wall s | CPU s |\n| --- | ---: | ---: |")
    solutions = sorted(SOLUTIONS.glob("*.ipynb"))
    walls = []
    for path in solutions:
        wall, cpu = median_of([str(path)], args.repeat)
        walls.append(wall)
        print(f"| {path.relative_to(ROOT)} | {wall:.1f} | {cpu:.1f} |", flush=True)
    print(f"\nslowest notebook: {max(walls):.1f} s wall (target: under 10 s on 2 cores)\n")

    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        for i in range(args.folder_size):  # a class's submissions: the exercises in turn
            shutil.copy(solutions[i % len(solutions)], folder / f"learner{i + 1:02d}.ipynb")
        csv_path = Path(tmp) / "grades.csv"
        wall, cpu = median_of([str(folder), "--csv", str(csv_path), "--jobs", str(args.jobs)], args.repeat)
        rows = len(csv_path.read_text().splitlines()) - 1
    print("| a folder of submissions | wall s | CPU s |\n| --- | ---: | ---: |")
    print(f"| {args.folder_size} notebooks, --jobs {args.jobs} ({rows} CSV rows) | {wall:.1f} | {cpu:.1f} |")
    print(f"\nload average after the runs: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
