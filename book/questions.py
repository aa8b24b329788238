"""Exercise questions the learntools way: ``q1.check(answer)``, ``q1.hint()``, ``q1.solution()``.

    >>> from book.checks.ex01_softmax import q1
    >>> q1.check(softmax)        # prints "q1: correct ...", or stops with "q1: incorrect - <why>" / "not attempted"
    >>> q1.hint()                # the first hint; q1.hint(2) a stronger one
    >>> q1.solution()            # the model answer

A :class:`Question` holds an id, a title, its points, tiered hints and a *checker*: a function that receives the
learner's answer(s), returns quietly (optionally with a short note) when they are right, and raises
:class:`Incorrect` with a specific message -- which shape was wrong, on which input it overflowed -- when they are
not. The checker never reveals the answer itself.

``check`` prints a correct verdict and **raises** :class:`CheckFailed` for *incorrect* and *not attempted*, so
that a notebook run by ``pytest --nbval-lax`` fails exactly on the questions that are not right. In Jupyter the
exception shows as its message only, without a traceback.

When a class is graded (:mod:`grader`), a question declared with ``cases=`` is judged outside the learner's
kernel: in the graded notebook ``q1.check(softmax)`` only calls the learner's code on the grader's fresh inputs
and records what came back, and the grader runs the checker on that record in its own process (see
:mod:`book.protocol`, which also says how to convert a checker). A question without ``cases=`` is still judged
in the kernel: its verdict is appended to the file named by ``COURSE_GRADING_RESULTS`` as one JSON line, and the
grader marks such verdicts as decided inside the sandbox.

In Jupyter, running a check cell before its answer cell says which cell to run first instead of showing a bare
``NameError`` traceback; verdicts are printed as plain text (the Markdown backticks of the messages removed).
"""

from __future__ import annotations

import json
import os
import re
import reprlib
import sys
from dataclasses import dataclass

from book.language import say, translate

CORRECT, INCORRECT, NOT_ATTEMPTED = "correct", "incorrect", "not attempted"
RESULTS_ENV = "COURSE_GRADING_RESULTS"
STUB_MESSAGE = "write your answer here"


CATALOG_PACKAGE, CATALOG_NAME = "book.checks", "catalog.json"
CATALOG_FILE = "book/checks/catalog.json"


class CatalogMissing(LookupError):
    """The exercise catalogue is not where the package keeps it: the grader's sandbox does not ship it."""


def exercise_catalog() -> dict:
    """The exercises' titles, pass marks and questions (id, title, points, model answer), by exercise id: the data
    file ``book/checks/catalog.json`` that ``python -m grader.make_exercises`` writes from the solutions notebooks
    and the checks modules. Raises :class:`CatalogMissing` where it is absent (the grader's sandbox)."""
    from importlib import resources

    try:
        text = resources.files(CATALOG_PACKAGE).joinpath(CATALOG_NAME).read_text(encoding="utf-8")
    except (ImportError, OSError) as exc:
        raise CatalogMissing(f"{CATALOG_FILE} cannot be read here ({type(exc).__name__}): run `python -m "
                             "grader.make_exercises` in the repository to write it") from None
    return json.loads(text)["exercises"]


class Incorrect(Exception):
    """Raised by a checker: the answer is wrong, and the message says specifically how (without the answer)."""


class NotAttempted(Exception):
    """Raised by a checker: the answer is still the stub of the learner notebook."""


def callable_answer(fn, name: str) -> None:
    """``fn`` must be callable: else the answer is wrong, and the message says what it is instead."""
    if not callable(fn):
        raise Incorrect(say("`{name}` should be a function, but it is {kind} {value}", name=name,
                            kind=type(fn).__name__, value=reprlib.repr(fn)))


