"""The Chinese exercise notebooks (exercises/zh_CN/): generated from the same solutions, and graded in Chinese.

- Each is what `python -m grader.make_exercises` makes of its solutions notebook and its catalogue
  (locales/zh_CN/LC_MESSAGES/exercises/<id>.po): the English learner notebook's cells and cell ids, its Markdown
  translated paragraph by paragraph, its code cells unchanged but for the set-up line that makes the kernel speak
  Chinese, and its language in the metadata. An untranslated or fuzzy message stops the generator.
- A translation keeps the code spans and the mathematics of its English paragraph (a notebook's path may say
  exercises/zh_CN/ for exercises/).
- A learner's own check (plain nbval) passes a solved Chinese notebook and fails an untouched one, in Chinese.
- The grader takes either language: a Chinese notebook is compared with the Chinese pristine notebook and judged in
  Chinese; a class mixing both languages gets one CSV row per learner; editing a Chinese notebook's check or set-up
  cells changes nothing, and tampering is flagged as in English.
"""

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from book.language import speaking, translate
from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED
from grader.exercise_cells import (ANSWER, CHECK, NOTEBOOK_METADATA, ExerciseFormatError, language_setup,
                                   localised_notebook, markdown_messages, markdown_pieces, notebook_language,
                                   notebook_text, read_notebook, role, setup_cell_index)
from grader.make_exercises import (EXERCISES_DIR, LOCALES_DIR, SOLUTIONS_DIR, catalogue_path, generate, stale,
                                   translated_notebook)

ROOT = Path(__file__).resolve().parent.parent
LANGUAGE = "zh_CN"
ZH_DIR = EXERCISES_DIR / LANGUAGE
IDS = [p.stem for p in sorted(SOLUTIONS_DIR.glob("*.ipynb"))]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def generated():
    return generate()


# --- generated, in sync, the same code --------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", IDS)
def test_chinese_notebook_is_what_its_solution_and_catalogue_generate(generated, exercise):
    path = ZH_DIR / f"{exercise}.ipynb"
    assert path in generated, f"make_exercises does not generate {path.relative_to(ROOT)}"
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: run python -m grader.make_exercises"
    assert path.read_text(encoding="utf-8") == generated[path], (
        f"{path.relative_to(ROOT)} is stale: run python -m grader.make_exercises (never edit it by hand)")


def test_no_chinese_notebook_without_its_solution():
    assert sorted(p.stem for p in ZH_DIR.glob("*.ipynb")) == IDS


@pytest.mark.parametrize("exercise", IDS)
def test_same_cells_and_code_as_the_english_notebook_but_the_language_setup(exercise):
    english = read_notebook(EXERCISES_DIR / f"{exercise}.ipynb")
    chinese = read_notebook(ZH_DIR / f"{exercise}.ipynb")
    assert [(c["cell_type"], c.get("id"), c["metadata"]) for c in chinese["cells"]] == \
        [(c["cell_type"], c.get("id"), c["metadata"]) for c in english["cells"]]
    assert notebook_language(english) == "en" and notebook_language(chinese) == LANGUAGE
    assert chinese["metadata"]["exercise"] == {**english["metadata"]["exercise"], "language": LANGUAGE}
    assert {k: chinese["metadata"][k] for k in NOTEBOOK_METADATA} == NOTEBOOK_METADATA
    setup = setup_cell_index(chinese)
    for i, (zh, en) in enumerate(zip(chinese["cells"], english["cells"])):
        if zh["cell_type"] == "markdown":
            assert CJK.search(zh["source"]), f"cell {i} is not translated: {zh['source'][:80]!r}"
        elif i == setup:
            added = "\n".join(language_setup(LANGUAGE))
            assert added in zh["source"] and 'set_language("zh_CN")' in added
            assert zh["source"].replace(added + "\n", "", 1).replace("\n\n\n", "\n\n") == en["source"] or \
                zh["source"].replace("\n" + added, "", 1) == en["source"]
        else:
            assert zh["source"] == en["source"], f"code cell {i} differs from the English notebook's"
        assert all(len(line) <= 79 for line in zh["source"].splitlines() if zh["cell_type"] == "code")


