"""The quizzes in the book's other languages: gettext catalogues beside the pages' catalogues.

The English JSON files stay the one source of the questions. Their texts (prompts, options, explanations, units)
are messages of one catalogue per quiz, ``locales/<lang>/LC_MESSAGES/quizzes/<name>.po``, and the words the quiz
itself writes ("Correct.", "Check", ...) are the messages of ``quizzes/ui.po``; they are made and updated with the
pages' catalogues (``make catalogues``, scripts/i18n.py) and translated the same way.

A text whose translation is missing or marked fuzzy is shown in English: a page is never blank, and the tests
(tests/test_translation.py) fail until every message is translated.

Reading a catalogue needs Babel (a dependency of Sphinx, so of the book build); English needs nothing.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from book.quiz.questions import ChoiceQuestion, Quiz

ENGLISH = "en"
UI_CATALOGUE = "ui"  # quizzes/ui.po: the words of book.quiz.page.UI_TEXT
# Texts with no letter in them ("0", "1", "2.5") read the same in every language: not messages.
_HAS_LETTER = re.compile(r"[^\W\d_]")


def locales_dir() -> Path:
    """The folder of the catalogues: ``$COURSE_LOCALES_DIR``, else ``locales/`` of the repository."""
    configured = os.environ.get("COURSE_LOCALES_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "locales"


def is_message(text: str) -> bool:
    return bool(_HAS_LETTER.search(text))


def quiz_messages(quiz: Quiz) -> list[str]:
    """Every text of ``quiz`` a reader sees, in order, each once: the msgids of its catalogue."""
    texts: list[str] = []
    for question in quiz.questions:
        texts.append(question.prompt)
        if isinstance(question, ChoiceQuestion):
            for option in question.options:
                texts += [option.text, option.explanation]
        else:
            texts.append(question.explanation)
            if question.unit:
                texts.append(question.unit)
            texts += [mistake.explanation for mistake in question.mistakes]
    return [text for text in dict.fromkeys(texts) if is_message(text)]


def ui_messages() -> list[str]:
    from book.quiz.page import UI_TEXT
    return [text for text in dict.fromkeys(UI_TEXT.values()) if is_message(text)]


def normalise_language(language: str | None) -> str:
    """'zh_CN' for 'zh_CN', 'zh-CN' or 'zh-cn'; 'en' for None, '' and any English."""
    if not language:
        return ENGLISH
    if not isinstance(language, str) or not re.fullmatch(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?", language):
        raise ValueError(f"expected a language code such as 'zh_CN' (or None for English), got {language!r}")
    head, _, tail = language.replace("-", "_").partition("_")
    head = head.lower()
    return ENGLISH if head == "en" else (f"{head}_{tail.upper()}" if tail else head)


@functools.lru_cache(maxsize=64)
def _read(path: Path, mtime_ns: int) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with open(path, "rb") as handle:
        catalogue = read_po(handle)
    return {message.id: message.string for message in catalogue
            if message.id and isinstance(message.id, str) and message.string and not message.fuzzy}


def catalogue(name: str, language: str | None, root: Path | None = None) -> dict[str, str]:
    """The translated, non-fuzzy messages of ``quizzes/<name>.po`` for ``language`` ({} for English).

    A language with no catalogue folder at all is an error (a typo, or a language the book does not have); a
    missing catalogue for one quiz is not (a quiz written after the last catalogue update shows in English).
    """
    language = normalise_language(language)
    if language == ENGLISH:
        return {}
    root = Path(root) if root is not None else locales_dir()
    folder = root / language / "LC_MESSAGES"
    if not folder.is_dir():
        have = sorted(p.name for p in root.iterdir() if (p / "LC_MESSAGES").is_dir()) if root.is_dir() else []
        raise ValueError(f"no catalogues for language {language!r} under {root} (languages there: {have}); "
                         "run `make catalogues` after adding the language to scripts/i18n.py")
    path = folder / "quizzes" / f"{name}.po"
    if not path.is_file():
        return {}
    return _read(path, path.stat().st_mtime_ns)


class Translator:
    """``translator(text)``: the text in ``language`` where its catalogue has it, else the English text."""

    def __init__(self, quiz_name: str, language: str | None, root: Path | None = None):
        self.language = normalise_language(language)
        self._quiz = catalogue(quiz_name, self.language, root)
        self._ui = catalogue(UI_CATALOGUE, self.language, root)

    @property
    def html_lang(self) -> str:
        """The language as HTML's lang attribute writes it: 'zh-CN'."""
        return self.language.replace("_", "-")

    def __call__(self, text: str) -> str:
        return self._quiz.get(text) or self._ui.get(text) or text
