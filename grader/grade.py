"""The grader: one notebook graded into a :class:`Grade`, a folder of submissions into rows, a CSV and a table.

The command is :mod:`grader.__main__` (``python -m grader NOTEBOOK|FOLDER``).

How a notebook is graded:

1. The submission is read, never written, and checked field by field: a file that is not an exercise notebook
   (not UTF-8 JSON, nested too deeply, odd field types, another exercise) gets one line saying why, exit status 2.
2. The pristine learner notebook is regenerated in memory from ``exercises/solutions/<id>.ipynb``, in the
   submission's language (``metadata["exercise"]["language"]``, English when absent: a Chinese notebook's
   pristine is ``exercises/zh_CN/<id>.ipynb`` as :mod:`grader.make_exercises` makes it, whose set-up makes the
   kernel speak Chinese). The graded copy is that pristine notebook with the submission's *answer cells* put in
   (nbval's comment markers removed from them): every check cell and every other cell comes from the pristine
   notebook. The language changes what the checks say, never what they check: both pristine notebooks come from
   the repository, and their code cells differ only in that set-up line.
3. The copy runs under ``pytest --nbval-lax`` inside a sandbox (:mod:`grader.sandbox`): read-only system, no
   network, no view of other processes, the repository, other submissions or the answer key
   (:mod:`grader.stage`), a private scratch folder, resource limits, and nothing left running afterwards.
   Each cell has a time limit; a cell that cannot be interrupted loses the kernel, and the notebook is run again
   without it -- one statement per cell for that answer, so that its earlier definitions survive.
4. Verdicts are decided outside the sandbox (:mod:`book.protocol`): in the graded copy a check cell only calls the
   learner's code on fresh inputs drawn for this grading and records what came back as plain data; the grader
   runs the question's checker on that record in its own process, speaking the notebook's language
   (:func:`book.language.speaking`, in the thread that judges it). Exercises whose checkers are not converted
   yet are judged inside the sandbox (the grade says which); their verdicts count only when nbval saw the
   check cell pass.
5. Answers are scanned for reaching past the question (:mod:`grader.evasions`) and fingerprinted
   (:mod:`grader.similarity`); a folder's report (:mod:`grader.report`) lists the flags and identical answers.

The command's exit status: see :mod:`grader.__main__`.
"""

from __future__ import annotations

import ast
import copy
import csv
import importlib
import importlib.util
import io
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from book.language import deferred, say, speaking, translate
from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED, STUB_MESSAGE, plain
from grader import sandbox
from grader.evasions import Flag, marker_lines, scan, withheld
from grader.exercise_cells import (ANSWER, CHECK, ENGLISH, ExerciseFormatError, exercise_id, learner_notebook,
                                   normalise, notebook_language, read_notebook, role)
from grader.make_exercises import SOLUTIONS_DIR, TRANSLATED, translated_notebook

DEFAULT_TIMEOUT = 60.0  # seconds per cell: the longest (08's MLP, ~15 s on 2 idle cores) has room on a busy machine
MAX_NOTEBOOK_BYTES = 20 << 20
CELL_TYPES = ("code", "markdown", "raw")
MAX_RUNS = 6  # runs of one notebook: after a lost kernel, a run to find its cell (or statement), then without it


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
    judged: str = "outside"  # "outside": by the grader on recorded outputs; "inside": in the sandbox (legacy)
    verdict: str = ""        # what the checks said, when flags withheld the points (else empty)


@dataclass
class Grade:
    exercise: str
    title: str
    file: str
    questions: list[QuestionResult]
    pass_mark: float
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    fingerprints: dict[str, object] = field(default_factory=dict)
    seed: int | None = None
    sandbox: str = "none"
    language: str = ENGLISH  # the notebook's, which its checks' messages speak

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
                "sandbox": self.sandbox, "seed": self.seed, "language": self.language,
                "flags": [asdict(f) for f in self.flags],
                "questions": [asdict(q) for q in self.questions]}


# --- reading the submission ----------------------------------------------------------------------------------

def catalog() -> dict:
    from book.questions import exercise_catalog

    return exercise_catalog()


FIX = "Grade the .ipynb file saved by Jupyter (File > Save); if it was damaged, start again from a fresh copy."