def kept(text: str) -> dict:
    """What a translation must keep: code spans (a notebook's path may gain its language folder), maths, the
    heading level, the list markers."""
    spans = [re.sub(r"exercises/(?:zh_CN/)?", "exercises/", span) for span in re.findall(r"`[^`]+`", text)]
    maths = re.findall(r"\$[^$]+\$", re.sub(r"`[^`]+`", "", text))
    heading = re.match(r"#*", text).group(0)
    markers = re.findall(r"^\s*(?:\d+\.|-) ", text, re.M)
    return {"code spans": sorted(spans), "maths": sorted(maths), "heading": heading, "list items": markers}


@pytest.mark.parametrize("exercise", IDS)
def test_translations_keep_code_maths_and_structure(exercise):
    with open(catalogue_path(LANGUAGE, exercise), "rb") as handle:
        catalogue = read_po(handle)
    problems = []
    for message in catalogue:
        if message.id and message.string:
            want, got = kept(message.id), kept(message.string)
            problems += [f"{kind}: {want[kind]} became {got[kind]} in {message.id[:60]!r}"
                         for kind in want if want[kind] != got[kind]]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("exercise", IDS)
def test_every_path_a_chinese_notebook_names_is_the_chinese_notebook(exercise):
    text = "".join(c["source"] for c in read_notebook(ZH_DIR / f"{exercise}.ipynb")["cells"]
                   if c["cell_type"] == "markdown")
    assert f"exercises/zh_CN/{exercise}.ipynb" in text
    assert not re.search(rf"exercises/{exercise}\.ipynb", text)


# --- the Markdown's messages --------------------------------------------------------------------------------------

def test_markdown_pieces_give_the_source_back_and_keep_blocks_whole():
    source = ("# Title\n\nA paragraph\non two lines.\n\n\n1. one\n2. two\n\n$$\na\n\nb\n$$\n\n"
              "```\nid,Class_1\n\n1,0.5\n```\n\nLast.")
    pieces = markdown_pieces(source)
    assert "".join(text for text, _ in pieces) == source
    assert [text for text, message in pieces if message] == [
        "# Title", "A paragraph\non two lines.", "1. one\n2. two", "$$\na\n\nb\n$$", "Last."]
    assert any("```\nid,Class_1\n\n1,0.5\n```" in text for text, message in pieces if not message)  # code


def test_solution_only_cells_and_code_are_not_messages():
    solution = read_notebook(SOLUTIONS_DIR / "01_softmax.ipynb")
    messages = markdown_messages(solution)
    assert messages[0] == "# Exercise 01: softmax" and len(messages) == len(set(messages))
    assert not any("This is the solutions notebook" in m for m in messages)
    assert not any("### BEGIN SOLUTION" in m or "def softmax" in m for m in messages)


def write_catalogue(locales: Path, exercise: str, fuzzy_first: bool = False, drop_first: bool = False) -> Path:
    with open(catalogue_path(LANGUAGE, exercise), "rb") as handle:
        catalogue = read_po(handle, locale=LANGUAGE)
    first = next(m for m in catalogue if m.id)
    if fuzzy_first:
        first.flags.add("fuzzy")
    if drop_first:
        first.string = ""
    path = catalogue_path(LANGUAGE, exercise, locales)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        write_po(handle, catalogue, width=0)
    return path


