"""Sphinx extension: every quiz of the built book in the page's language, and never older than its JSON file.

A chapter shows its quiz with ``show_quiz("02_softmax")``, and the book build keeps that cell's output from the
one shared execution (the jupyter-cache), which cannot be in two languages at once and is not re-run when only a
quiz file or a catalogue changed. The quiz is data, so this extension renders it again as each page is written
(``doctree-resolved``): same quiz, same element id, in the build's ``language`` (``-D language=zh_CN``; English otherwise),
with the translations as they are now in ``locales/<lang>/LC_MESSAGES/quizzes/``.

Listed in _config.yml under ``sphinx: local_extensions`` (folder ``scripts/``), beside the other local
extensions.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.util import logging

from book.quiz import QuizError, load_quiz, quiz_html

logger = logging.getLogger(__name__)

# The opening tag quiz_html writes: the element id and the quiz's name.
QUIZ_ROOT = re.compile(r'^\s*<div class="cq-quiz" id="(?P<id>cq-[A-Za-z0-9_-]+)"(?: lang="[^"]*")? '
                       r'data-quiz="(?P<name>[A-Za-z0-9_.-]+)"')


def render_quizzes(app, doctree, docname) -> None:
    language = app.config.language
    for raw in list(doctree.findall(nodes.raw)):
        if "html" not in raw.get("format", "").split():
            continue
        match = QUIZ_ROOT.match(raw.astext())
        if not match:
            continue
        try:
            html = quiz_html(load_quiz(match["name"]), element_id=match["id"], language=language)
        except (QuizError, ValueError) as error:
            logger.warning("quiz %r on this page cannot be rendered: %s", match["name"], error,
                           location=(docname, raw.line), type="course", subtype="quiz")
            continue
        raw.replace_self(nodes.raw("", html, format=raw["format"], classes=raw.get("classes", [])))


def setup(app):
    app.connect("doctree-resolved", render_quizzes)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
