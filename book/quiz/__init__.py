"""Check yourself: the quiz at the end of each chapter, answered and explained in the page.

    from book.quiz import show_quiz
    show_quiz("02_softmax")

The questions are data, one JSON file per chapter beside the chapters (``chapters/quizzes/02_softmax.json``),
installed with the package as ``book.quizzes`` (see ``questions.py`` for the format and its checks). The quiz is
shown as one HTML output whose answers are checked by a small script in the page (``page.py``, ``quiz.js``): it
works in the static book with no kernel and no network, in JupyterLab and in Colab.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from book.quiz.page import quiz_html, standalone_page
from book.quiz.questions import (ChoiceQuestion, Mistake, NumberQuestion, Option, Quiz, QuizError, parse_quiz,
                                 read_quiz)

__all__ = ["ChoiceQuestion", "Mistake", "NumberQuestion", "Option", "Quiz", "QuizError", "load_quiz",
           "parse_quiz", "quiz_html", "quiz_names", "read_quiz", "show_quiz", "standalone_page"]


def _folder():
    try:
        return resources.files("book.quizzes")
    except ModuleNotFoundError:
        raise QuizError("the quiz files (package data book.quizzes, from chapters/quizzes/) are not installed: "
                        "reinstall the course package, e.g. `pip install -e .` in the repository") from None


def quiz_names() -> list[str]:
    """The chapters that have a quiz, by file stem, sorted."""
    return sorted(entry.name[:-5] for entry in _folder().iterdir() if entry.name.endswith(".json"))


def load_quiz(name: str | Path) -> Quiz:
    """The checked quiz of chapter ``name`` ("02_softmax"), or of a JSON file when given a path."""
    if isinstance(name, Path) or str(name).endswith(".json"):
        return read_quiz(Path(name))
    if not isinstance(name, str) or not name:
        raise QuizError(f"expected a chapter name such as '02_softmax', got {name!r}")
    entry = _folder().joinpath(f"{name}.json")
    if not entry.is_file():
        raise QuizError(f"no quiz for {name!r}; the chapters with a quiz are {quiz_names()}")
    with resources.as_file(entry) as path:
        return read_quiz(path)


class QuizOutput:
    """What a notebook shows: the quiz as HTML in Jupyter, the book and Colab; its questions as text elsewhere."""

    def __init__(self, quiz: Quiz, language: str | None = None):
        self.quiz = quiz
        self.language = language

    def _repr_html_(self) -> str:
        return quiz_html(self.quiz, language=self.language)

    def __repr__(self) -> str:
        return str(self.quiz)


def show_quiz(name: str | Path, language: str | None = None) -> None:
    """Display the quiz of chapter ``name`` below the current cell (printed as text outside IPython).

    ``language="zh_CN"`` shows it in Chinese (from the catalogues under locales/, see translations.py). The
    book's Chinese edition needs no argument: its build renders every quiz in the page's language.
    """
    output = QuizOutput(load_quiz(name), language)
    try:
        from IPython.display import display
    except ImportError:
        print(output)
        return
    display(output)