@pytest.mark.parametrize("change", ["fuzzy_first", "drop_first", "missing"])
def test_an_untranslated_or_fuzzy_message_stops_the_generator(tmp_path, change):
    exercise = "02_cross_entropy"
    if change != "missing":
        write_catalogue(tmp_path, exercise, **{change: True})
    learner = read_notebook(EXERCISES_DIR / f"{exercise}.ipynb")
    with pytest.raises(ExerciseFormatError) as error:
        translated_notebook(learner, LANGUAGE, exercise, tmp_path)
    text = str(error.value)
    assert str(catalogue_path(LANGUAGE, exercise, tmp_path)) in text and "make catalogues" in text
    assert ("missing" in text) if change == "missing" else ("1 message(s)" in text and "Exercise 02" in text)
    # the grader's pristine notebook needs only the code: the message stays English there
    lenient = translated_notebook(learner, LANGUAGE, exercise, tmp_path, strict=False)
    assert [c["source"] for c in lenient["cells"] if c["cell_type"] == "code"] == \
        [c["source"] for c in read_notebook(ZH_DIR / f"{exercise}.ipynb")["cells"] if c["cell_type"] == "code"]
    assert lenient["cells"][0]["source"].startswith("# Exercise 02")


def test_check_mode_covers_the_chinese_notebooks(tmp_path):
    learner_dir = tmp_path / "exercises"
    outputs = generate(SOLUTIONS_DIR, learner_dir, LOCALES_DIR)
    for path, text in outputs.items():
        if path.is_relative_to(learner_dir):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    assert stale(outputs, learner_dir) == []
    edited = learner_dir / LANGUAGE / "01_softmax.ipynb"
    edited.write_text(edited.read_text(encoding="utf-8").replace("第 1 题", "第一题"), encoding="utf-8")
    (learner_dir / LANGUAGE / "99_orphan.ipynb").write_text("{}", encoding="utf-8")
    problems = stale(outputs, learner_dir)
    assert any(p.endswith(f"{LANGUAGE}/01_softmax.ipynb: stale (differs from what its solutions notebook "
                          "generates)") for p in problems), problems
    assert any(f"{LANGUAGE}/99_orphan.ipynb: no solutions notebook" in p for p in problems), problems
    edited.unlink()
    assert any(p.endswith(f"{LANGUAGE}/01_softmax.ipynb: missing") for p in stale(outputs, learner_dir))


# --- a learner's own check: plain nbval, in Chinese ---------------------------------------------------------------

def nbval(notebook: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p",
                           "no:cacheprovider", "-q", "-o", "addopts=", str(notebook)],
                          cwd=notebook.parent, capture_output=True, text=True, timeout=600)


def chinese_solutions(exercise: str) -> dict:
    """The solutions notebook with the Chinese notebook's set-up (what a learner who solved it holds)."""
    solution = read_notebook(SOLUTIONS_DIR / f"{exercise}.ipynb")
    return localised_notebook(solution, LANGUAGE, lambda message: message)


def chinese_verdict_opening(template: str, question: str) -> str:
    """The Chinese verdict's words before its message, e.g. "q1：未作答。" (the checks' table must translate it)."""
    chinese = translate(template, LANGUAGE)
    assert chinese != template, f"book/checks/messages.zh_CN.json does not translate {template!r}"
    return chinese.split("{message}")[0].format(question=question)


NOT_ATTEMPTED_TEMPLATE = ("{question}: not attempted. {message}\nWrite your answer in the answer cell above, run it, "
                          "then run this cell again.")


def test_a_solved_chinese_notebook_passes_plain_nbval_and_an_untouched_one_fails_in_chinese(tmp_path):
    solved = tmp_path / "01_softmax.ipynb"
    solved.write_text(notebook_text(chinese_solutions("01_softmax")), encoding="utf-8")
    result = nbval(solved)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]

    untouched = tmp_path / "untouched" / "01_softmax.ipynb"
    untouched.parent.mkdir()
    shutil.copy(ZH_DIR / "01_softmax.ipynb", untouched)
    result = nbval(untouched)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert chinese_verdict_opening(NOT_ATTEMPTED_TEMPLATE, "q1") in result.stdout, result.stdout[-3000:]


