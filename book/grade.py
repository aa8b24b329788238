"""Grade exercise notebooks with nbval: one notebook, or a folder of submissions to a CSV.

    python -m book.grade exercises/02_cross_entropy.ipynb            # table of points; exit 1 below the pass mark
    python -m book.grade exercises/02_cross_entropy.ipynb --json
    python -m book.grade submissions/ --csv grades.csv               # one row per learner, graded in parallel

How a notebook is graded:

1. The submission is read, never written. Its exercise id (notebook metadata) picks the exercise.
2. The pristine learner notebook is regenerated in memory from ``exercises/solutions/<id>.ipynb``. The graded copy
   is that pristine notebook with the submission's *answer cells* put in: every check cell and every other
   cell comes from the pristine notebook, so deleting, editing or re-ordering check cells changes nothing.
3. The copy is written to a temporary folder and run by ``pytest --nbval-lax`` in a subprocess, isolated from the
   repository's pytest configuration, with a time limit per cell (nbval interrupts a cell that runs past it and
   goes on with the next one).
4. A question is *correct* only when nbval passed all of its cells and its check cell reported *correct* while
   it ran (:mod:`book.nbval_outcomes` ties each verdict to the cell that wrote it). An exception or a timeout costs
   the question it happens in. If the kernel cannot be interrupted, the run is repeated without that question.
   Printing "correct", forging lines in the results file, or rebinding ``q1`` earns nothing. What no checker
   that runs inside the learner's kernel can rule out is answer code written to rewrite the checking code itself
   (patching :mod:`book.questions` to report *correct*): read the answers of a submission that looks too good.

Exit status: 0 passed, 1 below the pass mark, 2 could not grade (not a notebook, another or an unknown exercise,
no kernel, broken set-up). For a folder: 0 when every notebook was graded, 2 when some could not be.
"""

from __future__ import annotations

import argparse
import copy
import csv
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from book.exercise_cells import (ANSWER, CHECK, ExerciseFormatError, exercise_id, learner_notebook, normalise,
                                 notebook_text, read_notebook, role)
from book.make_exercises import SOLUTIONS_DIR
from book.nbval_outcomes import OUTCOMES_ENV
from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED, RESULTS_ENV, STUB_MESSAGE

DEFAULT_TIMEOUT = 30.0  # seconds per cell: every cell of the exercises takes a few seconds at most
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
# `python -m pytest`, except that jsonschema (imported by nbval through nbformat) is kept from importing
# rfc3987_syntax: it only checks "iri" strings, which notebook schemas never use, and takes seconds to import.
PYTEST_BOOTSTRAP = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); import pytest; "
                    "sys.exit(pytest.main(sys.argv[1:]))")


class GradingError(Exception):
    """The notebook cannot be graded; the message says why and how to fix it (exit status 2)."""


@dataclass
class QuestionResult:
    id: str
    title: str
    points: int
    max_points: int
    status: str
    message: str = ""


@dataclass
class Grade:
    exercise: str
    title: str
    file: str
    questions: list[QuestionResult]
    pass_mark: float
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(q.points for q in self.questions)

    @property
    def max_score(self) -> int:
        return sum(q.max_points for q in self.questions)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    @property
    def passed(self) -> bool:
        return self.score >= self.pass_mark * self.max_score - 1e-9

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "title": self.title, "file": self.file, "score": self.score,
                "max_score": self.max_score, "percent": round(self.percent, 1), "pass_mark": self.pass_mark,
                "passed": self.passed, "seconds": round(self.seconds, 2), "notes": self.notes,
                "questions": [asdict(q) for q in self.questions]}


# --- reading the submission and building the graded copy ---------------------------------------------------

def catalog() -> dict:
    from book.checks import catalog as generated

    return generated.EXERCISES


