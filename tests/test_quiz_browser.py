"""The quizzes in headless Chromium, with no network: answered by mouse and by keyboard, a wrong answer shows its
own explanation, the right one is marked, numbers are checked with their tolerance, in light and dark mode and
at 375 px, with no console error and no request outside the page.

Pages are generated from the quiz files (``book.quiz.standalone_page``) and served on 127.0.0.1; every other
request is aborted and recorded. Chromium is Debian's, started with the flags of the course's other browser tests
(scripts/book_browser.py).
"""

from pathlib import Path
from urllib.parse import urlsplit

import pytest

import book_site
from book.quiz import ChoiceQuestion, NumberQuestion, read_quiz, standalone_page

pytestmark = pytest.mark.slow

QUIZ_FILES = sorted((Path(__file__).resolve().parent.parent / "chapters" / "quizzes").glob("*.json"))
QUIZZES = [read_quiz(path) for path in QUIZ_FILES]
NARROW = {"width": 375, "height": 800}
WIDE = {"width": 1000, "height": 900}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("quizzes")
    for quiz in QUIZZES:
        (root / f"{quiz.name}.html").write_text(standalone_page(quiz, title=quiz.name))
    for theme in ("light", "dark"):
        (root / f"all-{theme}.html").write_text(standalone_page(*QUIZZES, theme=theme))
    with book_site.serve(root) as base:
        yield base


class Session:
    """One page in a fresh context; requests anywhere but the page's server are aborted and kept, with
    console errors and uncaught exceptions."""

    def __init__(self, browser, base: str, viewport: dict):
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
        self.blocked, self.errors = [], []
        self.context = browser.new_context(viewport=viewport, service_workers="block")
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught {error}"))
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)

    def _route(self, route):
        if route.request.url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function("() => [...document.querySelectorAll('.cq-quiz')]"
                                    ".every(q => q.dataset.ready === 'true')")
        return self.page

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.blocked == [], f"requests outside the page: {self.blocked}"


@pytest.fixture
def session(chromium, site):
    sessions = []

    def start(viewport=WIDE):
        s = Session(chromium, site, viewport)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.context.close()


def question_locator(page, quiz, question):
    return page.locator(f'.cq-quiz[data-quiz="{quiz.name}"] .cq-question[id$="-{question.id}"]')


def plain(text: str) -> str:
    """Quiz markup as the page shows it: `code` and **bold** without their marks."""
    return text.replace("`", "").replace("**", "")


def visible_feedback(item) -> list[str]:
    return [text.strip() for text in item.locator(".cq-explanation:visible").all_inner_texts()]


def state(item) -> dict:
    return item.evaluate("""(li) => ({
        state: li.dataset.state || null,
        right: [...li.querySelectorAll('.cq-option.cq-right')].map(b => Number(b.dataset.option)),
        wrong: [...li.querySelectorAll('.cq-option.cq-wrong')].map(b => Number(b.dataset.option)),
        pressed: [...li.querySelectorAll('.cq-option[aria-pressed="true"]')].map(b => Number(b.dataset.option)),
        marks: [...li.querySelectorAll('.cq-option .cq-mark')].map(m => m.textContent),
    })""")


def score(page, quiz) -> str:
    return page.locator(f'.cq-quiz[data-quiz="{quiz.name}"] .cq-score').inner_text()


@pytest.mark.parametrize("quiz", QUIZZES, ids=[q.name for q in QUIZZES])
def test_every_question_by_mouse(session, site, quiz):
    s = session()
    page = s.open(f"{site}/{quiz.name}.html")
    assert not page.locator(".cq-noscript").is_visible(), "the no-JavaScript note is shown although JS runs"
    assert visible_feedback(page.locator(".cq-quiz")) == [], "explanations visible before any answer"
    for number, question in enumerate(quiz.questions, 1):
        item = question_locator(page, quiz, question)
        if isinstance(question, ChoiceQuestion):
            right = question.correct_index
            for i, option in enumerate(question.options):
                if i == right:
                    continue
                item.locator(f'.cq-option[data-option="{i}"]').click()
                shown = visible_feedback(item)
                assert len(shown) == 1 and shown[0].startswith("Not quite.") and plain(option.explanation) in shown[0], (
                    f"{quiz.name}/{question.id}: option {i} chose, feedback {shown}")
                st = state(item)
                assert i in st["wrong"] and st["pressed"] == [i] and st["marks"][i] == "\u2717"
                assert st["state"] == "wrong"
            item.locator(f'.cq-option[data-option="{right}"]').click()
            shown = visible_feedback(item)
            assert len(shown) == 1 and shown[0].startswith("Correct.")
            assert plain(question.options[right].explanation) in shown[0]
            st = state(item)
            assert st["right"] == [right] and st["state"] == "right" and st["marks"][right] == "\u2713"
        else:
            answer_number_question(item, question)
        assert score(page, quiz) == f"Answered correctly: {number} of {len(quiz.questions)}."
    s.clean()


