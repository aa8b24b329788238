"""A chapter's quiz as data: questions read from JSON, checked before anything is shown.

A quiz file (``chapters/quizzes/<chapter>.json``) holds 3 to 6 questions of two kinds::

    {"questions": [
      {"id": "sum", "kind": "choice", "prompt": "What do the outputs of softmax sum to?",
       "options": [
         {"text": "0", "correct": false, "explanation": "Why 0 is wrong ..."},
         {"text": "1", "correct": true, "explanation": "Why 1 is right ..."}]},
      {"id": "p0", "kind": "number", "prompt": "softmax((2, 1, 0)) ... the first probability?",
       "answer": 0.665, "tolerance": 0.005, "explanation": "How to get it ...",
       "mistakes": [{"answer": 0.5, "tolerance": 0.005, "explanation": "What this wrong answer means ..."}]}]}

Multiple choice: 2 to 6 options, exactly one correct, and an explanation for every option (the wrong ones say
why they are wrong). Numbers: an answer with a tolerance > 0, an explanation, and optional explanations of
common wrong answers. Text is plain, with `code` in backticks and **bold**; math is written in Unicode
(ŷ, Σ, ≤, ×), never TeX, so that it reads the same where no MathJax runs (Colab, a terminal).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

MIN_QUESTIONS, MAX_QUESTIONS = 3, 6
MIN_OPTIONS, MAX_OPTIONS = 2, 6
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# TeX would show as raw source outside the book (Colab, a terminal) and is not typeset inside HTML outputs.
TEX_PATTERN = re.compile(r"\$|\\\(|\\\[|\\[A-Za-z]+\{?")


class QuizError(ValueError):
    """A quiz file that cannot be shown as it is; the message names the file, the question and the fix."""


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool
    explanation: str


@dataclass(frozen=True)
class Mistake:
    """A wrong numeric answer common enough to deserve its own explanation."""
    answer: float
    tolerance: float
    explanation: str

    def matches(self, value: float) -> bool:
        return abs(value - self.answer) <= self.tolerance


@dataclass(frozen=True)
class ChoiceQuestion:
    id: str
    prompt: str
    options: tuple[Option, ...]
    kind = "choice"

    @property
    def correct_index(self) -> int:
        return next(i for i, option in enumerate(self.options) if option.correct)


@dataclass(frozen=True)
class NumberQuestion:
    id: str
    prompt: str
    answer: float
    tolerance: float
    explanation: str
    unit: str = ""
    mistakes: tuple[Mistake, ...] = ()
    kind = "number"

    def is_correct(self, value: float) -> bool:
        return abs(value - self.answer) <= self.tolerance


Question = ChoiceQuestion | NumberQuestion


@dataclass(frozen=True)
class Quiz:
    """The questions of one chapter, in order; ``name`` is the chapter's file stem ("02_softmax")."""
    name: str
    questions: tuple[Question, ...]

    def __str__(self) -> str:
        """The questions as plain text, without the answers (what a terminal shows)."""
        lines = [f"Check yourself ({self.name}): {len(self.questions)} questions"]
        for number, question in enumerate(self.questions, 1):
            lines.append(f"{number}. {question.prompt}")
            if isinstance(question, ChoiceQuestion):
                lines += [f"   {'abcdef'[i]}) {option.text}" for i, option in enumerate(question.options)]
            else:
                lines.append("   (a number" + (f", in {question.unit})" if question.unit else ")"))
        return "\n".join(lines)


# --- reading and checking ------------------------------------------------------------------------------------

def _fail(where: str, problem: str) -> QuizError:
    return QuizError(f"{where}: {problem}")


def _text(value, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"'{field}' must be a non-empty string, got {value!r}")
    if TEX_PATTERN.search(value):
        raise _fail(where, f"'{field}' contains TeX ({TEX_PATTERN.search(value).group()!r} in {value[:60]!r}); "
                           "write math in Unicode (ŷ, Σ, ≤, ×, ²) or as `code`, which reads the same everywhere")
    if value.count("`") % 2:
        raise _fail(where, f"'{field}' has an unmatched backtick: {value[:60]!r}")
    return value.strip()