def read_submission(path: Path):
    """The submitted notebook, or a GradingError that says what is wrong with the file."""
    if not path.is_file():
        raise GradingError(f"{path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    fix = "Grade the .ipynb file saved by Jupyter (File > Save); if it was damaged, start again from a fresh copy."
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GradingError(f"{path} is not a Jupyter notebook: it is not text (UTF-8) at all. {fix}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GradingError(f"{path} is not a Jupyter notebook: it is not valid JSON ({exc}). {fix}") from None
    try:
        return normalise(data)
    except ValueError as exc:
        raise GradingError(f"{path} is not a Jupyter notebook: {exc}. {fix}") from None


def identify(nb, path: Path, expected: str | None) -> str:
    """The exercise id of the submission, checked against the known exercises and against ``expected``."""
    known = catalog()
    found = exercise_id(nb)
    if not found:
        raise GradingError(f"{path} is not one of the course's exercise notebooks: its metadata names no exercise "
                           f"(metadata['exercise']['id']). Submit the notebook you got from exercises/ "
                           f"({', '.join(known)}).")
    if found not in known:
        raise GradingError(f"{path} is a notebook of an unknown exercise {found!r}; the known exercises are "
                           f"{', '.join(known)}.")
    if expected and found != expected:
        raise GradingError(f"{path} is a notebook of another exercise: it is {found!r}, not {expected!r}. Submit "
                           f"exercises/{expected}.ipynb, or grade it as --exercise {found}.")
    return found


def pristine(exercise: str, solutions_dir: Path | None = None):
    """The learner notebook of ``exercise`` as generated from its solutions notebook (never the learner's file)."""
    path = Path(solutions_dir or SOLUTIONS_DIR) / f"{exercise}.ipynb"
    if not path.is_file():
        raise GradingError(f"the solutions notebook {path} is missing: the grader rebuilds every check from it. "
                           "Run the grader in a checkout of the course repository, or pass --solutions FOLDER.")
    try:
        return learner_notebook(read_notebook(path), str(path))
    except ExerciseFormatError as exc:
        raise GradingError(f"the solutions notebook is malformed: {exc}") from None


# nbval reads these comments as instructions (skip the cell, let it raise, compare its output): in an answer they
# would let a learner change how their own cells are judged, so the graded copy drops them (they are comments:
# the code means the same without them).
NBVAL_MARKER = re.compile(r"^[ \t]*#[ \t]*(NBVAL_[A-Z_]+|PYTEST_VALIDATE_IGNORE_OUTPUT)[ \t]*$", re.MULTILINE)


def answers_by_question(nb) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == ANSWER and cell["cell_type"] == "code":
            found.setdefault(q, []).append(NBVAL_MARKER.sub("", cell["source"]))
    return found


def graded_copy(pristine_nb, submission_nb, skipped: dict[str, str] | None = None):
    """The pristine notebook with the submission's answer cells put in; answers of ``skipped`` questions (run
    before and lost the kernel) become stubs. Returns (notebook, questions with no answer cell)."""
    nb = copy.deepcopy(pristine_nb)
    submitted = answers_by_question(submission_nb)
    slots: dict[str, list] = {}
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == ANSWER:
            slots.setdefault(q, []).append(cell)
    missing = set()
    for q, cells in slots.items():
        sources = submitted.get(q)
        if skipped and q in skipped:
            sources = [f'raise NotImplementedError("{STUB_MESSAGE}")']
        if not sources:
            missing.add(q)
            sources = [f'raise NotImplementedError("{STUB_MESSAGE}")']
        if len(sources) != len(cells):  # copies or merges of answer cells: run them all, in order, in the first slot
            sources = ["\n\n".join(sources)] + [""] * (len(cells) - 1)
        for cell, source in zip(cells, sources):
            cell["source"] = source
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb, missing


# --- running nbval -----------------------------------------------------------------------------------------

def check_kernel(kernel: str | None) -> None:
    """A GradingError when no kernel can run the notebook: nbval/ipykernel missing, or an unknown --kernel."""
    for module in ("nbval", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            raise GradingError(f"no kernel: {module} is not installed in {sys.executable}. Install the course "
                               "environment (`make venv`, or pip install -r requirements.txt) and grade with its "
                               "Python (.venv/bin/python -m book.grade ...).")
    if kernel:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        manager = KernelSpecManager()
        try:
            manager.get_kernel_spec(kernel)
        except NoSuchKernel:
            installed = ", ".join(sorted(manager.find_kernel_specs())) or "none"
            raise GradingError(f"no Jupyter kernel named {kernel!r} (installed kernels: {installed}). Install it "
                               f"(python -m ipykernel install --user --name {kernel}) or leave out --kernel to run "
                               "the notebook in this Python environment.") from None


def run_nbval(nb, workdir: Path, timeout: float, kernel: str | None, threads: int | None) -> dict:
    """Execute ``nb`` with pytest --nbval-lax in a subprocess; the per-cell outcomes of book.nbval_outcomes."""
    notebook = workdir / "graded.ipynb"
    notebook.write_text(notebook_text(nb), encoding="utf-8")
    ini, outcomes, results = workdir / "pytest.ini", workdir / "outcomes.json", workdir / "results.jsonl"
    ini.write_text("[pytest]\n", encoding="utf-8")  # no addopts/testpaths from the repository or anywhere else
    outcomes.unlink(missing_ok=True)
    results.unlink(missing_ok=True)
    command = [sys.executable, "-c", PYTEST_BOOTSTRAP, str(notebook), "-c", str(ini), "--rootdir", str(workdir),
               "--noconftest", "-p", "no:cacheprovider", "-p", "book.nbval_outcomes", "-q", "--no-header",
               "--nbval-lax", f"--nbval-cell-timeout={timeout:g}"]
    command += ["--nbval-kernel-name", kernel] if kernel else ["--nbval-current-env"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env.update({OUTCOMES_ENV: str(outcomes), RESULTS_ENV: str(results), "MPLBACKEND": "Agg",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), env.get("PYTHONPATH")]))})
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on a shared CPU
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    n_cells = sum(c["cell_type"] == "code" for c in nb["cells"])
    try:
        proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout * (n_cells + 2) + 120)
    except subprocess.TimeoutExpired:
        raise GradingError(f"nbval did not finish within {timeout * (n_cells + 2) + 120:g} s") from None
    if not outcomes.is_file() or proc.returncode not in (0, 1):
        tail = (proc.stdout + proc.stderr).strip()[-3000:]
        raise GradingError(f"nbval could not run the notebook (pytest exit status {proc.returncode}):\n{tail}")
    data = json.loads(outcomes.read_text(encoding="utf-8"))
    if data["errors"]:
        raise GradingError("no kernel: nbval could not start the notebook's kernel: " + "; ".join(data["errors"]))
    return data