def answer_number_question(item, question: NumberQuestion, by_keyboard: bool = False):
    field, check = item.locator(".cq-input"), item.locator(".cq-check")

    def submit(text: str) -> list[str]:
        field.fill(text)
        if by_keyboard:
            field.press("Enter")
        else:
            check.click()
        return visible_feedback(item)

    assert submit("twelve") == ["Type a number, for example 0.25 or -3."]
    assert item.locator(".cq-reveal").is_hidden(), "the answer is offered before any attempt"
    for mistake in question.mistakes:
        shown = submit(repr(mistake.answer))
        assert len(shown) == 1 and plain(mistake.explanation) in shown[0], (question.id, mistake.answer, shown)
        assert field.get_attribute("aria-invalid") == "true"
    far = question.answer + 1000 * question.tolerance + 17
    assert submit(repr(far)) == ["Not quite: check your working and try again."]
    assert item.locator(".cq-reveal").is_visible()
    # just inside the tolerance counts; just outside does not
    inside, outside = question.answer + 0.9 * question.tolerance, question.answer - 1.1 * question.tolerance
    if not any(m.matches(outside) for m in question.mistakes):
        assert submit(repr(outside)) == ["Not quite: check your working and try again."]
    shown = submit(repr(inside))
    assert len(shown) == 1 and shown[0].startswith("Correct.") and plain(question.explanation) in shown[0]
    assert field.get_attribute("aria-invalid") == "false" and item.get_attribute("data-state") == "right"


def test_numbers_accept_the_ways_people_type_them(session, site):
    s = session()
    page = s.open(f"{site}/02_softmax.html")
    parse = "(t) => Object.entries(window.__courseQuiz).find(([k]) => k.startsWith('quiz@'))[1].parseNumber(t)"
    cases = {"0.665": 0.665, " 0,665 ": 0.665, "\u22123": -3, "+2": 2, ".5": 0.5, "1e-3": 0.001, "66.5 %": 66.5,
             "7,850": 7850, "203,530.5": 203530.5, "1,5": 1.5, "1,50": 1.5, "1,2,3": None, "1/4": None, "": None, "0.6.6": None, "e3": None, "inf": None}
    for text, expected in cases.items():
        assert page.evaluate(parse, text) == expected, text
    s.clean()


def test_keyboard_alone_answers_a_quiz(session, site):
    """Tab reaches every option and field in order; Enter and Space choose; Enter in a field checks it."""
    quiz = next(q for q in QUIZZES if q.name == "02_softmax")
    s = session()
    page = s.open(f"{site}/{quiz.name}.html")
    page.locator("body").focus()
    focused = lambda: page.evaluate("() => { const e = document.activeElement; return [e.className, "
                                    "e.dataset.option || null, e.closest('.cq-question')?.id || null]; }")
    for question in quiz.questions:
        item = question_locator(page, quiz, question)
        qid = item.get_attribute("id")
        if isinstance(question, ChoiceQuestion):
            wrong = next(i for i in range(len(question.options)) if i != question.correct_index)
            page.keyboard.press("Tab")
            while focused()[1] != str(wrong):
                assert focused()[2] == qid, f"Tab left {qid} before reaching option {wrong}: {focused()}"
                page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            assert plain(question.options[wrong].explanation) in " ".join(visible_feedback(item))
            while focused()[1] != str(question.correct_index):
                page.keyboard.press("Shift+Tab" if int(focused()[1]) > question.correct_index else "Tab")
            page.keyboard.press("Space")
            assert state(item)["state"] == "right"
            # move focus to the last option, so the next Tab leaves this question
            while focused()[1] != str(len(question.options) - 1):
                page.keyboard.press("Tab")
        else:
            page.keyboard.press("Tab")
            assert focused()[0] == "cq-input" and focused()[2] == qid, focused()
            page.keyboard.type(repr(question.answer))
            page.keyboard.press("Enter")
            assert item.get_attribute("data-state") == "right", visible_feedback(item)
            page.keyboard.press("Tab")  # the Check button
            assert "cq-check" in focused()[0]
    assert score(page, quiz) == f"Answered correctly: {len(quiz.questions)} of {len(quiz.questions)}."
    s.clean()


