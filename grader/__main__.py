"""Grade exercise notebooks with nbval: one notebook, or a folder of submissions to a CSV and a teacher's report.

    python -m grader exercises/02_cross_entropy.ipynb            # table of points; exit 1 below the pass mark
    python -m grader exercises/02_cross_entropy.ipynb --json
    python -m grader submissions/ --csv grades.csv               # one row per learner (+ grades.md, the report)

Run from the repository's root (the grader is not part of the learners' package ``book``). How a notebook is
graded: :mod:`grader.grade`.

Exit status: 0 passed, 1 below the pass mark, 2 could not grade (one line on stderr says why). For a folder: 0 when
every notebook was graded, 2 when some could not be (their rows say why); the CSV is always written, atomically.
Class grading needs the sandbox: without bubblewrap a folder is refused unless ``--no-sandbox`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grader.grade import (DEFAULT_TIMEOUT, Grade, GradingError, Interrupted, check_kernel, csv_text, grade,
                          grade_folder, table, write_atomically)
from grader.report import report


def parse_pass_mark(text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"the pass mark is a share of the points, 0 to 1 (or 0% to 100%), "
                                         f"got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="a notebook, or a folder of submitted notebooks")
    parser.add_argument("--exercise", help="the exercise the notebook(s) must be, e.g. 02_cross_entropy")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--csv", type=Path, help="(folder) write the CSV here instead of printing it")
    parser.add_argument("--report", type=Path, help="(folder) write the teacher's report (Markdown) here; default "
                                                    "beside --csv, with .md")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds each cell may run (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--pass-mark", type=parse_pass_mark, help="share of the points needed, e.g. 0.6 or 60%%")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="(folder) notebooks graded at once")
    parser.add_argument("--kernel", help="run in this installed Jupyter kernel (outside the sandbox)")
    parser.add_argument("--solutions", type=Path, help="the folder of solutions notebooks (default: the repository's)")
    parser.add_argument("--seed", type=int, help="seed of the checks' fresh inputs (default: new for every grading; "
                                                 "give the seed a grade shows to repeat it)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run submissions without the sandbox (only for notebooks you trust)")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.jobs < 1:
        parser.error("--timeout and --jobs must be positive")
    options = dict(exercise=args.exercise, timeout=args.timeout, kernel=args.kernel, pass_mark=args.pass_mark,
                   solutions_dir=args.solutions, seed=args.seed)
    try:
        if args.path.is_dir():
            return grade_class(args, options)
        g = grade(args.path, sandboxed=False if args.no_sandbox else None, **options)
    except GradingError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for a file the grader could not handle
        print(f"error: internal error of the grader ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    print(json.dumps(g.to_dict(), indent=2) if args.json else table(g))
    return 0 if g.passed else 1


def grade_class(args, options) -> int:
    if args.no_sandbox:
        print("warning: --no-sandbox: the submissions run with the grader's rights and can change files, other "
              "grades and the repository; use it only for notebooks you trust", file=sys.stderr)
    check_kernel(args.kernel)
    interrupted = False
    try:
        rows = grade_folder(args.path, args.jobs, sandboxed=False if args.no_sandbox else True, **options)
    except Interrupted as exc:
        rows, interrupted = exc.rows, True
    errors = [(learner, g) for learner, _, g in rows if not isinstance(g, Grade)]
    report_path = args.report or (args.csv.with_suffix(".md") if args.csv else None)
    if args.json:
        print(json.dumps([{"learner": learner, **(g.to_dict() if isinstance(g, Grade) else {"error": g})}
                          for learner, _, g in rows], indent=2))
    if args.csv:
        write_atomically(args.csv, csv_text(rows))
    if report_path:
        write_atomically(report_path, report(rows))
    if not args.json:
        if args.csv:
            for learner, _, g in rows:
                print(f"{learner}: " + (f"{g.score}/{g.max_score} ({g.percent:.0f}%), "
                                        f"{'passed' if g.passed else 'NOT passed'}"
                                        + (f", {len(g.flags)} flag(s)" if g.flags else "")
                                        if isinstance(g, Grade) else f"not graded: {g}"))
            print(f"wrote {args.csv} ({len(rows)} rows)" + (f" and {report_path}" if report_path else ""))
        else:
            sys.stdout.write(csv_text(rows))
    for learner, error in errors:
        print(f"error: {learner}: {error}", file=sys.stderr)
    if interrupted:
        print("error: interrupted; the rows not graded say so", file=sys.stderr)
        return 130
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