# --- from cell outcomes to verdicts ------------------------------------------------------------------------

def cell_map(nb) -> list[tuple[str | None, str | None]]:
    """(role, question) of each code cell, indexed like nbval's cell numbers."""
    return [role(c) for c in nb["cells"] if c["cell_type"] == "code"]


def first_lost_kernel(outcomes: dict) -> int | None:
    """The first cell in which nbval had to stop the kernel (it could not interrupt it), if any."""
    lost = [i for i, o in sorted(outcomes.items()) if o.get("kernel_lost")]
    return lost[0] if lost else None


def question_verdict(q: str, answer_cells: list[int], check_cell: int, outcomes: dict, exercise: str,
                     timeout: float, missing: bool) -> tuple[str, str]:
    """(status, message) of one question from its cells' nbval outcomes and the verdicts they reported."""
    def timed_out(o):
        return o.get("timed_out") or o.get("kernel_lost")

    too_long = (f"it ran longer than the {timeout:g} s limit per cell and was stopped "
                "(an endless loop, or far too much work?)")
    if missing:
        return NOT_ATTEMPTED, (f"the notebook has no answer cell for {q} (was it deleted, or its cell metadata "
                               "removed?); write your answer in the answer cell of a fresh copy of the exercise")
    answers = [outcomes.get(i) for i in answer_cells]
    check = outcomes.get(check_cell)
    if any(o is None for o in answers) or check is None:
        return INCORRECT, "not run: nbval stopped before this question"
    for o in answers:
        if timed_out(o):
            return INCORRECT, f"the answer cell: {too_long}"
    if timed_out(check):
        return INCORRECT, f"the check of your answer: {too_long}"
    verdicts = [v for v in check["verdicts"] if v.get("question") == q and v.get("exercise") == exercise]
    last = verdicts[-1] if verdicts else None
    if last and last.get("status") in (INCORRECT, NOT_ATTEMPTED):
        return last["status"], last.get("message", "")
    failed = next((o for o in answers if not o["passed"]), None)
    if failed is not None:
        error = f"{failed.get('ename') or 'an error'}: {failed.get('evalue') or failed.get('message')}"
        if check["passed"]:
            return INCORRECT, (f"the check passed, but the answer cell raised {error}; every cell of a question "
                               "must run without error")
        if failed.get("ename") == "NotImplementedError":
            return NOT_ATTEMPTED, "the answer cell still raises NotImplementedError"
        return INCORRECT, f"the answer cell raised {error}"
    if not check["passed"]:
        error = f"{check.get('ename') or 'an error'}: {check.get('evalue') or check.get('message')}"
        if check.get("ename") == "NotImplementedError":
            return NOT_ATTEMPTED, "your answer still raises NotImplementedError"
        if check.get("ename") == "NameError":
            return INCORRECT, (f"the check raised {error} (define it in the answer cell of {q}, under the name "
                               "the question asks for)")
        return INCORRECT, f"the check raised {error}"
    if last and last.get("status") == CORRECT:
        return CORRECT, last.get("message", "")
    return INCORRECT, (f"the check cell ran but reported no verdict (was {q}, or the checking code, changed by an "
                       "answer cell?)")