def test_focus_is_visible(session, site):
    s = session()
    page = s.open(f"{site}/01_classification.html")
    page.locator("body").focus()
    page.keyboard.press("Tab")
    outline = page.evaluate("() => { const c = getComputedStyle(document.activeElement); "
                            "return [c.outlineStyle, parseFloat(c.outlineWidth)]; }")
    assert outline[0] != "none" and outline[1] >= 2, outline
    s.clean()


def test_reveal_shows_the_answer_without_counting_it(session, site):
    quiz = next(q for q in QUIZZES if q.name == "05_data")
    question = next(q for q in quiz.questions if isinstance(q, NumberQuestion))
    s = session()
    page = s.open(f"{site}/{quiz.name}.html")
    item = question_locator(page, quiz, question)
    item.locator(".cq-input").fill("1")
    item.locator(".cq-check").click()
    item.locator(".cq-reveal").click()
    shown = visible_feedback(item)
    assert len(shown) == 1 and shown[0].startswith(f"The answer is {question.answer:g}") and \
        plain(question.explanation) in shown[0]
    assert item.get_attribute("data-state") == "revealed"
    assert score(page, quiz).startswith("Answered correctly: 0 of")
    s.clean()


CONTRAST_JS = r"""
() => {
  const rgb = s => s.match(/[\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const opaque = e => { const c = getComputedStyle(e).backgroundColor; return c !== 'transparent' && !/, 0\)$/.test(c); };
  const owner = [document.body, document.documentElement].find(opaque);
  const background = owner ? rgb(getComputedStyle(owner).backgroundColor) : [255, 255, 255];  // the canvas
  const quiz = document.querySelector('.cq-quiz');
  const out = {text: ratio(rgb(getComputedStyle(quiz).color), background)};
  for (const kind of ['right', 'wrong']) {
    const v = getComputedStyle(quiz).getPropertyValue('--cq-' + kind).trim();
    const probe = document.createElement('span'); probe.style.color = v; quiz.appendChild(probe);
    out[kind] = ratio(rgb(getComputedStyle(probe).color), background); probe.remove();
  }
  return out;
}
"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_readable_in_light_and_dark_mode(session, site, theme):
    s = session()
    page = s.open(f"{site}/all-{theme}.html")
    contrast = page.evaluate(CONTRAST_JS)
    assert all(value >= 4.5 for value in contrast.values()), f"{theme}: contrast ratios {contrast} (WCAG AA: 4.5)"
    s.clean()


def test_no_horizontal_scrolling_at_375_px(session, site):
    s = session(NARROW)
    page = s.open(f"{site}/all-light.html")
    for question in page.locator(".cq-question.cq-question").all()[:3]:  # show some explanations too
        question.locator(".cq-option, .cq-check").first.click()
    wide = page.evaluate("() => [...document.querySelectorAll('.cq-quiz, .cq-quiz *')]"
                         ".filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible'"
                         " || e.getBoundingClientRect().right > window.innerWidth + 1)"
                         ".map(e => e.className + ': ' + (e.textContent || '').slice(0, 40))")
    assert wide == [], f"elements wider than 375 px: {wide[:10]}"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
    s.clean()


def test_two_quizzes_on_one_page_do_not_interfere(session, site):
    s = session()
    page = s.open(f"{site}/all-light.html")
    first, second = QUIZZES[0], QUIZZES[1]
    q = first.questions[0]
    assert isinstance(q, ChoiceQuestion)
    question_locator(page, first, q).locator(f'.cq-option[data-option="{q.correct_index}"]').click()
    assert score(page, first).startswith("Answered correctly: 1 of")
    assert score(page, second) == ""
    registry = page.evaluate("() => Object.keys(window.__courseQuiz)")
    assert len(registry) == 1, f"the quiz script should be kept once per page: {registry}"
    s.clean()
