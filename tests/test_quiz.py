"""The chapters' quizzes: every chapter of the table of contents has one, every file is valid, every number it
states is recomputed here with the course package, and the renderer turns bad data into clear errors.

(How the quizzes behave in a browser: tests/test_quiz_browser.py.)"""

import html
import json
import math
import re
from importlib import resources
from pathlib import Path

import pytest
import torch
from torch import nn

import book_site  # scripts/, put on sys.path by conftest.py
from book.quiz import (ChoiceQuestion, NumberQuestion, QuizError, load_quiz, parse_quiz, quiz_html, quiz_names,
                       read_quiz, show_quiz, standalone_page)
from book.quiz.page import asset, inline

ROOT = Path(__file__).resolve().parent.parent
QUIZ_DIR = ROOT / "chapters" / "quizzes"
# Chapters 98 (performance) and 99 (widgets gallery) are appendices, not lessons: no quiz.
CHAPTERS = [page.source.stem for page in book_site.toc_pages(ROOT)
            if page.docname.startswith("chapters/") and not page.source.stem.startswith("9")]
QUIZ_FILES = sorted(QUIZ_DIR.glob("*.json"))


def test_every_chapter_of_the_table_of_contents_has_a_quiz():
    assert len(CHAPTERS) >= 12, CHAPTERS
    missing = [name for name in CHAPTERS if not (QUIZ_DIR / f"{name}.json").is_file()]
    assert missing == [], f"chapters without chapters/quizzes/<name>.json: {missing}"
    orphans = [p.name for p in QUIZ_FILES if p.stem not in CHAPTERS]
    assert orphans == [], f"quiz files for no chapter of _toc.yml (renamed chapter?): {orphans}"


@pytest.mark.parametrize("path", QUIZ_FILES, ids=lambda p: p.stem)
def test_quiz_file_is_valid(path):
    quiz = read_quiz(path)  # raises QuizError on anything the format forbids
    assert 3 <= len(quiz.questions) <= 6
    for question in quiz.questions:
        if isinstance(question, ChoiceQuestion):
            assert sum(option.correct for option in question.options) == 1, question.id
            assert all(option.explanation.strip() for option in question.options), question.id
        else:
            assert question.tolerance > 0 and math.isfinite(question.answer), question.id
            assert question.explanation.strip(), question.id
    # the file is what the reader sees: UTF-8 JSON, nothing the parser silently drops
    assert json.loads(path.read_text(encoding="utf-8")).keys() == {"questions"}


def test_right_answers_are_not_always_in_the_same_place():
    for path in QUIZ_FILES:
        positions = [q.correct_index for q in read_quiz(path).questions if isinstance(q, ChoiceQuestion)]
        if len(positions) >= 3:
            assert len(set(positions)) > 1, f"{path.name}: the right option is always {'abcdef'[positions[0]]})"


# --- the numbers the quizzes state, recomputed ------------------------------------------------------------------

def _mlp_parameters():
    from book.mlp import MLP, count_parameters
    return count_parameters(MLP((784, 256, 10)))


def _last_batch():
    from book.data import FastLoader
    loader = FastLoader(torch.zeros(10_000, 2), torch.zeros(10_000), batch_size=256, shuffle=False, device="cpu")
    return len(list(loader)[-1][1])


def _float32_megabytes():
    return 60_000 * 28 * 28 * torch.empty(0, dtype=torch.float32).element_size() / 1e6


def _constant_guess_percent():
    from book.data import load_dataset
    data = load_dataset("fashion-mnist")
    trouser = [name.lower() for name in data.classes].index("trouser")
    return 100 * (data.test_labels == trouser).double().mean().item()


def _default_init_ratio():
    torch.manual_seed(0)
    d = 1000
    variance = nn.Linear(d, d).weight.var().item()
    return (2 / d) / variance


def _kaggle_row(probabilities, label):
    from book.kaggle import log_loss
    return log_loss(torch.tensor([probabilities], dtype=torch.float64), torch.tensor([label]))


def _cross_entropy(logits, label):
    from book.cross_entropy import cross_entropy
    value = cross_entropy(torch.tensor([logits], dtype=torch.float64), torch.tensor([label])).item()
    torch_value = nn.CrossEntropyLoss()(torch.tensor([logits], dtype=torch.float64), torch.tensor([label])).item()
    assert math.isclose(value, torch_value, rel_tol=1e-12, abs_tol=1e-12)
    return value