def call(fn, *args, name: str, on: str | None = None, **kwargs):
    """``fn(*args, **kwargs)``; a stub's NotImplementedError means *not attempted*, any other error is reported
    with the input it happened on. KeyboardInterrupt (the grader's timeout) is never caught.

    Here, not among the checkers' helpers, because the drivers that run in the grader's sandbox call the
    learner's code too, and the sandbox does not show the checkers (book/checks/)."""
    callable_answer(fn, name)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        if STUB_MESSAGE in str(exc):
            raise NotAttempted(say("`{name}` still raises NotImplementedError.", name=name)) from None
        raise NotAttempted(say("`{name}` still raises NotImplementedError ({error}).", name=name,
                               error=exc)) from None
    except (Incorrect, NotAttempted):
        raise
    except Exception as exc:
        if on:
            raise Incorrect(say("`{name}` on {on} raised {error}: {message}", name=name, on=on,
                                error=type(exc).__name__, message=exc)) from None
        raise Incorrect(say("`{name}` raised {error}: {message}", name=name, error=type(exc).__name__,
                            message=exc)) from None


def plain(text: str) -> str:
    """A message without its Markdown code marks (`softmax` -> softmax), for plain-text output."""
    return re.sub(r"`([^`\n]*)`", r"\1", text)


def grading_records() -> str | None:
    """The folder where check cells record answers when the grader runs the notebook (else None)."""
    from book.protocol import RECORDS_ENV

    return os.environ.get(RECORDS_ENV) or None


class CheckFailed(Exception):
    """Raised by :meth:`Question.check` when the verdict is not *correct*; Jupyter shows only the message."""

    def __init__(self, verdict: "Verdict"):
        super().__init__(verdict.text())
        self.verdict = verdict

    def _render_traceback_(self) -> list[str]:  # IPython calls this instead of printing a traceback
        red, reset = "\x1b[31m", "\x1b[0m"
        return [red + line + reset for line in str(self).splitlines()]