def grade(path, exercise: str | None = None, timeout: float = DEFAULT_TIMEOUT, kernel: str | None = None,
          pass_mark: float | None = None, solutions_dir: Path | None = None, threads: int | None = None) -> Grade:
    """Grade one notebook (see the module docstring). Raises GradingError when it cannot be graded."""
    start = time.perf_counter()
    path = Path(path)
    submission = read_submission(path)
    exercise = identify(submission, path, exercise)
    info = catalog()[exercise]
    check_kernel(kernel)
    base = pristine(exercise, solutions_dir)
    skipped: dict[str, str] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        while True:
            nb, missing = graded_copy(base, submission, skipped)
            cells = cell_map(nb)
            data = run_nbval(nb, Path(tmp), timeout, kernel, threads)
            outcomes = {o["cell"]: o for o in data["cells"]}
            first_answer = next((i for i, (r, _) in enumerate(cells) if r == ANSWER), len(cells))
            broken = [i for i in range(first_answer)
                      if i in outcomes and not outcomes[i]["passed"] and not outcomes[i].get("skipped")]
            if broken:
                o = outcomes[broken[0]]
                raise GradingError(f"the exercise's own set-up failed in code cell {broken[0]} "
                                   f"({o.get('ename')}: {o.get('evalue') or o.get('message')}); this is not the "
                                   "submission's fault: fix the environment (make venv, make data) and grade again")
            lost = first_lost_kernel(outcomes)
            if lost is None:
                break
            lost_role, lost_q = cells[lost]
            if lost_role not in (ANSWER, CHECK) or lost_q in skipped:
                notes.append(f"the kernel was lost in code cell {lost}; the cells after it were not run")
                break
            skipped[lost_q] = (f"it ran past the {timeout:g} s limit per cell and could not be interrupted, so "
                               "the kernel was stopped; the notebook was run again without this answer")
    for i, (r, q) in enumerate(cells):
        if r is None and i in outcomes and not outcomes[i]["passed"] and not outcomes[i].get("skipped"):
            notes.append(f"context cell {i} failed: {outcomes[i].get('ename')}: {outcomes[i].get('evalue')}")
    results = []
    for spec in info["questions"]:
        q = spec["id"]
        answer_cells = [i for i, (r, qq) in enumerate(cells) if r == ANSWER and qq == q]
        check_cell = next(i for i, (r, qq) in enumerate(cells) if r == CHECK and qq == q)
        if q in skipped:
            status, message = INCORRECT, skipped[q]
        else:
            status, message = question_verdict(q, answer_cells, check_cell, outcomes, exercise, timeout,
                                               q in missing)
        results.append(QuestionResult(q, spec["title"], spec["points"] if status == CORRECT else 0, spec["points"],
                                      status, message))
    return Grade(exercise, info["title"], str(path), results,
                 info["pass_mark"] if pass_mark is None else pass_mark, time.perf_counter() - start, notes)


# --- many submissions --------------------------------------------------------------------------------------

def find_notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def grade_folder(folder: Path, jobs: int, **options) -> list[tuple[str, Path, Grade | str]]:
    """Grade every notebook under ``folder`` in parallel: (learner, path, Grade or error message) per notebook.

    Each grading runs in its own pytest and kernel processes; threads only wait for them. With several jobs each
    kernel gets a share of the CPU threads, so that they do not fight over the cores.
    """
    paths = find_notebooks(folder)
    if not paths:
        raise GradingError(f"{folder} holds no .ipynb notebooks to grade")
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None

    def one(path):
        try:
            return grade(path, threads=threads, **options)
        except GradingError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        graded = list(pool.map(one, paths))
    return [(str(p.relative_to(folder).with_suffix("")), p, g) for p, g in zip(paths, graded)]