def validate(data) -> None:
    """Raise ValueError naming the first field of ``data`` that no nbformat 4 notebook of the course has."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object, found " + type(data).__name__)
    if type(data.get("nbformat")) is not int or data["nbformat"] != 4:
        raise ValueError("not an nbformat 4 notebook: expected a JSON object with 'nbformat': 4 and a 'cells' list")
    if not isinstance(data.get("cells"), list):
        raise ValueError("not an nbformat 4 notebook: expected a JSON object with 'nbformat': 4 and a 'cells' list")
    meta = data.get("metadata", {})
    if not isinstance(meta, dict):
        raise ValueError("the notebook's metadata is not an object")
    exercise = meta.get("exercise")
    if exercise is not None and (not isinstance(exercise, dict) or not isinstance(exercise.get("id", ""), str)):
        raise ValueError("metadata['exercise'] is not an object with a text 'id'")
    if exercise is not None and not isinstance(exercise.get("language", ""), str):
        raise ValueError("metadata['exercise']['language'] is not text")
    for i, cell in enumerate(data["cells"]):
        where = f"cell {i}"
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_TYPES:
            raise ValueError(f"{where} is not an object with a 'cell_type' of code, markdown or raw")
        source = cell.get("source", "")
        if not (isinstance(source, str) or isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise ValueError(f"{where}: its 'source' is not text (a string, or a list of strings)")
        if "id" in cell and not isinstance(cell["id"], str):
            raise ValueError(f"{where}: its 'id' is not a string")
        cell_meta = cell.get("metadata", {})
        if not isinstance(cell_meta, dict):
            raise ValueError(f"{where}: its metadata is not an object")
        ex = cell_meta.get("exercise")
        if ex is not None and (not isinstance(ex, dict) or not all(isinstance(ex.get(k, ""), str)
                                                                   for k in ("role", "question"))):
            raise ValueError(f"{where}: metadata['exercise'] must hold text 'role' and 'question'")


def read_submission(path: Path):
    """The submitted notebook, or a GradingError that says what is wrong with the file."""
    if not path.is_file():
        raise GradingError(f"{path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise GradingError(f"{path} is not an exercise notebook: it is larger than {MAX_NOTEBOOK_BYTES >> 20} MB "
                           f"(clear its outputs: Edit > Clear All Outputs, then save). {FIX}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise GradingError(f"{path} is not a Jupyter notebook: it is not text (UTF-8) at all. {FIX}") from None
    except OSError as exc:
        raise GradingError(f"{path} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise GradingError(f"{path} is not a Jupyter notebook: its JSON is nested too deeply. {FIX}") from None
    except ValueError as exc:
        raise GradingError(f"{path} is not a Jupyter notebook: it is not valid JSON ({exc}). {FIX}") from None
    try:
        validate(data)
        return normalise(data)
    except (ValueError, TypeError, RecursionError) as exc:
        raise GradingError(f"{path} is not a Jupyter notebook: {exc}. {FIX}") from None


def identify(nb, path: Path, expected: str | None) -> str:
    """The exercise id of the submission, checked against the known exercises and against ``expected``."""
    known = catalog()
    found = exercise_id(nb)
    if not found:
        raise GradingError(f"{path} is not one of the course's exercise notebooks: its metadata names no exercise "
                           f"(metadata['exercise']['id']). Submit the notebook you got from exercises/ "
                           f"({', '.join(known)}).")
    if found not in known:
        raise GradingError(f"{path} is a notebook of an unknown exercise {found[:80]!r}; the known exercises are "
                           f"{', '.join(known)}.")
    if expected and found != expected:
        raise GradingError(f"{path} is a notebook of another exercise: it is {found!r}, not {expected!r}. Submit "
                           f"exercises/{expected}.ipynb, or grade it as --exercise {found}.")
    return found


def language_of(nb, path: Path) -> str:
    """The submission's language: what its metadata says (``metadata["exercise"]["language"]``), English when
    it says nothing; one of those the learner notebooks are made in, else a GradingError."""
    language = notebook_language(nb)
    if language not in (ENGLISH, *TRANSLATED):
        made = ", ".join([f"{ENGLISH} (exercises/)", *(f"{lang} (exercises/{lang}/)" for lang in TRANSLATED)])
        raise GradingError(f"{path}: its metadata says it is in the language {language[:40]!r}, in which there is "
                           f"no exercise notebook; they exist in {made}. Submit the notebook you got from one of "
                           "those folders.")
    return language


def pristine(exercise: str, solutions_dir: Path | None = None, language: str = ENGLISH):
    """The learner notebook of ``exercise`` in ``language`` as generated from its solutions notebook (never the
    learner's file; for another language than English, as :mod:`grader.make_exercises` translates it, a message
    without its translation left English: only the code cells count here)."""
    path = Path(solutions_dir or SOLUTIONS_DIR) / f"{exercise}.ipynb"
    if not path.is_file():
        raise GradingError(f"the solutions notebook {path} is missing: the grader rebuilds every check from it. "
                           "Run the grader in a checkout of the course repository, or pass --solutions FOLDER.")
    try:
        learner = learner_notebook(read_notebook(path), str(path))
        if language == ENGLISH:
            return learner
        return translated_notebook(learner, language, exercise, strict=False)
    except (ExerciseFormatError, ValueError) as exc:
        raise GradingError(f"the solutions notebook is malformed: {exc}") from None


def strip_markers(source: str) -> str:
    """``source`` without the lines nbval would read as its comment markers (by nbval's own rule), so that an
    answer cannot change how its cells are run; the lines stay, empty, so line numbers still match."""
    drop = set(marker_lines(source))
    return "\n".join("" if i in drop else line for i, line in enumerate(source.splitlines()))


def answers_by_question(nb, strip: bool = True) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == ANSWER and cell["cell_type"] == "code" and q:
            found.setdefault(q, []).append(strip_markers(cell["source"]) if strip else cell["source"])
    return found


# --- the graded copy, and what to leave out of it after a lost kernel ------------------------------------

@dataclass
class Attempt:
    """How the next run differs from the submission after lost kernels (see :func:`graded_copy`)."""

    lost: dict[str, str] = field(default_factory=dict)           # question -> why it costs its points
    split: set[str] = field(default_factory=set)                 # answers run one top-level statement per cell
    dropped: dict[str, set[int]] = field(default_factory=dict)   # statements left out (they lost the kernel)
    stubbed: set[str] = field(default_factory=set)               # answers left out altogether
    skipped_checks: set[str] = field(default_factory=set)        # check cells left out (they lost the kernel)


STUB = f'raise NotImplementedError("{STUB_MESSAGE}")'


def statements(source: str) -> list[str] | None:
    """The top-level statements of a cell's code (IPython syntax turned into Python), or None if it does not
    parse: what a re-run executes one per cell."""
    from grader.similarity import python_source

    code = python_source(source)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    lines = code.splitlines(keepends=True)
    out = []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out.append("".join(lines[start - 1:node.end_lineno]))
    return out


def graded_copy(pristine_nb, submitted: dict[str, list[str]], attempt: Attempt | None = None):
    """The pristine notebook with the submitted answer cells put in. Returns (notebook, cells, missing): ``cells``
    is (role, question, statement number or None) of each code cell; ``missing`` the questions with no answer
    cell in the submission."""
    attempt = attempt or Attempt()
    nb = copy.deepcopy(pristine_nb)
    slots: dict[str, list] = {}
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == ANSWER:
            slots.setdefault(q, []).append(cell)
    missing = set()
    replace: dict[int, list] = {}
    for q, cells in slots.items():
        sources = list(submitted.get(q) or [])
        if not sources:
            missing.add(q)
            sources = [STUB]
        if q in attempt.stubbed:
            sources = [STUB]
        if len(sources) != len(cells):  # copies or merges of answer cells: run them all, in order, in the first slot
            sources = ["\n\n".join(sources)] + [""] * (len(cells) - 1)
        if q in attempt.split and q not in attempt.stubbed:
            parts = [s for source in sources for s in (statements(source) or [source])]
            pieces = []
            for i, part in enumerate(parts):
                piece = copy.deepcopy(cells[0])
                piece["source"] = "pass  # left out: it lost the kernel" if i in attempt.dropped.get(q, set()) \
                    else part
                piece["metadata"]["exercise"]["statement"] = i
                piece.pop("id", None)
                pieces.append(piece)
            replace[id(cells[0])] = pieces
            for extra in cells[1:]:
                replace[id(extra)] = []
            continue
        for cell, source in zip(cells, sources):
            cell["source"] = source
    cells_out = []
    for cell in nb["cells"]:
        for piece in replace.get(id(cell), [cell]):
            r, q = role(piece)
            if r == CHECK and q in attempt.skipped_checks:
                piece["source"] = "pass  # left out: it lost the kernel"
            cells_out.append(piece)
    nb["cells"] = cells_out
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.setdefault("id", f"graded-{i}")
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    cells = [(*role(c), c["metadata"].get("exercise", {}).get("statement") if role(c)[0] else None)
             for c in code_cells]
    return nb, cells, missing


def check_kernel(kernel: str | None) -> None:
    """A GradingError when no kernel can run the notebook: nbval/ipykernel missing, or an unknown --kernel."""
    for module in ("nbval", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            raise GradingError(f"no kernel: {module} is not installed in {sys.executable}. Install the course "
                               "environment (`make venv`, or pip install -r requirements.txt) and grade with its "
                               "Python (.venv/bin/python -m grader ...).")
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


# --- the checks of one grading, and the context shared by the gradings of one command ---------------------

class Plans:
    """The checks of one grading: the exercise's real checks module (trusted, in this process), its questions,
    and the cases of those judged outside, drawn with this grading's seed. :meth:`write` puts them into a
    workspace as data -- while the sandbox starts, so that importing torch and the checkers here overlaps with
    the sandbox's own start."""

    def __init__(self, exercise: str, seed: int):
        self.exercise, self.seed = exercise, seed
        self.module = None
        self.questions: dict = {}
        self.cases: dict = {}

    def load(self) -> None:
        from grader.stage import checks_module_name
        from book.protocol import rng_for

        if self.module is not None:
            return
        try:
            module = importlib.import_module(checks_module_name(self.exercise))
            questions = {q.id: q for q in module.QUESTIONS}
        except Exception as exc:
            raise GradingError(f"the checks of exercise {self.exercise} cannot be loaded ({type(exc).__name__}: "
                               f"{exc}); fix the course environment") from None
        for q in questions.values():
            if q.judged_outside:
                self.cases[q.id] = q.planned_cases(rng_for(self.seed, self.exercise, q.id))
        self.module, self.questions = module, questions

    def write(self, ws) -> None:
        from grader.stage import question_list
        from book.protocol import finish_plans, write_plan

        self.load()
        for qid, cases in self.cases.items():
            write_plan(ws.plans / qid, self.questions[qid], cases)
        finish_plans(ws.plans, question_list(self.module))
        ws.readable_plans()



class Context:
    """What the gradings of one command share: the sandbox's package copies (one per exercise), the checks of
    the environment, and the lock that serialises judging in this process."""

    def __init__(self, sandboxed: bool, timeout: float, kernel: str | None, solutions_dir: Path | None):
        self.sandboxed, self.timeout, self.kernel, self.solutions_dir = sandboxed, timeout, kernel, solutions_dir
        self.root = Path(tempfile.mkdtemp(prefix="grade-stage-"))
        self.root.chmod(0o711)
        self._staged: dict = {}
        self._setup: dict = {}
        self.lock = threading.Lock()
        self.judge_lock = threading.Lock()

    def staged(self, exercise: str, base):
        """The sandbox's package copy for ``exercise``, one per language (each pristine's own cells decide what
        the copy holds)."""
        from grader.stage import stage

        key = (exercise, notebook_language(base))
        with self.lock:
            if key not in self._staged:
                folder = self.root / (exercise if key[1] == ENGLISH else f"{exercise}.{key[1]}")
                shutil.rmtree(folder, ignore_errors=True)  # what a staging that failed half-way left
                folder.mkdir()
                self._staged[key] = stage(exercise, base, folder)
            return self._staged[key]

    def setup_failure(self, exercise: str, base, threads: int | None, plans: Plans) -> str | None:
        """Why the pristine notebook's own set-up fails in this environment (a run without any answer), or None.
        Asked only when a submission's run says its set-up failed: the run's word alone proves nothing."""
        from grader.run import Workspace, run_notebook

        key = (exercise, notebook_language(base))
        with self.lock:
            if key in self._setup:
                return self._setup[key]
        nb, cells, _ = graded_copy(base, {})
        with Workspace() as ws:
            plans.write(ws)
            run = run_notebook(nb, ws, timeout=self.timeout, kernel=self.kernel, threads=threads,
                               staged_package=self.staged(exercise, base).package if self.sandboxed else None)
        why = None
        if run.errors:
            why = "no kernel: nbval could not start the notebook's kernel: " + "; ".join(run.errors)
        elif not run.readable:
            why = f"nbval could not run the notebook (pytest exit status {run.exit_status}):\n{run.tail[-3000:]}"
        else:
            first_answer = next((i for i, c in enumerate(cells) if c[0] == ANSWER), len(cells))
            broken = [i for i in range(first_answer) if i in run.outcomes and not run.outcomes[i]["passed"]
                      and not run.outcomes[i].get("skipped")]
            if broken:
                o = run.outcomes[broken[0]]
                why = (f"the exercise's own set-up failed in code cell {broken[0]} ({o.get('ename')}: "
                       f"{o.get('evalue') or o.get('message')}); this is not the submission's fault: fix the "
                       "environment (make venv, make data) and grade again")
        with self.lock:
            self._setup[key] = why
        return why

    def close(self) -> None:
        sandbox.remove_tree(self.root)

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sandbox_choice(sandboxed: bool | None, kernel: str | None) -> tuple[bool, str | None]:
    """(use the sandbox, a note for the grade) from the caller's wish: True requires it, None uses it where it
    works, False runs without."""
    if sandboxed is False:
        return False, "not sandboxed (--no-sandbox): the notebook ran with the grader's rights"
    if kernel:
        if sandboxed:
            raise GradingError("--kernel cannot be used in the sandbox (it runs this environment's Python); "
                               "leave out --kernel, or add --no-sandbox for notebooks you trust")
        return False, f"not sandboxed: --kernel {kernel} runs outside the sandbox"
    if sandbox.mechanism():
        return True, None
    if sandboxed:
        raise GradingError(f"class grading needs a sandbox and none works here: {sandbox.unavailable_reason()}")
    return False, f"not sandboxed ({sandbox.unavailable_reason()}); fine for your own notebook"


# --- from a run to verdicts -------------------------------------------------------------------------------

def first_lost_kernel(outcomes: dict) -> int | None:
    """The first cell in which nbval had to stop the kernel (it could not interrupt it, or it died), if any."""
    lost = [i for i, o in sorted(outcomes.items()) if o.get("kernel_lost")]
    return lost[0] if lost else None


def _error(o: dict) -> str:
    return f"{o.get('ename') or 'an error'}: {o.get('evalue') or o.get('message')}"


def too_long(timeout: float) -> str:
    return (f"it ran longer than the {timeout:g} s limit per cell and was stopped "
            "(an endless loop, or far too much work?)")


def outcome_verdict(q: str, answer_cells: list[int], check_cell: int | None, outcomes: dict,
                    timeout: float) -> tuple[str, str] | None:
    """What the cells' outcomes say when they explain a failure (timeouts, errors, cells not run), else None."""
    def timed_out(o):
        return o.get("timed_out") or o.get("kernel_lost")

    answers = [outcomes.get(i) for i in answer_cells]
    check = outcomes.get(check_cell) if check_cell is not None else None
    if any(o is None for o in answers) or check is None:
        return INCORRECT, "not run: nbval stopped before this question"
    for o in answers:
        if timed_out(o):
            return INCORRECT, f"the answer cell: {too_long(timeout)}"
    if timed_out(check):
        return INCORRECT, f"the check of your answer: {too_long(timeout)}"
    failed = next((o for o in answers if not o["passed"]), None)
    if failed is not None and not check["passed"]:
        if failed.get("ename") == "NotImplementedError":
            return NOT_ATTEMPTED, "the answer cell still raises NotImplementedError"
        return INCORRECT, f"the answer cell raised {_error(failed)}"
    if not check["passed"]:
        if check.get("ename") == "NotImplementedError":
            return NOT_ATTEMPTED, "your answer still raises NotImplementedError"
        if check.get("ename") == "NameError":
            return INCORRECT, (f"the check raised {_error(check)} (define it in the answer cell of {q}, under the "
                               "name the question asks for)")
        return INCORRECT, f"the check raised {_error(check)}"
    return None


def answer_failure(answer_cells: list[int], outcomes: dict) -> str | None:
    failed = next((outcomes[i] for i in answer_cells if i in outcomes and not outcomes[i]["passed"]
                   and not outcomes[i].get("skipped")), None)
    return None if failed is None else _error(failed)


def question_verdict(q: str, answer_cells: list[int], check_cell: int, outcomes: dict, exercise: str,
                     timeout: float, missing: bool) -> tuple[str, str]:
    """(status, message) of a question judged *inside* the sandbox (checkers not converted to the protocol):
    from its cells' nbval outcomes and the verdicts its check cell reported."""
    if missing:
        return NOT_ATTEMPTED, (f"the notebook has no answer cell for {q} (was it deleted, or its cell metadata "
                               "removed?); write your answer in the answer cell of a fresh copy of the exercise")
    check = outcomes.get(check_cell)
    explained = outcome_verdict(q, answer_cells, check_cell, outcomes, timeout)
    verdicts = [v for v in (check or {}).get("verdicts", []) if v.get("question") == q
                and v.get("exercise") == exercise]
    last = verdicts[-1] if verdicts else None
    if last and last.get("status") in (INCORRECT, NOT_ATTEMPTED) and not (explained and "ran longer" in
                                                                         explained[1]):
        return last["status"], last.get("message") or ""
    if explained:
        return explained
    failure = answer_failure(answer_cells, outcomes)
    if failure:
        return INCORRECT, (f"the check passed, but the answer cell raised {failure}; every cell of a question "
                           "must run without error")
    if last and last.get("status") == CORRECT:
        return CORRECT, last.get("message") or ""
    return INCORRECT, (f"the check cell ran but reported no verdict (was {q}, or the checking code, changed by an "
                       "answer cell?)")


def judged_verdict(question, cases, record_dir: Path, answer_cells: list[int], check_cell: int, outcomes: dict,
                   timeout: float, missing: bool, lock) -> tuple[str, str, list[Flag]]:
    """(status, message, flags) of a question judged by the grader on what its check cell recorded."""
    from book.plain_data import NoRecord, PayloadError
    from book.protocol import ProtocolError
    from book.replay import answers_for_judge, read_record

    q = question.id
    if missing:
        return NOT_ATTEMPTED, (f"the notebook has no answer cell for {q} (was it deleted, or its cell metadata "
                               "removed?); write your answer in the answer cell of a fresh copy of the exercise"), []
    try:
        recorded = read_record(record_dir, len(cases))
    except NoRecord:
        explained = outcome_verdict(q, answer_cells, check_cell, outcomes, timeout)
        return (*(explained or (INCORRECT, f"the check cell recorded nothing (was {q}, or the checking code, "
                                           "changed by an answer cell?)")), [])
    except (PayloadError, OSError) as exc:
        return INCORRECT, f"the record of your answer cannot be used ({exc})", [
            Flag(q, "tampering", f"its check's record was malformed or altered ({exc})")]
    # what the in-kernel watch (book.protocol) saw done to itself is tampering; a forbidden call, its own flag
    flags = [Flag(q, "tampering", f"{alarm} while checked") for alarm in recorded.alarms]
    for call in recorded.calls.values():
        flags += [Flag(q, "forbidden", f"called `{n}` while checked (the question forbids it)")
                  for n in call["forbidden"]]
    answers = answers_for_judge(recorded, cases)
    if answers is None:
        return NOT_ATTEMPTED, translate("Replace ____ with your answer."), flags
    try:
        with lock:
            verdict = question.evaluate(*answers, cases=cases)
    except ProtocolError as exc:
        raise GradingError(f"the checker of {question.exercise} {q} is broken: {exc}") from None
    except Exception as exc:  # recorded data the checker could not digest: the answer's doing, never a point
        return INCORRECT, f"the grader could not use what your code returned ({type(exc).__name__}: {exc})", flags
    status, message = verdict.status, verdict.message
    if status == CORRECT:
        failure = answer_failure(answer_cells, outcomes)
        if failure:
            return INCORRECT, (f"the check passed, but the answer cell raised {failure}; every cell of a "
                               "question must run without error"), flags
    return status, message, flags


# --- grading one notebook ----------------------------------------------------------------------------------

def grade(path, exercise: str | None = None, timeout: float = DEFAULT_TIMEOUT, kernel: str | None = None,
          pass_mark: float | None = None, solutions_dir: Path | None = None, threads: int | None = None,
          sandboxed: bool | None = None, seed: int | None = None, context: Context | None = None) -> Grade:
    """Grade one notebook (see the module docstring). Raises GradingError when it cannot be graded."""
    start = time.perf_counter()
    path = Path(path)
    submission = read_submission(path)
    exercise = identify(submission, path, exercise)
    language = language_of(submission, path)
    info = catalog()[exercise]
    check_kernel(kernel)
    base = pristine(exercise, solutions_dir, language)
    use_sandbox, note = sandbox_choice(sandboxed, kernel)
    own = context is None
    context = context or Context(use_sandbox, timeout, kernel, solutions_dir)
    try:
        with speaking(language):  # the checkers judge in this thread: their messages in the notebook's language
            g = _grade(path, submission, exercise, info, base, timeout, kernel, threads, use_sandbox, seed, context)
    finally:
        if own:
            context.close()
    if note:
        g.notes.insert(0, note)
    g.pass_mark = info["pass_mark"] if pass_mark is None else pass_mark
    g.language = language
    g.seconds = time.perf_counter() - start
    return g


def _grade(path, submission, exercise, info, base, timeout, kernel, threads, use_sandbox, seed, context) -> Grade:
    from grader.run import Workspace

    staged = context.staged(exercise, base) if use_sandbox else None
    plans = Plans(exercise, secrets.randbits(62) if seed is None else seed)
    submitted = answers_by_question(submission)
    notes: list[str] = []
    flags: list[Flag] = []
    with Workspace() as ws:
        attempt, cells, missing, outcomes = run_until_settled(ws, base, submitted, exercise, timeout, kernel,
                                                              threads, staged, context, notes, plans)
        questions, cases = plans.questions, plans.cases
        results: dict[str, tuple] = {}
        for spec in info["questions"]:
            q = spec["id"]
            answer_cells = [i for i, c in enumerate(cells) if c[0] == ANSWER and c[1] == q]
            check_cell = next((i for i, c in enumerate(cells) if c[0] == CHECK and c[1] == q), None)
            question = questions.get(q)
            outside = question is not None and question.judged_outside
            if q in attempt.lost:
                results[q] = (INCORRECT, attempt.lost[q], "outside" if outside else "inside")
            elif outside:
                status, message, found = judged_verdict(question, cases[q], ws.work / "records" / q, answer_cells,
                                                         check_cell, outcomes, timeout, q in missing,
                                                         context.judge_lock)
                results[q] = (status, message, "outside")
                flags += found
            else:
                results[q] = (*question_verdict(q, answer_cells, check_cell, outcomes, exercise, timeout,
                                                q in missing), "inside")
    if any(judged == "inside" for _, _, judged in results.values()):
        notes.append("the checks of this exercise are not converted to the grading protocol yet: their verdicts "
                     "were decided inside the sandbox, where the answers ran")
    key = staged.key if staged else _answer_key(exercise, base)
    flags = list(dict.fromkeys(flags + answer_flags(submission, base, questions, key)))
    for q, flag in withheld(flags, [spec["id"] for spec in info["questions"]]).items():
        status, message, judged = results[q][:3]
        if status != NOT_ATTEMPTED or flag.kind == "tampering":
            why = {"tampering": "the notebook tampers with the checking machinery",
                   "answer-key": "an answer reaches for the answer key",
                   "forbidden": "this answer uses a function the question forbids"}[flag.kind]
            results[q] = (INCORRECT, f"no points: {why} ({flag.text()}); the teacher's report lists it", judged,
                          status)
    out = [QuestionResult(spec["id"], translate(spec["title"]),
                          spec["points"] if results[spec["id"]][0] == CORRECT else 0,
                          spec["points"], *results[spec["id"]]) for spec in info["questions"]]
    return Grade(exercise, translate(info["title"]), str(path), out, info["pass_mark"], 0.0, notes, flags,
                 fingerprints(submitted, base, questions), plans.seed, sandbox.mechanism() if use_sandbox else "none")


def run_until_settled(ws, base, submitted, exercise, timeout, kernel, threads, staged, context, notes, plans):
    """Run the graded copy (the plans written while the first run starts); after a lost kernel, run it again
    without what lost it (see :class:`Attempt`). Returns (attempt, cells, missing, outcomes) of the last run."""
    from grader.run import run_notebook

    attempt = Attempt()
    for n in range(MAX_RUNS):
        nb, cells, missing = graded_copy(base, submitted, attempt)
        run = run_notebook(nb, ws, timeout=timeout, kernel=kernel, threads=threads,
                           staged_package=staged.package if staged else None,
                           started=(lambda: plans.write(ws)) if n == 0 else None)
        outcomes = run.outcomes
        first_answer = next((i for i, c in enumerate(cells) if c[0] == ANSWER), len(cells))
        if run.errors or not run.readable or any(i in outcomes and not outcomes[i]["passed"]
                                                 and not outcomes[i].get("skipped") for i in range(first_answer)):
            why = context.setup_failure(exercise, base, threads, plans)  # the run's own word proves nothing
            if why:
                raise GradingError(why)
            notes.append("the run ended abnormally (its outcomes were lost, altered, or it was stopped"
                         + (f": {run.errors[-1]}" if run.errors else "") + "): graded on what the check cells "
                         "recorded")
            return attempt, cells, missing, {}
        lost = first_lost_kernel(outcomes)
        if lost is None:  # quit() costs its question even when the kernel answered a moment longer
            lost = next((i for i, o in sorted(outcomes.items()) if o.get("asked_exit")), None)
        if lost is None:
            break
        first = lost
        asked = [i for i in range(lost) if outcomes.get(i, {}).get("asked_exit")]
        if asked:  # quit() or exit(): the kernel stops answering a moment after that cell
            lost = asked[-1]
        elif outcomes[lost].get("dead_on_start") and lost > 0:  # it ended between the cell before and this one
            lost -= 1
        r, q, statement = cells[lost]
        if outcomes.get(lost, {}).get("asked_exit"):
            why = "it ended the kernel (quit() or exit() stops a notebook's kernel)"
        elif outcomes[first].get("died"):
            why = "it ended the kernel (a crash, os._exit(), or the memory limit)"
        else:
            why = f"it ran past the {timeout:g} s limit per cell and could not be interrupted"
        why += "; it costs this question only: the notebook was run again without the line that did it"
        if r == ANSWER and q:
            attempt.lost.setdefault(q, why)
            if statement is not None:
                attempt.dropped.setdefault(q, set()).add(statement)
            elif q not in attempt.split and all(statements(s) is not None for s in submitted.get(q, [])):
                attempt.split.add(q)
            else:
                attempt.stubbed.add(q)
        elif r == CHECK and q and q not in attempt.skipped_checks:
            attempt.lost.setdefault(q, "its check: " + why)
            attempt.skipped_checks.add(q)
        else:
            notes.append(f"the kernel was lost in code cell {lost}; the cells after it were not run")
            break
    else:
        notes.append("the kernel was lost again and again; the cells after the last loss were not run")
    for i, (r, q, _) in enumerate(cells):
        if r is None and i in outcomes and not outcomes[i]["passed"] and not outcomes[i].get("skipped"):
            notes.append(f"context cell {i} failed: {outcomes[i].get('ename')}: {outcomes[i].get('evalue')}")
    return attempt, cells, missing, outcomes


def answer_flags(submission, base, questions: dict, key: set[str]) -> list[Flag]:
    """The flags of the submission's answer cells (:mod:`grader.evasions`), leaving out what the stubs themselves
    hold (their demo lines are the course's code, not the learner's)."""
    flags = []
    given = answers_by_question(base, strip=False)
    for q, sources in answers_by_question(submission, strip=False).items():
        question = questions.get(q)
        forbidden = question.forbidden if question else ()
        known = {(f.kind, f.detail) for source in given.get(q, [])
                 for f in scan(q, source, forbidden, key, set(questions))}
        for source in sources:
            flags += [f for f in scan(q, source, forbidden, key, set(questions)) if (f.kind, f.detail) not in known]
    return flags


def fingerprints(submitted: dict, base, questions: dict) -> dict:
    """Each answered question's fingerprint (:mod:`grader.similarity`); untouched stubs have none."""
    from grader.similarity import fingerprint

    stubs = {q: fingerprint("\n\n".join(sources)) for q, sources in answers_by_question(base).items()}
    out = {}
    for q, sources in submitted.items():
        fp = fingerprint("\n\n".join(sources)) if q in questions else None
        if fp is not None and not (stubs.get(q) and stubs[q].digest == fp.digest):
            out[q] = fp
    return out


def _answer_key(exercise: str, base) -> set[str]:
    """The answer key the sandbox would hide for ``exercise`` (to flag answers that import it unsandboxed)."""
    from grader.stage import answer_key

    return answer_key(exercise, base)


# --- many submissions --------------------------------------------------------------------------------------

def find_notebooks(folder: Path) -> list[Path]:
    """Every .ipynb under ``folder`` (not following links to folders, skipping unreadable ones and checkpoints)."""
    found = []
    for root, dirs, files in os.walk(folder, onerror=lambda exc: None):
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
        found += [Path(root) / f for f in files if f.endswith(".ipynb")]
    return sorted(found)


_AST_LOCK = threading.Lock()


def _serialise_ast_parsing() -> None:
    """Make ``ast.parse`` take a lock, once per process. CPython 3.11's AST constructor keeps its recursion depth
    in shared state, and two threads parsing at once fail with "SystemError: AST constructor recursion depth
    mismatch" (seen in a --jobs 2 class grading: staging, the evasions scan and similarity all parse answers)."""
    import ast

    if getattr(ast.parse, "course_locked", False):
        return
    unlocked = ast.parse

    def parse(*args, **kwargs):
        with _AST_LOCK:
            return unlocked(*args, **kwargs)

    parse.course_locked = True
    ast.parse = parse


def grade_folder(folder: Path, jobs: int, sandboxed: bool | None = True, **options) -> list[tuple[str, Path,
                                                                                                Grade | str]]:
    """Grade every notebook under ``folder`` in parallel: (learner, path, Grade or one line saying why not).

    Each grading runs in its own sandbox; threads only wait for them. With several jobs each kernel gets a share
    of the CPU threads, so that they do not fight over the cores. Nothing one notebook does can stop the others:
    every file gets its row.
    """
    paths = find_notebooks(folder)
    if not paths:
        raise GradingError(f"{folder} holds no .ipynb notebooks to grade")
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    use_sandbox, note = sandbox_choice(sandboxed, options.get("kernel"))

    def one(path, context):
        try:
            g = grade(path, threads=threads, sandboxed=use_sandbox, context=context, **options)
            if note:
                g.notes = [n for n in g.notes if n != note] + [note]
            return g
        except GradingError as exc:
            return " ".join(str(exc).split())[:2000] or "could not be graded"
        except Exception as exc:  # a bug of the grader's: one row, never a traceback, never the whole batch
            return f"internal error of the grader while grading this file ({type(exc).__name__}: {exc})"[:2000]

    rows: list = [None] * len(paths)
    _serialise_ast_parsing()
    with Context(use_sandbox, options.get("timeout", DEFAULT_TIMEOUT), options.get("kernel"),
                 options.get("solutions_dir")) as context, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, p, context) for p in paths]
        try:
            for i, future in enumerate(futures):
                rows[i] = future.result()
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            sandbox.stop_all()
            rows = [r if r is not None else "not graded: the grading was interrupted" for r in rows]
            raise Interrupted(_rows(folder, paths, rows)) from None
    return _rows(folder, paths, rows)


