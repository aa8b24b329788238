"""How long grading takes, sandbox included: one notebook per exercise, and a class's folder of submissions.

    .venv/bin/python benchmarks/grading.py                      # 3 runs per exercise (median), 100 submissions
    .venv/bin/python benchmarks/grading.py --repeat 5 --folder-size 20 --jobs 2

Prints Markdown tables. Each figure is the whole command a learner or a teacher runs, ``python -m book.grade ...``
in a fresh process: the grader's start (torch imported for the checkers), staging the sandbox's package, the
sandbox (bubblewrap), nbval's pytest, the kernel, every cell, recording, and judging the records. Targets (issue
14): at most 10 s per notebook, every exercise; at most 4 minutes for 100 submissions of exercise 01 with
``--jobs 2`` on 2 cores.

*Grader CPU s* is the processor time of the grader process itself: what runs inside a sandbox is not reported
back to its parent by the kernel (bubblewrap's PID namespace), so it is not in that column. On a machine shared
with other work the wall time grows: the load average is printed with the tables.
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
LEARNER = ROOT / "exercises"
sys.path.insert(0, str(ROOT))


def timed(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the grader, exit status) of ``python -m book.grade args``."""
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


def class_folder(folder: Path, exercise: str, size: int) -> None:
    """``size`` submissions of ``exercise``: model answers, untouched notebooks and half-right ones in turn."""
    from book.exercise_cells import ANSWER, notebook_text, read_notebook, role

    model = read_notebook(SOLUTIONS / f"{exercise}.ipynb")
    blank = read_notebook(LEARNER / f"{exercise}.ipynb")
    answers = {role(c)[1]: c["source"] for c in model["cells"] if role(c)[0] == ANSWER}
    half = read_notebook(LEARNER / f"{exercise}.ipynb")
    for i, cell in enumerate(c for c in half["cells"] if role(c)[0] == ANSWER):
        if i % 2 == 0:
            cell["source"] = answers[role(cell)[1]]
    for i in range(size):
        nb = (model, blank, half)[i % 3]
        (folder / f"learner{i + 1:03d}.ipynb").write_text(notebook_text(nb), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from book import sandbox

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each notebook (the median is shown)")
    parser.add_argument("--folder-size", type=int, default=100, help="submissions in the class folder (0: skip)")
    parser.add_argument("--exercise", default="01_softmax", help="the exercise of the class folder")
    parser.add_argument("--jobs", type=int, default=2, help="the grader's --jobs for the folder")
    args = parser.parse_args(argv)

    box = sandbox.mechanism() or f"none ({sandbox.unavailable_reason()})"
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} (1 min) before the runs; "
          f"sandbox: {box}; median of {args.repeat} runs\n")
    print("| one notebook (solutions) | wall s | grader CPU s |\n| --- | ---: | ---: |")
    walls = []
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        wall, cpu = median_of([str(path)], args.repeat)
        walls.append(wall)
        print(f"| {path.relative_to(ROOT)} | {wall:.1f} | {cpu:.1f} |", flush=True)
    if walls:
        print(f"\nslowest notebook: {max(walls):.1f} s wall (target: at most 10 s on 2 cores)\n")

    if args.folder_size > 0:
        with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
            folder = Path(tmp) / "submissions"
            folder.mkdir()
            class_folder(folder, args.exercise, args.folder_size)
            csv_path = Path(tmp) / "grades.csv"
            wall, cpu, _ = timed([str(folder), "--csv", str(csv_path), "--jobs", str(args.jobs)])
            rows = len(csv_path.read_text().splitlines()) - 1
            shutil.rmtree(folder)
        print("| a class folder | wall s | s per notebook | grader CPU s |\n| --- | ---: | ---: | ---: |")
        print(f"| {args.folder_size} submissions of {args.exercise}, --jobs {args.jobs} ({rows} CSV rows) | "
              f"{wall:.1f} | {wall / args.folder_size:.2f} | {cpu:.1f} |")
        print("\ntarget: at most 240 s for 100 submissions of exercise 01 with --jobs 2 on 2 cores")
    print(f"\nload average after the runs: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
