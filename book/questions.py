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

When the environment variable ``COURSE_GRADING_RESULTS`` names a file (the grader, :mod:`book.grade`, sets it),
every verdict is also appended to that file as one JSON line. The grader trusts a line only if it was written
while the question's own (restored) check cell ran *and* nbval saw that cell pass.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

CORRECT, INCORRECT, NOT_ATTEMPTED = "correct", "incorrect", "not attempted"
RESULTS_ENV = "COURSE_GRADING_RESULTS"
STUB_MESSAGE = "write your answer here"


class Incorrect(Exception):
    """Raised by a checker: the answer is wrong, and the message says specifically how (without the answer)."""


class NotAttempted(Exception):
    """Raised by a checker: the answer is still the stub of the learner notebook."""


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
        if self.status == CORRECT:
            head = f"{self.question}: correct ({self.points} point{'s' if self.points != 1 else ''})"
            return head + (f". {self.message}" if self.message else ".")
        if self.status == NOT_ATTEMPTED:
            return (f"{self.question}: not attempted. {self.message}\n"
                    f"Write your answer in the answer cell above, run it, then run this cell again.")
        return (f"{self.question}: incorrect - {self.message}\n"
                f"Stuck? {self.question}.hint() gives a hint, {self.question}.solution() the answer.")


class Question:
    """One question of an exercise: ``check`` the learner's answer, give ``hint`` s, show the ``solution``.

    ``checker(*answers)`` returns None or a short note (e.g. the accuracy reached) for a right answer and raises
    :class:`Incorrect` (or :class:`NotAttempted`) otherwise. It runs with the random number generators forked,
    so a check is deterministic (checkers seed what they draw) and leaves the learner's RNG state alone.
    """

    def __init__(self, exercise: str, qid: str, title: str, points: int, checker, hints: list[str]):
        if not isinstance(points, int) or points < 1:
            raise ValueError(f"{exercise} {qid}: points must be a positive integer, got {points!r}")
        if not hints:
            raise ValueError(f"{exercise} {qid}: give at least one hint")
        self.exercise, self.id, self.title, self.points = exercise, qid, title, points
        self.checker, self.hints = checker, list(hints)

    def __repr__(self) -> str:
        return (f"<{self.exercise} {self.id}: {self.title} ({self.points} points); "
                f"{self.id}.check(...), {self.id}.hint(), {self.id}.solution()>")

    def evaluate(self, *answers) -> Verdict:
        """The verdict on ``answers``, without printing or raising (``check`` does both)."""
        import torch

        def verdict(status, message=""):
            return Verdict(self.id, status, message, self.points if status == CORRECT else 0, self.points)

        if any(isinstance(a, Blank) for a in answers):
            return verdict(NOT_ATTEMPTED, "Replace ____ with your answer.")
        try:
            with torch.random.fork_rng(devices=[]):
                note = self.checker(*answers)
        except NotAttempted as exc:
            return verdict(NOT_ATTEMPTED, str(exc))
        except NotImplementedError:  # a stub of the learner notebook, reached outside the checker's guards
            return verdict(NOT_ATTEMPTED, "Your answer still raises NotImplementedError.")
        except Incorrect as exc:
            return verdict(INCORRECT, str(exc))
        except Exception as exc:  # the learner's code failed inside the checker; KeyboardInterrupt passes through
            return verdict(INCORRECT, f"your code raised {type(exc).__name__}: {exc}")
        return verdict(CORRECT, note or "")

    def check(self, *answers) -> None:
        """Print the verdict when it is *correct*; otherwise raise CheckFailed with the reason."""
        verdict = self.evaluate(*answers)
        record(self.exercise, verdict)
        if verdict.status != CORRECT:
            raise CheckFailed(verdict)
        print(verdict.text())

    def hint(self, level: int = 1) -> None:
        """Print hint number ``level`` (1 = gentlest); the last hint comes closest to the answer."""
        if not isinstance(level, int) or level < 1:
            raise ValueError(f"level is 1, 2, ... (up to {len(self.hints)}), got {level!r}")
        n = len(self.hints)
        shown = min(level, n)
        text = f"{self.id}, hint {shown} of {n}: {self.hints[shown - 1]}"
        if shown < n:
            text += f"\n(A stronger hint: {self.id}.hint({shown + 1}).)"
        elif level > n:
            text += f"\n(There are only {n} hints; {self.id}.solution() shows the answer.)"
        print(text)

    def solution(self) -> None:
        """Print the model answer (the code of the solution notebook's answer cell)."""
        from book.checks import catalog

        try:
            code = next(q["solution"] for q in catalog.EXERCISES[self.exercise]["questions"] if q["id"] == self.id)
        except (KeyError, StopIteration):
            raise LookupError(f"no solution recorded for {self.exercise} {self.id}: "
                              "run `python -m book.make_exercises` to regenerate book/checks/catalog.py") from None
        print(f"Solution to {self.id} ({self.title}):\n\n{code}")


def record(exercise: str, verdict: Verdict) -> None:
    """Append the verdict to the grader's results file, when the grader set one (see the module docstring)."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    line = json.dumps({"exercise": exercise, "question": verdict.question, "status": verdict.status,
                       "message": verdict.message, "points": verdict.points})
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