class Interrupted(Exception):
    """Ctrl-C during a folder: the rows graded so far (the CSV is written with them)."""

    def __init__(self, rows):
        super().__init__("interrupted")
        self.rows = rows


def _rows(folder, paths, rows):
    return [(str(p.relative_to(folder).with_suffix("")), p, g) for p, g in zip(paths, rows)]


def csv_text(rows: list[tuple[str, Path, Grade | str]]) -> str:
    question_ids = sorted({q.id for _, _, g in rows if isinstance(g, Grade) for q in g.questions},
                          key=lambda q: (len(q), q))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", "file", "exercise", "score", "max_score", "percent", "passed", "error", "flags"]
                    + [c for q in question_ids for c in (q, f"{q}_status")])
    for learner, path, g in rows:
        if isinstance(g, Grade):
            by_id = {q.id: q for q in g.questions}
            per_q = [v for q in question_ids
                     for v in ((by_id[q].points, by_id[q].status) if q in by_id else ("", ""))]
            writer.writerow([learner, str(path), g.exercise, g.score, g.max_score, f"{g.percent:.1f}",
                             "yes" if g.passed else "no", "", "; ".join(f.text() for f in g.flags)] + per_q)
        else:
            writer.writerow([learner, str(path), "", 0, "", "", "no", g, ""] + [""] * (2 * len(question_ids)))
    return out.getvalue()


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- output ------------------------------------------------------------------------------------------------

