"""The learner's language: what the exercise checks say their verdicts, messages, titles and hints in, and what
the figures (book/figure_language.py) and the training monitor are drawn in.

    >>> from book.language import set_language, say
    >>> set_language("zh_CN")          # this kernel speaks Chinese from now on (or BOOK_LANGUAGE=zh_CN)
    >>> say("on {on}, `{name}` returned shape {got}, expected {shape}", on="[1, 2]", name="softmax", got=(3,),
    ...     shape=(2,))
    '在 [1, 2] 上，`softmax` 返回的形状是 (3,)，应为 (2,)'

The choice, most specific first: :func:`speaking` (a context manager for the code that judges several notebooks
at once in threads: each thread, each context, its own language), then :func:`set_language` (the whole
process, e.g. a learner's kernel), then the environment variable ``BOOK_LANGUAGE``, then English.

Every sentence a learner reads from the checks is an English *template* with named fields, looked up in the
table of the language (``book/checks/messages.<language>.json``: English template -> translated template with
the same fields) and formatted after the lookup: ``say(template, **fields)``. Values -- numbers, shapes, names,
code -- are fields, so they are never translated. Texts with no fields that may contain braces (hints, titles)
are looked up with :func:`translate`, which does not format. A template missing from the table comes out in
English (``tests/test_check_messages.py`` keeps the table complete).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
from importlib import resources

LANGUAGES = ("en", "zh_CN")  # English, as the checks are written, and the translations
ENV = "BOOK_LANGUAGE"  # the language a learner's kernel speaks, when set_language was not called
TABLE_PACKAGE = "book.checks"


def table_name(language: str) -> str:
    return f"messages.{language}.json"


_process_choice: str | None = None  # set_language()
_context_choice: contextvars.ContextVar[str | None] = contextvars.ContextVar("book_language", default=None)


def check_language(language, where: str = "the language") -> str:
    """``language`` itself when it is one of :data:`LANGUAGES`; else ValueError naming the allowed ones."""
    if language not in LANGUAGES:
        raise ValueError(f"{where} is {language!r}; the course speaks {', '.join(map(repr, LANGUAGES))}: "
                         "choose one of them")
    return language


def set_language(language: str | None) -> None:
    """Speak ``language`` (one of :data:`LANGUAGES`) from now on in this process; ``None``: as ``BOOK_LANGUAGE``
    says (English when it is not set)."""
    global _process_choice
    _process_choice = None if language is None else check_language(language)


def chosen_language() -> str | None:
    """The language chosen by :func:`speaking`, :func:`set_language` or ``BOOK_LANGUAGE``; None when none was."""
    chosen = _context_choice.get() or _process_choice
    if chosen is not None:
        return chosen
    from_env = os.environ.get(ENV, "").strip()
    return check_language(from_env, f"the environment variable {ENV}") if from_env else None


def current() -> str:
    """The language spoken here and now: :func:`speaking`, else :func:`set_language`, else ``BOOK_LANGUAGE``,
    else English."""
    return chosen_language() or "en"


@contextlib.contextmanager
def speaking(language: str):
    """Inside the block, in this thread (this context) only, speak ``language``; other threads are unaffected.
    A thread started inside the block does not inherit it (Python gives a new thread a fresh context)."""
    token = _context_choice.set(check_language(language))
    try:
        yield language
    finally:
        _context_choice.reset(token)


@functools.cache
def table(language: str) -> dict[str, str]:
    """English template -> template in ``language``; empty for English, and where the package data cannot be
    read (a sandbox that ships modules only): then the checks speak English."""
    if check_language(language) == "en":
        return {}
    try:
        text = resources.files(TABLE_PACKAGE).joinpath(table_name(language)).read_text(encoding="utf-8")
    except (ImportError, OSError):
        return {}
    return json.loads(text)


def translate(text: str, language: str | None = None) -> str:
    """``text`` in ``language`` (default: :func:`current`), or ``text`` itself where the table has no entry.
    Not formatted: for texts without fields (hints, titles), which may hold braces of code."""
    return table(language or current()).get(text, text)


def say(template: str, /, **fields) -> str:
    """The sentence ``template`` in the current language, its named fields filled in after the lookup:
    ``say("the sum of row {row} is {total:.3f}", row=i, total=s)``. Braces meant literally are doubled."""
    return translate(template).format(**fields)


def deferred(text: str, /) -> str:
    """``text`` unchanged: marks a module-level text (a constant said later, in the language of that moment) for
    the table; say it with :func:`translate` when it is used."""
    return text
