"""A quiz as one HTML output: the questions as markup, the checking as a small script, no kernel, no network.

The output holds

- a ``<div class="cq-quiz">`` with every question, its options (buttons) or its number field, and every
  explanation already in the markup (hidden until an answer calls for it);
- the stylesheet ``quiz.css`` (light and dark, following pydata-sphinx-theme and JupyterLab);
- one classic ``<script>`` with ``quiz.js``, kept once per page and version in ``window.__courseQuiz``, that
  wires the buttons up.

So the same output works in the static book, in JupyterLab (trusted notebooks, as every notebook you ran
yourself is), in Colab, and saved to disk. Without JavaScript (GitHub's notebook viewer) the questions are
shown with a line saying that answers are checked in the browser.
"""

from __future__ import annotations

import hashlib
import html
import re
import uuid

from book import web_page
from book.web_page import inline_asset
from book.quiz.questions import ChoiceQuestion, NumberQuestion, Quiz
from book.quiz.translations import Translator

# Every word the quiz itself writes; translated by the catalogue quizzes/ui.po (book/quiz/translations.py).
UI_TEXT = {
    "correct": "Correct.",
    "wrong": "Not quite.",
    "try_again": "Try another option.",
    "number_wrong": "Not quite: check your working and try again.",
    "not_a_number": "Type a number, for example 0.25 or -3.",
    "check": "Check",
    "reveal": "Show the answer",
    "answer_is": "The answer is {answer}.",  # {answer}: the number and its unit, "2.5 %"
    "score": "Answered correctly: {right} of {total}.",
    "no_script": "The answers are checked in your browser with JavaScript, which does not run here: open the "
                 "course's book page, or run this notebook (a trusted notebook runs it).",
    "your_answer": "Your answer",
    "mark_right": "correct",
    "mark_wrong": "wrong",
}

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline(text: str) -> str:
    """Plain text as HTML: escaped, with `code` and **bold**."""
    escaped = html.escape(text, quote=False)
    escaped = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)
    return _BOLD.sub(r"<strong>\1</strong>", escaped)


def asset(name: str) -> str:
    """The text of ``quiz.js`` or ``quiz.css``, shipped inside the package."""
    return inline_asset("book.quiz", name)


def _number(value: float) -> str:
    """A number as the page shows and JavaScript reads it back (repr: exact, short)."""
    return repr(float(value)).removesuffix(".0") if float(value).is_integer() else repr(float(value))


def _english(text: str) -> str:
    return text


def _choice(question: ChoiceQuestion, qid: str, t=_english) -> str:
    buttons, explanations = [], []
    for i, option in enumerate(question.options):
        buttons.append(
            f'<button type="button" class="cq-option" data-option="{i}" '
            f'data-correct="{"true" if option.correct else "false"}" aria-pressed="false" '
            f'aria-describedby="{qid}-feedback">'
            f'<span class="cq-mark" aria-hidden="true"></span>'
            f'<span class="cq-letter">{"abcdef"[i]})</span> <span class="cq-text">{inline(t(option.text))}</span>'
            "</button>")
        verdict = t(UI_TEXT["correct"] if option.correct else UI_TEXT["wrong"])
        explanations.append(
            f'<div class="cq-explanation {"cq-is-right" if option.correct else "cq-is-wrong"}" '
            f'data-for="{i}" hidden><strong class="cq-verdict">{verdict}</strong> '
            f'{inline(t(option.explanation))}'
            + ("" if option.correct else f' <span class="cq-again">{t(UI_TEXT["try_again"])}</span>') + "</div>")
    return (
        f'<p class="cq-prompt" id="{qid}-prompt">{inline(t(question.prompt))}</p>\n'
        f'<div class="cq-options" role="group" aria-labelledby="{qid}-prompt">\n' + "\n".join(buttons) + "\n</div>\n"
        f'<div class="cq-feedback" id="{qid}-feedback" role="status" aria-live="polite">\n'
        + "\n".join(explanations) + "\n</div>")