# The status words as the table shows them, in the notebook's language (the CSV and JSON keep the keys).
STATUS_WORDS = {CORRECT: deferred("correct"), INCORRECT: deferred("incorrect"),
                NOT_ATTEMPTED: deferred("not attempted")}


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def padded(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def table(g: Grade) -> str:
    """The learner's table of one grading, in the notebook's language."""
    with speaking(g.language):
        statuses = {q.id: translate(STATUS_WORDS.get(q.status, q.status)) for q in g.questions}
        width = max(display_width(q.title) for q in g.questions)
        status_width = max(13, *(display_width(word) for word in statuses.values()))
        lines = [say("Exercise {exercise}: {title}", exercise=g.exercise, title=g.title), f"  {g.file}", "",
                 f"  {padded(say('question'), width + 4)}  {say('points'):>6}  "
                 f"{padded(say('status'), status_width)}  {say('message')}"]
        for q in g.questions:
            message = " ".join(plain(q.message).split())
            lines.append(f"  {q.id:<3} {padded(q.title, width)}  {f'{q.points}/{q.max_points}':>6}  "
                         f"{padded(statuses[q.id], status_width)}  {message}")
        lines.append("")
        lines.append(say("  total {score}/{max_score} ({percent:.0f}%): {verdict} (pass mark {mark:.0f}%); graded in "
                         "{seconds:.1f} s", score=g.score, max_score=g.max_score, percent=g.percent,
                         verdict=say("passed") if g.passed else say("NOT passed"), mark=100 * g.pass_mark,
                         seconds=g.seconds))
        wrong = [q.id for q in g.questions if q.status != CORRECT]
        if wrong:
            first = wrong[0]
            others = say(" (the same for {others})", others=", ".join(wrong[1:])) if len(wrong) > 1 else ""
            lines.append(say("  hints: run {q}.hint() ({q}.hint(2): a stronger one) in the notebook, {q}.solution() "
                             "for a model answer{others}", q=first, others=others))
        lines += [f"  note: {n}" for n in g.notes]
        lines += [f"  flag: {plain(f.text())}" for f in g.flags]
    return "\n".join(lines)