def _softmax(logits, index):
    from book.softmax import softmax
    return softmax(torch.tensor(logits, dtype=torch.float64))[index].item()


def _entropy(probabilities):
    from book.softmax import entropy
    return entropy(probabilities).item()


def _se_points(correct, n):
    from book.evaluation import accuracy_interval
    return 100 * accuracy_interval(correct, n).se


# (chapter, question id) -> how the course package computes the answer; for "mistakes", the wrong answer.
REFERENCES = {
    ("01_classification", "params-784-10"): lambda: sum(p.numel() for p in nn.Linear(784, 10).parameters()),
    ("02_softmax", "first-probability"): lambda: _softmax([2.0, 1.0, 0.0], 0),
    ("02_softmax", "entropy-uniform"): lambda: _entropy(torch.full((10,), 0.1, dtype=torch.float64)),
    ("03_cross_entropy", "loss-quarter"): lambda: _cross_entropy([math.log(0.25), math.log(0.75)], 0),
    ("05_data", "float-memory"): _float32_megabytes,
    ("05_data", "last-batch"): _last_batch,
    ("05_data", "constant-guess"): _constant_guess_percent,
    ("06_softmax_scratch", "se-points"): lambda: _se_points(8_300, 10_000),
    ("07_concise", "large-logits"): lambda: _cross_entropy([0.0, 1000.0], 0),
    ("08_generalisation", "se-500"): lambda: _se_points(450, 500),
    ("09_mlp", "mlp-params"): _mlp_parameters,
    ("09_mlp", "init-ratio"): _default_init_ratio,
    ("11_tabular", "uniform-guess"): lambda: _kaggle_row([1 / 9] * 9, 0),
    ("11_tabular", "certain-wrong"): lambda: _kaggle_row([0.0, 1.0], 0),
}
MISTAKES = {
    ("01_classification", "params-784-10", 7840): lambda: nn.Linear(784, 10).weight.numel(),
    ("02_softmax", "first-probability", 0.090): lambda: _softmax([2.0, 1.0, 0.0], 2),
    ("02_softmax", "first-probability", 0.245): lambda: _softmax([2.0, 1.0, 0.0], 1),
    ("07_concise", "large-logits", 0): lambda: _cross_entropy([0.0, 1000.0], 1),
    ("09_mlp", "mlp-params", 7850): lambda: sum(p.numel() for p in nn.Linear(784, 10).parameters()),
    ("11_tabular", "uniform-guess", 0.954): lambda: math.log10(9),
    ("11_tabular", "uniform-guess", 3.17): lambda: math.log2(9),
}
NUMBER_QUESTIONS = [(path.stem, q) for path in QUIZ_FILES for q in read_quiz(path).questions
                    if isinstance(q, NumberQuestion)]


def test_every_numeric_question_has_a_reference_computation():
    stated = {(name, q.id) for name, q in NUMBER_QUESTIONS}
    assert stated == set(REFERENCES), ("numeric questions need a reference computation in REFERENCES (and "
                                       f"removed ones must leave it): {sorted(stated ^ set(REFERENCES))}")


@pytest.mark.parametrize("name, question", NUMBER_QUESTIONS, ids=[f"{n}-{q.id}" for n, q in NUMBER_QUESTIONS])
def test_numeric_answer_is_what_the_course_package_computes(name, question):
    value = REFERENCES[(name, question.id)]()
    assert question.is_correct(value), f"{name}/{question.id}: the quiz says {question.answer} ± " \
                                       f"{question.tolerance}, the course package computes {value}"
    for mistake in question.mistakes:
        check = MISTAKES.get((name, question.id, mistake.answer))
        if check is not None:
            assert mistake.matches(check()), f"{name}/{question.id}: mistake {mistake.answer} is not {check()}"


# --- loading and the package data ---------------------------------------------------------------------------------