def _number_question(question: NumberQuestion, qid: str, t=_english) -> str:
    unit = f' <span class="cq-unit">{inline(t(question.unit))}</span>' if question.unit else ""
    mistakes = "\n".join(
        f'<div class="cq-explanation cq-is-wrong" data-for="mistake" data-answer="{_number(m.answer)}" '
        f'data-tolerance="{_number(m.tolerance)}" hidden><strong class="cq-verdict">{t(UI_TEXT["wrong"])}</strong> '
        f'{inline(t(m.explanation))}</div>' for m in question.mistakes)
    answer = f"{_number(question.answer)}" + (f" {html.escape(t(question.unit))}" if question.unit else "")
    # one message with the number in it: a translation puts it where its grammar wants it ("答案是 2.5 %。")
    answer_is = html.escape(t(UI_TEXT["answer_is"]), quote=False).replace("{answer}", answer)
    return (
        f'<p class="cq-prompt" id="{qid}-prompt">{inline(t(question.prompt))}</p>\n'
        f'<div class="cq-number" data-answer="{_number(question.answer)}" '
        f'data-tolerance="{_number(question.tolerance)}">\n'
        f'<label class="cq-label" for="{qid}-input">{t(UI_TEXT["your_answer"])}</label> '
        f'<input type="text" id="{qid}-input" class="cq-input" inputmode="decimal" autocomplete="off" '
        f'spellcheck="false" aria-describedby="{qid}-prompt {qid}-feedback">{unit} '
        f'<button type="button" class="cq-check">{t(UI_TEXT["check"])}</button> '
        f'<button type="button" class="cq-reveal" hidden>{t(UI_TEXT["reveal"])}</button>\n</div>\n'
        f'<div class="cq-feedback" id="{qid}-feedback" role="status" aria-live="polite">\n'
        f'<div class="cq-explanation cq-is-right" data-for="correct" hidden><strong class="cq-verdict">{t(UI_TEXT["correct"])}'
        f'</strong> {inline(t(question.explanation))}</div>\n'
        f'<div class="cq-explanation cq-is-right" data-for="revealed" hidden><strong class="cq-verdict">{answer_is}'
        f'</strong> {inline(t(question.explanation))}</div>\n'
        + (mistakes + "\n" if mistakes else "")
        + f'<div class="cq-explanation cq-is-wrong" data-for="wrong" hidden>{t(UI_TEXT["number_wrong"])}</div>\n'
        f'<div class="cq-explanation cq-is-wrong" data-for="invalid" hidden>{t(UI_TEXT["not_a_number"])}</div>\n</div>')


def quiz_html(quiz: Quiz, element_id: str | None = None, language: str | None = None) -> str:
    """The HTML output of a quiz (see the module docstring); ``element_id`` defaults to a fresh one.

    ``language`` ("zh_CN"; None is English) takes every text from that language's catalogues
    (book/quiz/translations.py); a text they lack stays English. The book build renders each edition's quizzes
    in its own language (scripts/render_quizzes.py).
    """
    t = Translator(quiz.name, language)
    element_id = element_id or f"cq-{uuid.uuid4().hex[:10]}"
    items = []
    for question in quiz.questions:
        qid = f"{element_id}-{question.id}"
        render = _choice if isinstance(question, ChoiceQuestion) else _number_question
        body = render(question, qid, t)
        items.append(f'<li class="cq-question" id="{qid}" data-kind="{question.kind}">\n{body}\n</li>')
    script, css = asset("quiz.js"), asset("quiz.css")
    key = "quiz@" + hashlib.sha256(script.encode()).hexdigest()[:12]
    score = html.escape(t(UI_TEXT["score"]))
    marks = (f' data-mark-right="{html.escape(t(UI_TEXT["mark_right"]))}"'
             f' data-mark-wrong="{html.escape(t(UI_TEXT["mark_wrong"]))}"')
    lang = "" if t.language == "en" else f' lang="{t.html_lang}"'
    return (
        f'<div class="cq-quiz" id="{element_id}"{lang} data-quiz="{html.escape(quiz.name)}" '
        f'data-score="{score}"{marks}>\n'
        f'<p class="cq-noscript">{t(UI_TEXT["no_script"])}</p>\n'
        '<ol class="cq-questions">\n' + "\n".join(items) + "\n</ol>\n"
        '<p class="cq-score" aria-live="polite"></p>\n</div>\n'
        f"<style>\n{css}</style>\n"
        "<script>\n(function () {\n"
        "  var registry = (window.__courseQuiz = window.__courseQuiz || {});\n"
        f'  var quiz = registry["{key}"] || (registry["{key}"] = (\n{script}\n));\n'
        f'  quiz.mount(document.getElementById("{element_id}"));\n'
        "})();\n</script>\n"
    )


def standalone_page(*quizzes: Quiz, title: str = "Check yourself", theme: str = "light") -> str:
    """A complete HTML page holding ``quizzes``, light or dark the way pydata-sphinx-theme marks it."""
    if not quizzes or not all(isinstance(q, Quiz) for q in quizzes):
        raise ValueError("expected one or more quizzes, e.g. standalone_page(load_quiz('02_softmax'))")
    body = "\n".join(f"<h2>{html.escape(q.name)}</h2>\n{quiz_html(q)}" for q in quizzes)
    return web_page.standalone_page(body, title, theme, width_rem=50)
