"""How long grading takes: one notebook per exercise, and a class folder graded in parallel.

    python -m benchmarks.grading                       # every exercise 3 times, then 100 copies of 01 with 2 jobs
    python -m benchmarks.grading --repeats 1 --class-size 20 --exercises 01_softmax 02_cross_entropy

Both run the grader as a teacher does (``python -m grader``, sandbox included, in a subprocess), on the
model solutions, so a grading includes every question's checks. Printed, never asserted: the seconds depend on
the machine and on what else it is doing (run it on an idle one; ``tests/test_bench.py`` checks only the tables):
the first line says what the machine was and how loaded it was before the runs, the last how loaded after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.whole_course import repository_environment
from grader import sandbox
from grader.make_exercises import SOLUTIONS_DIR as SOLUTIONS

GRADER = "grader"


def run_grader(*args: str | Path, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess]:
    """Seconds for ``python -m grader ARGS`` and its completed process (run in a scratch folder)."""
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as scratch:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", GRADER, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, cwd=scratch, env=repository_environment())
        return time.perf_counter() - start, done


def exercise_times(exercises: list[str], repeats: int = 3) -> list[dict]:
    """Per exercise: the seconds of each of ``repeats`` gradings of its solution, their median, and whether every
    grading gave full marks (exit status 0)."""
    rows = []
    for exercise in exercises:
        notebook = SOLUTIONS / f"{exercise}.ipynb"
        if not notebook.is_file():
            raise FileNotFoundError(f"no solution notebook {notebook}: pick exercises from "
                                    f"{sorted(p.stem for p in SOLUTIONS.glob('*.ipynb'))}")
        runs = [run_grader(notebook) for _ in range(repeats)]
        rows.append({"exercise": exercise, "seconds": [s for s, _ in runs],
                     "median": statistics.median(s for s, _ in runs),
                     "full_marks": all(done.returncode == 0 for _, done in runs)})
    return rows


def class_folder(folder: Path, exercise: str, size: int) -> Path:
    """``folder`` filled with ``size`` copies of the exercise's solution, one per learner (learner_001.ipynb...)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = SOLUTIONS / f"{exercise}.ipynb"
    for i in range(1, size + 1):
        shutil.copyfile(source, folder / f"learner_{i:03d}.ipynb")
    return folder


def class_time(exercise: str = "01_softmax", size: int = 100, jobs: int = 2) -> dict:
    """Seconds to grade a folder of ``size`` submissions of ``exercise`` with ``--jobs``, CSV and report included."""
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        folder = class_folder(Path(tmp) / "submissions", exercise, size)
        seconds, done = run_grader(folder, "--csv", Path(tmp) / "grades.csv", "--jobs", str(jobs))
        rows = (Path(tmp) / "grades.csv").read_text().count("\n") - 1 if (Path(tmp) / "grades.csv").exists() else 0
    return {"exercise": exercise, "size": size, "jobs": jobs, "seconds": seconds, "rows": rows,
            "per_notebook": seconds / size, "status": "ok" if done.returncode == 0 else
            f"exit {done.returncode}: {(done.stdout + done.stderr)[-300:]}"}


def machine_line() -> str:
    """Cores, the 1-minute load average and the sandbox: the seconds mean little without them."""
    box = sandbox.mechanism() or f"none ({sandbox.unavailable_reason()})"
    return f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} (1 min); sandbox: {box}"


def exercise_table(rows: list[dict]) -> str:
    lines = ["| exercise | median s | each grading (s) | full marks |", "| --- | ---: | --- | --- |"]
    for r in rows:
        each = ", ".join(f"{s:.1f}" for s in r["seconds"])
        lines.append(f"| {r['exercise']} | {r['median']:.1f} | {each} | {'yes' if r['full_marks'] else 'NO'} |")
    return "\n".join(lines)


def class_table(row: dict) -> str:
    return "\n".join(["| exercise | notebooks | jobs | seconds | per notebook | CSV rows | status |",
                      "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
                      f"| {row['exercise']} | {row['size']} | {row['jobs']} | {row['seconds']:.0f} | "
                      f"{row['per_notebook']:.2f} | {row['rows']} | {row['status']} |"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grading", description=__doc__.split("\n")[0])
    parser.add_argument("--exercises", nargs="*", default=sorted(p.stem for p in SOLUTIONS.glob("*.ipynb")),
                        help="exercise ids (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="gradings per exercise (the median is printed)")
    parser.add_argument("--class-size", type=int, default=100, help="copies of 01_softmax in the class folder "
                        "(0 skips it)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks graded at once in the class folder")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.class_size < 0 or args.jobs < 1:
        parser.error("--repeats and --jobs must be at least 1, --class-size at least 0")
    print(machine_line() + "\n", flush=True)
    if args.exercises:
        print(exercise_table(exercise_times(args.exercises, args.repeats)), flush=True)
    if args.class_size:
        print()
        print(class_table(class_time(size=args.class_size, jobs=args.jobs)))
    print(f"\nload average after the runs: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