def csv_text(rows: list[tuple[str, Path, Grade | str]]) -> str:
    question_ids = sorted({q.id for _, _, g in rows if isinstance(g, Grade) for q in g.questions},
                          key=lambda q: (len(q), q))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", "file", "exercise", "score", "max_score", "percent", "passed", "error"]
                    + [c for q in question_ids for c in (q, f"{q}_status")])
    for learner, path, g in rows:
        if isinstance(g, Grade):
            by_id = {q.id: q for q in g.questions}
            per_q = [v for q in question_ids
                     for v in ((by_id[q].points, by_id[q].status) if q in by_id else ("", ""))]
            writer.writerow([learner, str(path), g.exercise, g.score, g.max_score, f"{g.percent:.1f}",
                             "yes" if g.passed else "no", ""] + per_q)
        else:
            writer.writerow([learner, str(path), "", 0, "", "", "no", g] + [""] * (2 * len(question_ids)))
    return out.getvalue()


# --- output ------------------------------------------------------------------------------------------------

def table(g: Grade) -> str:
    width = max(len(q.title) for q in g.questions)
    lines = [f"Exercise {g.exercise}: {g.title}", f"  {g.file}", "",
             f"  {'question':<{width + 4}}  {'points':>6}  {'status':<13}  message"]
    for q in g.questions:
        message = " ".join(q.message.split())
        lines.append(f"  {q.id:<3} {q.title:<{width}}  {f'{q.points}/{q.max_points}':>6}  {q.status:<13}  {message}")
    lines.append("")
    verdict = "passed" if g.passed else "NOT passed"
    lines.append(f"  total {g.score}/{g.max_score} ({g.percent:.0f}%): {verdict} (pass mark {100 * g.pass_mark:.0f}%)"
                 f"; graded in {g.seconds:.1f} s")
    if g.score < g.max_score:
        lines.append("  hints: run q1.hint() (q1.hint(2): a stronger one) in the notebook, q1.solution() for a model "
                     "answer; same for q2, ...")
    lines += [f"  note: {n}" for n in g.notes]
    return "\n".join(lines)


def parse_pass_mark(text: str) -> float:
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"the pass mark is a share of the points, 0 to 1 (or 0% to 100%), "
                                         f"got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book.grade", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="a notebook, or a folder of submitted notebooks")
    parser.add_argument("--exercise", help="the exercise the notebook(s) must be, e.g. 02_cross_entropy")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--csv", type=Path, help="(folder) write the CSV here instead of printing it")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds each cell may run (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--pass-mark", type=parse_pass_mark, help="share of the points needed, e.g. 0.6 or 60%%")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="(folder) notebooks graded at once")
    parser.add_argument("--kernel", help="run in this installed Jupyter kernel instead of this Python environment")
    parser.add_argument("--solutions", type=Path, help="the folder of solutions notebooks (default: the repository's)")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.jobs < 1:
        parser.error("--timeout and --jobs must be positive")
    options = dict(exercise=args.exercise, timeout=args.timeout, kernel=args.kernel, pass_mark=args.pass_mark,
                   solutions_dir=args.solutions)
    try:
        if args.path.is_dir():
            check_kernel(args.kernel)
            rows = grade_folder(args.path, args.jobs, **options)
            errors = [(learner, g) for learner, _, g in rows if not isinstance(g, Grade)]
            if args.json:
                print(json.dumps([{"learner": learner, **(g.to_dict() if isinstance(g, Grade) else {"error": g})}
                                  for learner, _, g in rows], indent=2))
            elif args.csv:
                args.csv.write_text(csv_text(rows), encoding="utf-8")
                for learner, _, g in rows:
                    print(f"{learner}: " + (f"{g.score}/{g.max_score} ({g.percent:.0f}%), "
                                            f"{'passed' if g.passed else 'NOT passed'}" if isinstance(g, Grade)
                                            else f"not graded: {g}"))
                print(f"wrote {args.csv} ({len(rows)} rows)")
            else:
                sys.stdout.write(csv_text(rows))
            for learner, error in errors:
                print(f"error: {learner}: {error}", file=sys.stderr)
            return 2 if errors else 0
        g = grade(args.path, **options)
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(g.to_dict(), indent=2) if args.json else table(g))
    return 0 if g.passed else 1


if __name__ == "__main__":
    sys.exit(main())