def test_quizzes_are_installed_with_the_package():
    """The quiz files reach Colab through the package data book.quizzes, mapped from chapters/quizzes."""
    try:
        folder = resources.files("book.quizzes")
    except ModuleNotFoundError:
        pytest.fail("book.quizzes is not importable: pyproject.toml must map it to chapters/quizzes "
                    "(package-dir and package-data), then reinstall with `pip install -e .`")
    assert sorted(quiz_names()) == sorted(p.stem for p in QUIZ_FILES)
    for path in QUIZ_FILES:
        assert folder.joinpath(path.name).read_bytes() == path.read_bytes()
    assert load_quiz("02_softmax") == read_quiz(QUIZ_DIR / "02_softmax.json")


def test_load_quiz_names_the_chapters_that_have_one():
    with pytest.raises(QuizError, match=r"no quiz for '02_softmaxx'.*02_softmax"):
        load_quiz("02_softmaxx")
    with pytest.raises(QuizError, match="chapter name"):
        load_quiz("")


def test_show_quiz_displays_html_and_prints_text(capsys):
    show_quiz(QUIZ_DIR / "04_autograd.json")  # outside a kernel IPython's display prints the text form
    out = capsys.readouterr().out
    assert "Check yourself (04_autograd)" in out and "1. In a loop" in out
    quiz = read_quiz(QUIZ_DIR / "04_autograd.json")
    assert all(o.text in out for q in quiz.questions for o in q.options)
    assert not any(o.explanation in out for q in quiz.questions for o in q.options)  # no answers given away


# --- what the format refuses ----------------------------------------------------------------------------------------

def choice(**changes):
    question = {"id": "q", "kind": "choice", "prompt": "Pick one.",
                "options": [{"text": "a", "correct": True, "explanation": "Because."},
                            {"text": "b", "correct": False, "explanation": "No, because."}]}
    question.update(changes)
    return question


def number(**changes):
    question = {"id": "n", "kind": "number", "prompt": "How many?", "answer": 2.5, "tolerance": 0.1,
                "explanation": "Because."}
    question.update(changes)
    return question


def quiz_of(*questions):
    filler = [choice(id=f"f{i}") for i in range(3 - len(questions))]
    return {"questions": [*questions, *filler]}


@pytest.mark.parametrize("data, message", [
    ({"questions": [choice(), choice(id="r")]}, "3 to 6 questions, this one 2"),
    ({"questions": [choice(id=f"q{i}") for i in range(7)]}, "3 to 6 questions, this one 7"),
    ({"questions": [choice()] * 3}, "id 'q' is used twice"),
    ({"questions": [choice(), choice(id="r")], "title": "x"}, r"unknown keys \['title'\]"),
    (quiz_of(choice(id="Bad Id")), "short lower-case slug"),
    (quiz_of(choice(kind="essay")), "'kind' must be one of"),
    (quiz_of(choice(options=[{"text": "a", "correct": True, "explanation": "x"},
                             {"text": "b", "correct": True, "explanation": "y"}])), "exactly one option must be"),
    (quiz_of(choice(options=[{"text": "a", "correct": False, "explanation": "x"},
                             {"text": "b", "correct": False, "explanation": "y"}])), "exactly one option must be"),
    (quiz_of(choice(options=[{"text": "a", "correct": True, "explanation": "x"},
                             {"text": "b", "correct": False, "explanation": " "}])), "option 2: 'explanation'"),
    (quiz_of(choice(options=[{"text": "a", "correct": True, "explanation": "x"},
                             {"text": "b", "correct": False}])), r"option 2: missing \['explanation'\]"),
    (quiz_of(choice(options=[{"text": "a", "correct": True, "explanation": "x"}])), "2 to 6 options"),
    (quiz_of(choice(options=[{"text": "a", "correct": True, "explanation": "x"},
                             {"text": "a", "correct": False, "explanation": "y"}])), "two options read the same"),
    (quiz_of(choice(options=[{"text": "a", "correct": "yes", "explanation": "x"},
                             {"text": "b", "correct": False, "explanation": "y"}])), "'correct' must be true or"),
    (quiz_of(choice(prompt="What is $\\hat{y}$?")), "contains TeX"),
    (quiz_of(choice(prompt="Is \\(x\\) big?")), "contains TeX"),
    (quiz_of(choice(prompt="An `unclosed backtick")), "unmatched backtick"),
    (quiz_of(number(tolerance=0)), "'tolerance' must be > 0"),
    (quiz_of(number(tolerance=-1)), "'tolerance' must be > 0"),
    (quiz_of(number(answer=float("nan"))), "'answer' must be a finite number"),
    (quiz_of(number(answer="2.5")), "'answer' must be a finite number"),
    (quiz_of(number(answer=True)), "'answer' must be a finite number"),
    (quiz_of(number(mistakes=[{"answer": 2.55, "tolerance": 0.1, "explanation": "x"}])), "overlaps the right"),
    (quiz_of(number(mistakes=[{"answer": 9, "tolerance": 0.1}])), r"mistake 1: missing \['explanation'\]"),
    (quiz_of(number(unit=3)), "'unit' must be a string"),
    (quiz_of(number(options=[])), r"unknown keys \['options'\]"),
    ({"questions": "none"}, "3 to 6 questions, this one str"),
    ([], "expected a JSON object"),
])
def test_bad_quiz_data_is_refused_with_a_message_that_names_the_fix(data, message):
    with pytest.raises(QuizError, match=message):
        parse_quiz(data, "example")