def _number(value, where: str, field: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"'{field}' must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise _fail(where, f"'{field}' must be > 0 (how far from the answer still counts as right), got {value!r}")
    return float(value)


def _keys(item, where: str, required: set[str], optional: set[str] = frozenset()) -> dict:
    if not isinstance(item, dict):
        raise _fail(where, f"expected a JSON object, got {type(item).__name__}")
    missing, unknown = required - item.keys(), item.keys() - required - optional
    if missing:
        raise _fail(where, f"missing {sorted(missing)}")
    if unknown:
        raise _fail(where, f"unknown keys {sorted(unknown)} (allowed: {sorted(required | optional)})")
    return item


def _choice(item: dict, where: str) -> ChoiceQuestion:
    _keys(item, where, {"id", "kind", "prompt", "options"})
    raw = item["options"]
    if not isinstance(raw, list) or not MIN_OPTIONS <= len(raw) <= MAX_OPTIONS:
        raise _fail(where, f"'options' must be a list of {MIN_OPTIONS} to {MAX_OPTIONS} options")
    options = []
    for i, option in enumerate(raw):
        at = f"{where}, option {i + 1}"
        _keys(option, at, {"text", "correct", "explanation"})
        if not isinstance(option["correct"], bool):
            raise _fail(at, f"'correct' must be true or false, got {option['correct']!r}")
        options.append(Option(_text(option["text"], at, "text"), option["correct"],
                              _text(option["explanation"], at, "explanation")))
    right = sum(option.correct for option in options)
    if right != 1:
        raise _fail(where, f"exactly one option must be correct, {right} are; a question with several right "
                           "answers is two questions")
    texts = [option.text for option in options]
    if len(set(texts)) != len(texts):
        raise _fail(where, f"two options read the same: {texts}")
    return ChoiceQuestion(item["id"], _text(item["prompt"], where, "prompt"), tuple(options))


def _number_question(item: dict, where: str) -> NumberQuestion:
    _keys(item, where, {"id", "kind", "prompt", "answer", "tolerance", "explanation"}, {"unit", "mistakes"})
    answer = _number(item["answer"], where, "answer")
    tolerance = _number(item["tolerance"], where, "tolerance", positive=True)
    unit = item.get("unit", "")
    if not isinstance(unit, str):
        raise _fail(where, f"'unit' must be a string, got {unit!r}")
    mistakes = []
    raw = item.get("mistakes", [])
    if not isinstance(raw, list):
        raise _fail(where, "'mistakes' must be a list of {answer, tolerance, explanation}")
    for i, mistake in enumerate(raw):
        at = f"{where}, mistake {i + 1}"
        _keys(mistake, at, {"answer", "tolerance", "explanation"})
        m = Mistake(_number(mistake["answer"], at, "answer"), _number(mistake["tolerance"], at, "tolerance", True),
                    _text(mistake["explanation"], at, "explanation"))
        if abs(m.answer - answer) <= m.tolerance + tolerance:
            raise _fail(at, f"{m.answer} ± {m.tolerance} overlaps the right answer {answer} ± {tolerance}")
        mistakes.append(m)
    return NumberQuestion(item["id"], _text(item["prompt"], where, "prompt"), answer, tolerance,
                          _text(item["explanation"], where, "explanation"), unit.strip(), tuple(mistakes))


KINDS = {"choice": _choice, "number": _number_question}


def parse_quiz(data, name: str) -> Quiz:
    """A checked Quiz from the decoded JSON of a quiz file; QuizError names what is wrong and where."""
    _keys(data, name, {"questions"})
    raw = data["questions"]
    if not isinstance(raw, list) or not MIN_QUESTIONS <= len(raw) <= MAX_QUESTIONS:
        count = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise _fail(name, f"a quiz has {MIN_QUESTIONS} to {MAX_QUESTIONS} questions, this one {count}")
    questions, ids = [], set()
    for i, item in enumerate(raw):
        where = f"{name}, question {i + 1}"
        if not isinstance(item, dict):
            raise _fail(where, f"expected a JSON object, got {type(item).__name__}")
        qid = item.get("id")
        if not isinstance(qid, str) or not ID_PATTERN.match(qid):
            raise _fail(where, f"'id' must be a short lower-case slug such as 'sum-to-one', got {qid!r}")
        if qid in ids:
            raise _fail(where, f"id {qid!r} is used twice")
        ids.add(qid)
        where = f"{name}, question {i + 1} ({qid})"
        kind = item.get("kind")
        if kind not in KINDS:
            raise _fail(where, f"'kind' must be one of {sorted(KINDS)}, got {kind!r}")
        questions.append(KINDS[kind](item, where))
    return Quiz(name, tuple(questions))


def read_quiz(path: Path) -> Quiz:
    """The quiz in a JSON file, named after the file's stem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise QuizError(f"{path}: not valid JSON: {error}") from None
    return parse_quiz(data, path.stem)
