"""The grader, end to end: every "Done when" of the issue, run through `python -m book.grade` as a learner or a
teacher would, plus fast unit tests of how cell outcomes become verdicts.

Each end-to-end test grades real notebooks (nbval, a kernel, the checks), a few seconds each.
"""

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from book import grade as grader
from book.exercise_cells import ANSWER, CHECK, notebook_text, read_notebook, role
from book.make_exercises import EXERCISES_DIR, SOLUTIONS_DIR
from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED

ROOT = Path(__file__).resolve().parent.parent
IDS = [p.stem for p in sorted(SOLUTIONS_DIR.glob("*.ipynb"))]


def run_grader(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "book.grade", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def graded_json(*args):
    result = run_grader(*args, "--json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return result.returncode, report, {q["id"]: q for q in report["questions"]}


def model_answers(exercise):
    return {role(c)[1]: c["source"] for c in read_notebook(SOLUTIONS_DIR / f"{exercise}.ipynb")["cells"]
            if role(c)[0] == ANSWER}


# A right cross_entropy for exercise 02 that does not call the learner's pick and logsumexp (q1, q2)
CROSS_ENTROPY_ALONE = ("def cross_entropy(O, y):\n    m = O.amax(dim=1, keepdim=True)\n"
                       "    lse = (m + (O - m).exp().sum(dim=1, keepdim=True).log()).squeeze(1)\n"
                       "    return (lse - O[torch.arange(len(y)), y]).mean()")


def submission(tmp_path, exercise, answers=None, name=None):
    """The learner notebook of ``exercise`` with some answer cells filled in; returns (path, notebook dict)."""
    nb = read_notebook(EXERCISES_DIR / f"{exercise}.ipynb")
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == ANSWER and answers and q in answers:
            cell["source"] = answers[q]
    path = tmp_path / (name or f"{exercise}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(nb), encoding="utf-8")
    return path, nb


def fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


# --- Done when: solutions 100 %, untouched learner notebooks 0 -----------------------------------------------

@pytest.mark.parametrize("exercise", IDS)
def test_every_solution_notebook_grades_full_marks(exercise):
    code, report, questions = graded_json(SOLUTIONS_DIR / f"{exercise}.ipynb")
    assert code == 0
    assert report["exercise"] == exercise and report["passed"] is True
    assert {q["status"] for q in questions.values()} == {CORRECT}, questions
    assert report["score"] == report["max_score"] > 0 and report["percent"] == 100.0


@pytest.mark.parametrize("exercise", IDS)
def test_every_untouched_learner_notebook_grades_zero_as_not_attempted(exercise):
    path = EXERCISES_DIR / f"{exercise}.ipynb"
    before = fingerprint(path)
    result = run_grader(path)
    assert result.returncode == 1, result.stdout + result.stderr  # graded (no crash), below the pass mark
    rows = [line for line in result.stdout.splitlines() if line.strip()[:2] in {f"q{i}" for i in range(1, 10)}]
    assert rows and all("not attempted" in row and " 0/" in row for row in rows), result.stdout
    assert "total 0/" in result.stdout and "NOT passed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert fingerprint(path) == before


# --- Done when: a planted wrong answer, an exception, the learner's file ------------------------------------

def test_planted_wrong_answers_get_their_specific_messages_and_an_exception_costs_only_its_question(tmp_path):
    right = model_answers("02_cross_entropy")
    path, _ = submission(tmp_path, "02_cross_entropy", {
        "q1": "def pick(y_hat, y):\n    return y_hat[:, y]",                          # the classic indexing slip
        "q2": "def logsumexp(Z):\n    return Z.exp().sum(dim=1).log()",               # overflows
        "q3": CROSS_ENTROPY_ALONE + "\nraise ValueError('planted')",                  # an exception in the cell
        "q4": right["q4"],
    })
    before = fingerprint(path)
    code, report, q = graded_json(path)
    assert fingerprint(path) == before, "the learner's file must be byte-identical (and untouched) after grading"
    assert code == 1 and report["score"] == 3 and report["max_score"] == 10
    assert q["q1"]["status"] == INCORRECT and "shape (4, 4)" in q["q1"]["message"]
    assert q["q2"]["status"] == INCORRECT and "overflows" in q["q2"]["message"] and "1000" in q["q2"]["message"]
    assert q["q3"]["status"] == INCORRECT and "raised ValueError: planted" in q["q3"]["message"]
    assert q["q4"]["status"] == CORRECT


def test_deleted_edited_and_moved_check_cells_are_graded_on_the_restored_checks(tmp_path):
    right = model_answers("02_cross_entropy")
    forged = ('{"exercise": "02_cross_entropy", "question": "q4", "status": "correct", "message": "", "points": 3}')
    path, nb = submission(tmp_path, "02_cross_entropy", {
        "q1": right["q1"],
        "q2": "def logsumexp(Z):\n    return Z.exp().sum(dim=1).log()",
        "q3": CROSS_ENTROPY_ALONE,
        # a wrong gradient (N times too large), a forged verdict in the grader's file, and a fake q4
        "q4": ("import json, os\n"
               "def cross_entropy_grad(O, y):\n    return torch.softmax(O, 1) - F.one_hot(y, O.shape[1])\n"
               f"with open(os.environ.get('COURSE_GRADING_RESULTS', os.devnull), 'a') as f:\n"
               f"    f.write('{forged}' + '\\n')\n"
               "class Fake:\n    def check(self, *answers):\n        print('q4: correct (3 points).')\n"
               "q4 = Fake()"),
    })
    cells = nb["cells"]
    checks = {role(c)[1]: c for c in cells if role(c)[0] == CHECK}
    checks["q2"]["source"] = 'print("q2: correct (2 points).")'                 # edited
    cells.remove(checks["q1"])                                                   # deleted
    cells.remove(checks["q3"])
    cells.insert(0, checks["q3"])                                                # moved to the top
    imports = next(c for c in cells if "from book.checks" in c["source"])
    imports["source"] = "import torch\nimport torch.nn.functional as F\nq1 = q2 = q3 = None"  # a context cell, edited
    path.write_text(notebook_text(nb), encoding="utf-8")

    code, report, q = graded_json(path)
    assert q["q1"]["status"] == CORRECT and q["q3"]["status"] == CORRECT
    assert q["q2"]["status"] == INCORRECT and "overflows" in q["q2"]["message"]
    assert q["q4"]["status"] == INCORRECT and "no verdict" in q["q4"]["message"]
    assert report["score"] == 5 and code == 1


# --- Done when: an infinite loop is cut by the timeout ------------------------------------------------------

def softmax_answers(**replace):
    answers = model_answers("01_softmax")
    # q3's model answer calls q2's softmax_rows; this one stands alone, so q2's loop cannot reach it
    answers["q3"] = ("def softmax_temperature(Z, T):\n    if not T > 0:\n        raise ValueError('T must be > 0')\n"
                     "    E = (Z / T - (Z / T).amax(dim=1, keepdim=True)).exp()\n"
                     "    return E / E.sum(dim=1, keepdim=True)")
    answers.update(replace)
    return answers


def test_an_endless_loop_is_cut_by_the_timeout_and_costs_only_its_question(tmp_path):
    path, _ = submission(tmp_path, "01_softmax", softmax_answers(
        q2="def softmax_rows(Z):\n    while True:\n        pass"))
    code, report, q = graded_json(path, "--timeout", 6)
    assert q["q2"]["status"] == INCORRECT and "longer than the 6 s limit" in q["q2"]["message"]
    assert [q[i]["status"] for i in ("q1", "q3", "q4")] == [CORRECT] * 3
    assert report["score"] == 6 and code == 0  # 6 of 8 points passes the 60 % mark


def test_a_loop_that_ignores_the_interrupt_is_cut_too_and_the_rest_is_graded_on_a_second_run(tmp_path):
    stubborn = ("def softmax(z):\n    import time\n    while True:\n        try:\n            time.sleep(0.05)\n"
                "        except BaseException:  # swallows nbval's KeyboardInterrupt\n            pass")
    path, _ = submission(tmp_path, "01_softmax", softmax_answers(q1=stubborn))
    code, report, q = graded_json(path, "--timeout", 6)
    assert q["q1"]["status"] == INCORRECT and "could not be interrupted" in q["q1"]["message"]
    assert [q[i]["status"] for i in ("q2", "q3", "q4")] == [CORRECT] * 3


# --- Done when: a folder of three submissions gives a three-row CSV -----------------------------------------

def test_a_folder_of_three_submissions_gives_a_three_row_csv(tmp_path):
    folder = tmp_path / "submissions"
    submission(folder, "01_softmax", model_answers("01_softmax"), name="alice.ipynb")
    submission(folder, "01_softmax", None, name="bob.ipynb")
    submission(folder, "01_softmax", softmax_answers(q1="def softmax(z):\n    return z.exp() / z.exp().sum()"),
               name="carol/01_softmax.ipynb")
    out = tmp_path / "grades.csv"
    result = run_grader(folder, "--csv", out, "--jobs", 2)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["learner"] for r in rows] == ["alice", "bob", "carol/01_softmax"]
    assert [int(r["score"]) for r in rows] == [8, 0, 6]
    assert [r["passed"] for r in rows] == ["yes", "no", "yes"]
    assert rows[2]["q1"] == "0" and rows[2]["q1_status"] == INCORRECT and rows[1]["q3_status"] == NOT_ATTEMPTED
    assert "wrote" in result.stdout


# --- clear errors: exit status 2 and a message that names the fix -------------------------------------------

@pytest.mark.parametrize("content, complaint", [
    (b"print('hello')\n", "not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not text"),
    (b'{"cells": "none"}', "not an nbformat 4 notebook"),
])
def test_a_file_that_is_not_a_notebook_is_refused(tmp_path, capsys, content, complaint):
    path = tmp_path / "answer.ipynb"
    path.write_bytes(content)
    assert grader.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert complaint in err and "Grade the .ipynb file saved by Jupyter" in err


def test_notebooks_of_no_unknown_or_another_exercise_are_refused(tmp_path, capsys):
    chapter = ROOT / "chapters" / "02_softmax.ipynb"
    assert grader.main([str(chapter)]) == 2
    assert "names no exercise" in capsys.readouterr().err
    path, nb = submission(tmp_path, "01_softmax")
    nb["metadata"]["exercise"]["id"] = "07_otto"
    path.write_text(notebook_text(nb), encoding="utf-8")
    assert grader.main([str(path)]) == 2
    assert "unknown exercise '07_otto'" in capsys.readouterr().err
    assert grader.main([str(EXERCISES_DIR / "01_softmax.ipynb"), "--exercise", "02_cross_entropy"]) == 2
    err = capsys.readouterr().err
    assert "another exercise" in err and "'01_softmax', not '02_cross_entropy'" in err
    assert grader.main([str(tmp_path / "missing.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_missing_kernel_is_refused(capsys, monkeypatch):
    notebook = str(EXERCISES_DIR / "01_softmax.ipynb")
    assert grader.main([notebook, "--kernel", "no-such-kernel"]) == 2
    err = capsys.readouterr().err
    assert "no Jupyter kernel named 'no-such-kernel'" in err and "ipykernel install" in err
    real = grader.importlib.util.find_spec
    monkeypatch.setattr(grader.importlib.util, "find_spec", lambda name: None if name == "ipykernel" else real(name))
    assert grader.main([notebook]) == 2
    assert "ipykernel is not installed" in capsys.readouterr().err


def test_a_broken_set_up_is_the_environments_fault_not_the_learners(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nb = read_notebook(SOLUTIONS_DIR / "01_softmax.ipynb")
    imports = next(c for c in nb["cells"] if "from book.checks" in c["source"])
    imports["source"] = "import no_such_module_for_the_test\n" + imports["source"]
    (solutions / "01_softmax.ipynb").write_text(notebook_text(nb), encoding="utf-8")
    assert grader.main([str(EXERCISES_DIR / "01_softmax.ipynb"), "--solutions", str(solutions)]) == 2
    err = capsys.readouterr().err
    assert "set-up failed" in err and "ModuleNotFoundError" in err and "not the submission's fault" in err


def test_a_folder_with_a_file_that_cannot_be_graded_gets_a_row_saying_why(tmp_path, capsys):
    (tmp_path / "dave.ipynb").write_text("not json", encoding="utf-8")
    assert grader.main([str(tmp_path)]) == 2
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == 1 and rows[0]["learner"] == "dave" and "not valid JSON" in rows[0]["error"]
    assert "error: dave" in captured.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert grader.main([str(empty)]) == 2
    assert "holds no .ipynb notebooks" in capsys.readouterr().err


# --- units: the graded copy, verdicts from cell outcomes, the pass mark --------------------------------------

def test_the_graded_copy_takes_only_answer_cells_from_the_submission():
    pristine = grader.pristine("01_softmax")
    sub = read_notebook(EXERCISES_DIR / "01_softmax.ipynb")
    answers = [c for c in sub["cells"] if role(c)[0] == ANSWER]
    answers[0]["source"] = "def softmax(z):\n    # NBVAL_SKIP\n    return z"  # the nbval marker is dropped
    sub["cells"].insert(sub["cells"].index(answers[0]) + 1,
                        {**answers[0], "source": "softmax = None  # a copy of the answer cell"})
    sub["cells"].remove(answers[3])  # q4's answer cell deleted
    for cell in sub["cells"]:
        if role(cell)[0] != ANSWER:
            cell["source"] = "tampered"
    graded, missing = grader.graded_copy(pristine, sub)
    assert missing == {"q4"}
    for got, want in zip(graded["cells"], pristine["cells"]):
        r, q = role(want)
        if r == ANSWER and q == "q1":
            assert got["source"] == "def softmax(z):\n\n    return z\n\nsoftmax = None  # a copy of the answer cell"
        elif r == ANSWER and q == "q4":
            assert "NotImplementedError" in got["source"]
        elif r != ANSWER:
            assert got["source"] == want["source"]


def outcome(cell, passed=True, verdicts=(), **error):
    return {"cell": cell, "passed": passed, "verdicts": list(verdicts), **error}


def verdict_of(q, status):
    return {"exercise": "01_softmax", "question": q, "status": status, "message": f"{q} {status}"}


@pytest.mark.parametrize("answer, check, expected", [
    (outcome(0), outcome(1, verdicts=[verdict_of("q1", CORRECT)]), (CORRECT, "q1 correct")),
    (outcome(0), outcome(1, True), (INCORRECT, "no verdict")),
    (outcome(0), outcome(1, True, [verdict_of("q2", CORRECT)]), (INCORRECT, "no verdict")),  # another question's
    (outcome(0, False, ename="ValueError", evalue="x"), outcome(1, verdicts=[verdict_of("q1", CORRECT)]),
     (INCORRECT, "every cell of a question")),
    (outcome(0, False, ename="NotImplementedError", evalue="x"), outcome(1, False, ename="NameError", evalue="n"),
     (NOT_ATTEMPTED, "NotImplementedError")),
    (outcome(0, False, timed_out=True), outcome(1, False, ename="NameError"), (INCORRECT, "30 s limit")),
    (outcome(0), outcome(1, False, timed_out=True), (INCORRECT, "the check of your answer")),
    (outcome(0), outcome(1, False, [verdict_of("q1", INCORRECT)], ename="CheckFailed"), (INCORRECT, "q1 incorrect")),
    (outcome(0), outcome(1, False, ename="NameError", evalue="name 'f' is not defined"), (INCORRECT, "define it")),
])
def test_how_cell_outcomes_become_a_verdict(answer, check, expected):
    status, message = grader.question_verdict("q1", [0], 1, {0: answer, 1: check}, "01_softmax", 30.0, False)
    assert status == expected[0] and expected[1] in message


def test_the_pass_mark():
    def result(points):
        return grader.QuestionResult("q1", "t", points, 10, CORRECT if points else INCORRECT)

    assert grader.Grade("e", "t", "f", [result(6)], 0.6).passed
    assert not grader.Grade("e", "t", "f", [result(5)], 0.6).passed
    assert grader.parse_pass_mark("80%") == 0.8 and grader.parse_pass_mark("0.5") == 0.5
    with pytest.raises(Exception, match="0 to 1"):
        grader.parse_pass_mark("60")


def test_a_kernel_that_cannot_start_is_reported_as_such(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-c", "raise SystemExit(1)"],
                                                  "display_name": "broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    assert grader.main([str(EXERCISES_DIR / "01_softmax.ipynb"), "--kernel", "broken"]) == 2
    err = capsys.readouterr().err
    assert "no kernel" in err and "could not start" in err