class Blank:
    """The placeholder ``____`` of value answers: any use of it raises NotImplementedError (not attempted)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "____"

    def _unfilled(self, *args, **kwargs):
        raise NotImplementedError("replace ____ with your answer")

    __call__ = __bool__ = __index__ = __int__ = __float__ = __iter__ = __len__ = __getitem__ = _unfilled
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _unfilled
    __pow__ = __rpow__ = __neg__ = __lt__ = __le__ = __gt__ = __ge__ = __matmul__ = __rmatmul__ = _unfilled


____ = Blank()


@dataclass(frozen=True)
class Verdict:
    question: str
    status: str  # CORRECT, INCORRECT or NOT_ATTEMPTED
    message: str
    points: int
    max_points: int

    def text(self) -> str:
        """The verdict as the learner reads it, in the current language (:mod:`book.language`)."""
        fields = {"question": self.question, "points": self.points, "message": plain(self.message)}
        if self.status == CORRECT:
            if self.points == 1:
                return (say("{question}: correct ({points} point). {message}", **fields) if fields["message"] else
                        say("{question}: correct ({points} point).", **fields))
            return (say("{question}: correct ({points} points). {message}", **fields) if fields["message"] else
                    say("{question}: correct ({points} points).", **fields))
        if self.status == NOT_ATTEMPTED:
            return say("{question}: not attempted. {message}\nWrite your answer in the answer cell above, run it, "
                       "then run this cell again.", **fields)
        return say("{question}: incorrect - {message}\nStuck? {question}.hint() gives a hint, "
                   "{question}.solution() the answer.", **fields)


class Question:
    """One question of an exercise: ``check`` the learner's answer, give ``hint`` s, show the ``solution``.

    ``checker(*answers)`` returns None or a short note (e.g. the accuracy reached) for a right answer and raises
    :class:`Incorrect` (or :class:`NotAttempted`) otherwise. It runs with the random number generators forked,
    so a check is deterministic (checkers seed what they draw) and leaves the learner's RNG state alone.

    With ``cases=`` (a function of a ``torch.Generator`` returning :class:`book.protocol.Case` objects) the
    checker is ``checker(*answers, cases)`` and only ever calls the learner's code on those cases: then the
    grader can judge it outside the learner's process (:mod:`book.protocol`). ``forbidden`` names the PyTorch
    functions the question rules out (the recording side watches for them by any route).
    """

    def __init__(self, exercise: str, qid: str, title: str, points: int, checker, hints: list[str], cases=None,
                 forbidden=()):
        if not isinstance(points, int) or points < 1:
            raise ValueError(f"{exercise} {qid}: points must be a positive integer, got {points!r}")
        if not hints:
            raise ValueError(f"{exercise} {qid}: give at least one hint")
        if cases is not None and not callable(cases):
            raise ValueError(f"{exercise} {qid}: cases must be a function of a torch.Generator")
        self.exercise, self.id, self.title, self.points = exercise, qid, title, points
        self.checker, self.hints = checker, list(hints)
        self.cases, self.forbidden = cases, frozenset(forbidden)

    @property
    def shown_title(self) -> str:
        """The title in the current language (:attr:`title` is the English one, the catalogue's)."""
        return translate(self.title)

    def shown_hints(self) -> list[str]:
        """The hints in the current language, gentlest first."""
        return [translate(hint) for hint in self.hints]

    @property
    def judged_outside(self) -> bool:
        """True when the grader can judge this question outside the learner's process (it has ``cases``)."""
        return self.cases is not None

    def planned_cases(self, generator=None) -> list:
        """The inputs of the check: drawn with ``generator`` (the grader's), or with the fixed self-study seed."""
        import torch

        from book.protocol import SELF_STUDY_SEED

        return list(self.cases(generator if generator is not None else
                               torch.Generator().manual_seed(SELF_STUDY_SEED)))

    def __repr__(self) -> str:
        return say("<{exercise} {question}: {title} ({points} points); {question}.check(...), {question}.hint(), "
                   "{question}.solution()>", exercise=self.exercise, question=self.id, title=self.shown_title,
                   points=self.points)

    def evaluate(self, *answers, cases=None) -> Verdict:
        """The verdict on ``answers``, without printing or raising (``check`` does both). ``cases``: the planned
        inputs (the grader's, when it judges a record); by default those of the self-study seed."""
        import torch

        from book.plain_data import NoRecord, PayloadError
        from book.protocol import ProtocolError

        def verdict(status, message=""):
            return Verdict(self.id, status, message, self.points if status == CORRECT else 0, self.points)

        if any(isinstance(a, Blank) for a in answers):
            return verdict(NOT_ATTEMPTED, say("Replace ____ with your answer."))
        try:
            with torch.random.fork_rng(devices=[]):
                if self.cases is not None:
                    note = self.checker(*answers, cases if cases is not None else self.planned_cases())
                else:
                    note = self.checker(*answers)
        except ProtocolError:
            raise  # a bug in the checker, not the learner's doing
        except NoRecord as exc:
            return verdict(INCORRECT, say("the check did not record what your code returned ({error}); did the "
                                          "check cell run to the end?", error=exc))
        except PayloadError as exc:
            return verdict(INCORRECT, say("what the check recorded cannot be used ({error})", error=exc))
        except NotAttempted as exc:
            return verdict(NOT_ATTEMPTED, str(exc))
        except NotImplementedError:  # a stub of the learner notebook, reached outside the checker's guards
            return verdict(NOT_ATTEMPTED, say("Your answer still raises NotImplementedError."))
        except Incorrect as exc:
            return verdict(INCORRECT, str(exc))
        except Exception as exc:  # the learner's code failed inside the checker; KeyboardInterrupt passes through
            return verdict(INCORRECT, say("your code raised {error}: {message}", error=type(exc).__name__,
                                          message=exc))
        return verdict(CORRECT, note or "")

    def check(self, *answers) -> None:
        """Print the verdict when it is *correct*; otherwise raise CheckFailed with the reason. When the grader
        runs the notebook, a question with ``cases`` records the answer's outputs instead (the grader judges)."""
        if grading_records() and self.cases is not None:
            from book.protocol import record as record_outputs

            record_outputs(self, answers)
            print(say("{question}: your answer's outputs were recorded; the grader checks them", question=self.id))
            return
        verdict = self.evaluate(*answers)
        record(self.exercise, verdict)
        if verdict.status != CORRECT:
            raise CheckFailed(verdict)
        print(verdict.text())

    def hint(self, level: int = 1) -> None:
        """Print hint number ``level`` (1 = gentlest); the last hint comes closest to the answer."""
        if not isinstance(level, int) or level < 1:
            raise ValueError(say("level is 1, 2, ... (up to {n}), got {level!r}", n=len(self.hints), level=level))
        n = len(self.hints)
        shown = min(level, n)
        text = say("{question}, hint {shown} of {n}: {hint}", question=self.id, shown=shown, n=n,
                   hint=translate(self.hints[shown - 1]))
        if shown < n:
            text += say("\n(A stronger hint: {question}.hint({next}).)", question=self.id, next=shown + 1)
        elif level > n:
            text += say("\n(There are only {n} hints; {question}.solution() shows the answer.)", n=n,
                        question=self.id)
        print(text)

    def solution(self) -> None:
        """Print the model answer (the code of the solution notebook's answer cell)."""
        try:
            exercise = exercise_catalog()[self.exercise]
        except CatalogMissing:  # the grader's sandbox holds no model answers
            print(say("{question}.solution() is not available while the grader runs this notebook.",
                      question=self.id))
            return
        except KeyError:
            exercise = {"questions": []}
        code = next((q["solution"] for q in exercise["questions"] if q["id"] == self.id), None)
        if code is None:
            raise LookupError(f"no solution recorded for {self.exercise} {self.id}: run `python -m "
                              f"grader.make_exercises` to regenerate {CATALOG_FILE}")
        print(say("Solution to {question} ({title}):\n\n{code}", question=self.id, title=self.shown_title,
                  code=code))


def record(exercise: str, verdict: Verdict) -> None:
    """Append the verdict to the grader's results file, when the grader set one (see the module docstring)."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    line = json.dumps({"exercise": exercise, "question": verdict.question, "status": verdict.status,
                       "message": verdict.message, "points": verdict.points})
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


# --- Jupyter: a check cell run before its answer cell -------------------------------------------------------

CHECK_CELL = re.compile(r"^\s*(q\d+)\.check\(")


def _cell_source(tb) -> str:
    """The source of the cell the innermost frame of ``tb`` belongs to (IPython keeps each cell's code in
    linecache under the cell's own file name), or ''."""
    import linecache

    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    filename = tb.tb_frame.f_code.co_filename
    return "" if filename.endswith(".py") else "".join(linecache.getlines(filename))


def _name_error_hint(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for NameError: in a check cell, say which cell to run first; elsewhere, as usual."""
    try:
        source = _cell_source(tb)
    except Exception:
        source = ""
    match = CHECK_CELL.match(source or "")
    if not match or not isinstance(value, NameError):
        return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    q, name = match.group(1), getattr(value, "name", None) or say("the answer")
    text = say("{question}: `{name}` is not defined yet. Run the answer cell above (the one that defines "
               "`{name}`) first, then this cell again.", question=q, name=name)
    hint = type("NameError", (NameError,), {"_render_traceback_": lambda self: ["\x1b[31m" + plain(text) +
                                                                               "\x1b[0m"]})(plain(text))
    return shell.showtraceback((type(hint), hint, None))


def _install_name_error_hint() -> None:
    if "IPython" not in sys.modules:  # not in a kernel: nothing to do (and no need to import IPython)
        return
    shell = sys.modules["IPython"].get_ipython()
    if shell is not None and hasattr(shell, "set_custom_exc") and not getattr(shell, "_course_name_hint", False):
        shell.set_custom_exc((NameError,), _name_error_hint)
        shell._course_name_hint = True


_install_name_error_hint()