def test_errors_name_the_file_and_the_question(tmp_path):
    path = tmp_path / "03_x.json"
    path.write_text(json.dumps(quiz_of(choice(id="ok"), number(id="bad-one", tolerance=0))))
    with pytest.raises(QuizError, match=r"^03_x, question 2 \(bad-one\): 'tolerance'"):
        read_quiz(path)
    path.write_text("{not json")
    with pytest.raises(QuizError, match="not valid JSON"):
        read_quiz(path)


# --- the HTML ---------------------------------------------------------------------------------------------------------

def test_html_holds_every_question_option_and_explanation_escaped():
    data = quiz_of(choice(prompt="Is `a < b` **true**?"), number(unit="%", mistakes=[
        {"answer": 25, "tolerance": 1, "explanation": "That is 10 times <too> much."}]))
    quiz = parse_quiz(data, "x")
    out = quiz_html(quiz, "cq-t")
    assert '<p class="cq-prompt" id="cq-t-q-prompt">Is <code>a &lt; b</code> <strong>true</strong>?</p>' in out
    assert out.count('class="cq-option"') == 2 * 2  # two choice questions (one of them filler), 2 options each
    assert out.count('data-correct="true"') == 2
    assert "That is 10 times &lt;too&gt; much." in out and "<too>" not in out
    assert 'data-answer="25" data-tolerance="1"' in out and 'data-answer="2.5" data-tolerance="0.1"' in out
    assert "The answer is 2.5 %." in out
    # every explanation starts hidden; the script reveals the one an answer calls for
    explanations = re.findall(r'<div class="cq-explanation[^"]*"[^>]*>', out)
    assert explanations and all(" hidden" in tag for tag in explanations)
    # one inline script and style, nothing fetched
    assert out.count("<script>") == 1 and out.count("<style>") == 1
    assert not re.search(r"""(src|href)=["']?https?:""", out) and "import(" not in out


def test_html_of_every_quiz_is_small_and_self_contained():
    for path in QUIZ_FILES:
        out = quiz_html(read_quiz(path))
        assert len(out.encode()) < 40_000, f"{path.stem}: {len(out.encode())} bytes"
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", out), path.stem


def test_each_output_gets_its_own_ids():
    quiz = read_quiz(QUIZ_FILES[0])
    first, second = quiz_html(quiz), quiz_html(quiz)
    ids = lambda text: set(re.findall(r'id="(cq-[0-9a-f]{10})"', text))
    assert ids(first) and not ids(first) & ids(second)


def test_inline_markup():
    assert inline("`x<y` & **b**") == "<code>x&lt;y</code> &amp; <strong>b</strong>"
    assert inline("it’s *not* emphasis") == "it’s *not* emphasis"


def test_assets_cannot_end_their_element_early():
    for name in ("quiz.js", "quiz.css"):
        text = asset(name)
        assert "</script" not in text.lower() and "</style" not in text.lower()


def test_standalone_page_checks_its_arguments():
    quiz = read_quiz(QUIZ_FILES[0])
    page = standalone_page(quiz, theme="dark")
    assert page.startswith("<!doctype html>") and 'data-theme="dark"' in page
    with pytest.raises(ValueError, match="light' or 'dark"):
        standalone_page(quiz, theme="blue")
    with pytest.raises(ValueError, match="one or more quizzes"):
        standalone_page()
    assert html.escape(quiz.name) in page