# --- the grader: either language, one class ---------------------------------------------------------------------

def model_answers(exercise: str) -> dict:
    return {role(c)[1]: c["source"] for c in read_notebook(SOLUTIONS_DIR / f"{exercise}.ipynb")["cells"]
            if role(c)[0] == ANSWER}


def filled(source: Path, answers: dict) -> dict:
    nb = read_notebook(source)
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == ANSWER and q in answers:
            cell["source"] = answers[q]
    return nb


NAIVE_LOGSUMEXP = "def logsumexp(Z):\n    return Z.exp().sum(dim=1).log()"  # overflows for logits of 1000
WRONG_GRAD = "def cross_entropy_grad(O, y):\n    return torch.softmax(O, 1)"


@pytest.fixture(scope="module")
def mixed_class(tmp_path_factory):
    """A class of four graded at once (``--jobs 2 --json --csv``): a solved Chinese notebook, a Chinese one with
    wrong answers and edited check and set-up cells, an untouched English one, and a Chinese one that tampers."""
    folder = tmp_path_factory.mktemp("mixed") / "class"
    folder.mkdir()
    right = model_answers("02_cross_entropy")
    notebooks = {"alice": filled(ZH_DIR / "02_cross_entropy.ipynb", right)}

    bob = filled(ZH_DIR / "02_cross_entropy.ipynb", {"q1": right["q1"], "q2": NAIVE_LOGSUMEXP, "q4": WRONG_GRAD})
    checks = {role(c)[1]: c for c in bob["cells"] if role(c)[0] == CHECK}
    checks["q4"]["source"] = 'print("q4：正确（3 分）。")'  # edited: the grader runs the pristine check
    setup = bob["cells"][setup_cell_index(bob)]
    setup["source"] = setup["source"].replace('set_language("zh_CN")', 'set_language("en")')  # restored too
    notebooks["bob"] = bob

    notebooks["carol"] = read_notebook(EXERCISES_DIR / "02_cross_entropy.ipynb")
    notebooks["dave"] = filled(ZH_DIR / "02_cross_entropy.ipynb", {**right, "q4": right["q4"] + "\nq3.points = 9"})
    for name, nb in notebooks.items():
        (folder / f"{name}.ipynb").write_text(notebook_text(nb), encoding="utf-8")
    grades = folder.parent / "grades.csv"
    result = subprocess.run([sys.executable, "-m", "grader", str(folder), "--json", "--jobs", "2", "--csv",
                             str(grades)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {row["learner"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == sorted(notebooks)
    return rows, list(csv.reader(io.StringIO(grades.read_text(encoding="utf-8"))))


def questions(row) -> dict:
    assert "error" not in row, row
    return {q["id"]: q for q in row["questions"]}


def test_a_solved_chinese_notebook_gets_full_marks(mixed_class):
    rows, _ = mixed_class
    alice = rows["alice"]
    assert alice["language"] == LANGUAGE and alice["exercise"] == "02_cross_entropy"
    assert {q["status"] for q in questions(alice).values()} == {CORRECT}
    assert alice["score"] == alice["max_score"] > 0 and alice["passed"] is True and alice["flags"] == []


def test_a_chinese_notebook_is_judged_in_chinese_on_the_pristine_checks(mixed_class):
    rows, _ = mixed_class
    bob = questions(rows["bob"])
    assert rows["bob"]["language"] == LANGUAGE
    assert bob["q1"]["status"] == CORRECT
    assert bob["q2"]["status"] == INCORRECT and "1000" in bob["q2"]["message"]
    assert CJK.search(bob["q2"]["message"]), bob["q2"]["message"]  # its set-up said "en": restored, Chinese
    assert bob["q4"]["status"] == INCORRECT and CJK.search(bob["q4"]["message"])  # the edited check: restored
    assert bob["q3"]["status"] == NOT_ATTEMPTED
    with speaking(LANGUAGE):
        assert bob["q1"]["title"] == translate(bob["q1"]["title"]) != ""
    assert rows["bob"]["score"] == 2 and rows["bob"]["flags"] == []


def test_an_english_notebook_in_the_same_class_is_judged_in_english(mixed_class):
    rows, _ = mixed_class
    carol = questions(rows["carol"])
    assert rows["carol"]["language"] == "en" and rows["carol"]["score"] == 0
    assert {q["status"] for q in carol.values()} == {NOT_ATTEMPTED}
    assert not any(CJK.search(q["message"] + q["title"]) for q in carol.values()), carol


def test_tampering_in_a_chinese_notebook_is_flagged_and_withholds_its_points(mixed_class):
    rows, _ = mixed_class
    dave = rows["dave"]
    assert {f["kind"] for f in dave["flags"]} >= {"tampering"} and dave["score"] == 0, dave
    assert all(q["verdict"] == CORRECT for q in questions(dave).values())  # right answers, yet withheld


def test_the_class_csv_has_one_row_per_learner_and_the_usual_columns(mixed_class):
    rows, table = mixed_class
    header, body = table[0], table[1:]
    assert header == ["learner", "file", "exercise", "score", "max_score", "percent", "passed", "error", "flags",
                      "q1", "q1_status", "q2", "q2_status", "q3", "q3_status", "q4", "q4_status"]
    assert [row[0] for row in body] == ["alice", "bob", "carol", "dave"]
    assert [row[3] for row in body] == [str(rows[name]["score"]) for name in ("alice", "bob", "carol", "dave")]


def test_the_pristine_of_a_chinese_notebook_is_the_chinese_notebook_rebuilt_from_the_repository():
    from grader import grade as grading

    for exercise in ("01_softmax", "08_otto"):
        chinese = grading.pristine(exercise, language=LANGUAGE)
        committed = read_notebook(ZH_DIR / f"{exercise}.ipynb")
        assert notebook_text(chinese) == notebook_text(committed)
        assert grading.pristine(exercise) == read_notebook(EXERCISES_DIR / f"{exercise}.ipynb")


@pytest.mark.parametrize("language, complaint", [
    ("fr", "in the language 'fr', in which there is no exercise notebook"),
    (7, "metadata['exercise']['language'] is not text"),
])
def test_a_notebook_in_a_language_without_exercises_is_refused(tmp_path, language, complaint):
    nb = read_notebook(ZH_DIR / "01_softmax.ipynb")
    nb["metadata"]["exercise"]["language"] = language
    path = tmp_path / "01_softmax.ipynb"
    path.write_text(notebook_text(nb), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "grader", str(path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2 and complaint in result.stderr, result.stderr


def test_the_learners_table_speaks_the_notebooks_language_and_lines_up_wide_characters():
    """`python -m grader NOTEBOOK` prints this table: a Chinese notebook's in Chinese, its columns aligned in a
    terminal where a Chinese character takes two columns; an English notebook's as before."""
    from grader.grade import Grade, QuestionResult, display_width, table

    questions = [QuestionResult("q1", "向量的数值稳定 softmax", 0, 2, "incorrect", "在 [1000] 上返回了 nan"),
                 QuestionResult("q2", "A short title", 2, 2, "correct")]
    chinese = table(Grade("01_softmax", "softmax", "s.ipynb", questions, pass_mark=0.6, language="zh_CN"))
    assert "题目" in chinese and "错误" in chinese and "正确" in chinese and "不及格" in chinese, chinese
    rows = [line for line in chinese.splitlines() if line.startswith("  q")]
    assert len({display_width(row[:row.index("/")]) for row in rows}) == 1, rows  # the points column lines up
    english = table(Grade("01_softmax", "softmax", "s.ipynb", questions, pass_mark=0.6))
    assert "question" in english and " incorrect " in english and "NOT passed" in english, english
    assert "题目" not in english
