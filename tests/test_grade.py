"""The grader, end to end: every "Done when" of the issue, run through `python -m grader` as a learner or a
teacher would, plus fast unit tests of its parts: how cell outcomes become verdicts, the graded copy, the
statements of a lost answer, the sandbox's view of the package, the flags, similarity, and the teacher's report.

Each end-to-end test grades real notebooks (nbval, a kernel, the checks), in the sandbox where it works (and the
hostile suite, tests/test_grade_hostile.py, requires it); a few seconds each.
"""

import ast
import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED
from grader import __main__ as command
from grader import grade as grading
from grader.exercise_cells import ANSWER, CHECK, notebook_text, read_notebook, role
from grader.make_exercises import EXERCISES_DIR, SOLUTIONS_DIR

ROOT = Path(__file__).resolve().parent.parent
IDS = [p.stem for p in sorted(SOLUTIONS_DIR.glob("*.ipynb"))]


def run_grader(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, capture_output=True,
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

@pytest.fixture(scope="module")
def course_folder_graded(tmp_path_factory):
    """Every solution and every untouched learner notebook, copied into one folder and graded as a class would
    be (``--jobs 2 --json``): {learner: row}, and each copy's fingerprint before the grading."""
    folder = tmp_path_factory.mktemp("course") / "class"
    for exercise in IDS:
        for kind, source in (("solution", SOLUTIONS_DIR), ("untouched", EXERCISES_DIR)):
            copy = folder / kind / f"{exercise}.ipynb"
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes((source / f"{exercise}.ipynb").read_bytes())
    before = {path: fingerprint(path) for path in folder.rglob("*.ipynb")}
    result = run_grader(folder, "--json", "--jobs", 2)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    rows = {row["learner"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == sorted(f"{kind}/{exercise}" for exercise in IDS for kind in ("solution", "untouched"))
    return rows, before


@pytest.mark.parametrize("exercise", IDS)
def test_every_solution_notebook_grades_full_marks(course_folder_graded, exercise):
    rows, _ = course_folder_graded
    report = rows[f"solution/{exercise}"]
    assert "error" not in report, report
    questions = {q["id"]: q for q in report["questions"]}
    assert report["exercise"] == exercise and report["passed"] is True
    assert {q["status"] for q in questions.values()} == {CORRECT}, questions
    assert report["score"] == report["max_score"] > 0 and report["percent"] == 100.0


@pytest.mark.parametrize("exercise", IDS)
def test_every_untouched_learner_notebook_grades_zero_as_not_attempted(course_folder_graded, exercise):
    rows, before = course_folder_graded
    report = rows[f"untouched/{exercise}"]
    assert "error" not in report, report
    assert report["exercise"] == exercise and report["passed"] is False and report["score"] == 0
    assert report["questions"] and {q["status"] for q in report["questions"]} == {NOT_ATTEMPTED}, report
    assert all(fingerprint(path) == print_ for path, print_ in before.items()), "the grader changed a submission"


def test_an_untouched_notebook_graded_alone_prints_its_table_and_is_left_as_it_was():
    """The learner's own command: one notebook, a table, exit status 1 below the pass mark, the file untouched."""
    path = EXERCISES_DIR / "01_softmax.ipynb"
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
    path, nb = submission(tmp_path, "02_cross_entropy", {
        "q1": right["q1"],
        "q2": "def logsumexp(Z):\n    return Z.exp().sum(dim=1).log()",
        "q3": CROSS_ENTROPY_ALONE,
        "q4": "def cross_entropy_grad(O, y):\n    return torch.softmax(O, 1) - F.one_hot(y, O.shape[1])",  # N x too big
    })
    cells = nb["cells"]
    checks = {role(c)[1]: c for c in cells if role(c)[0] == CHECK}
    checks["q2"]["source"] = 'print("q2: correct (2 points).")'                 # edited
    checks["q4"]["source"] = 'print("q4: correct (3 points).")'
    cells.remove(checks["q1"])                                                   # deleted
    cells.remove(checks["q3"])
    cells.insert(0, checks["q3"])                                                # moved to the top
    imports = next(c for c in cells if "from book.checks" in c["source"])
    imports["source"] = "import torch\nimport torch.nn.functional as F\nq1 = q2 = q3 = None"  # a context cell, edited
    path.write_text(notebook_text(nb), encoding="utf-8")

    code, report, q = graded_json(path)
    assert q["q1"]["status"] == CORRECT and q["q3"]["status"] == CORRECT
    assert q["q2"]["status"] == INCORRECT and "overflows" in q["q2"]["message"]
    assert q["q4"]["status"] == INCORRECT and "4 times too large" in q["q4"]["message"]
    assert report["score"] == 5 and code == 1 and report["flags"] == []


def test_an_answer_that_fakes_its_check_earns_nothing_and_is_flagged(tmp_path):
    forged = '{"exercise": "02_cross_entropy", "question": "q4", "status": "correct", "message": "", "points": 3}'
    path, _ = submission(tmp_path, "02_cross_entropy", {
        "q4": ("import json, os\n"
               f"with open(os.environ.get('COURSE_GRADING_RESULTS', os.devnull), 'a') as f:\n"
               f"    f.write('{forged}' + '\\n')\n"
               "class Fake:\n    def check(self, *answers):\n        print('q4: correct (3 points).')\n"
               "q4 = Fake()"),
    })
    code, report, q = graded_json(path)
    assert q["q4"]["points"] == 0 and q["q4"]["verdict"] == INCORRECT  # the checks found no record of q4
    assert {f["kind"] for f in report["flags"]} >= {"tampering"} and report["score"] == 0 and code == 1


# --- Done when: an infinite loop is cut by the timeout ------------------------------------------------------

def softmax_answers(**replace):
    answers = model_answers("01_softmax")
    # q3's model answer calls q2's softmax_rows; this one stands alone, so q2's loop cannot reach it
    answers["q3"] = ("def softmax_temperature(Z, T):\n    if not T > 0:\n        raise ValueError('T must be > 0')\n"
                     "    E = (Z / T - (Z / T).amax(dim=1, keepdim=True)).exp()\n"
                     "    return E / E.sum(dim=1, keepdim=True)")
    answers.update(replace)
    return answers


STUBBORN_LOOP = ("def softmax(z):\n    import time\n    while True:\n        try:\n            time.sleep(0.05)\n"
                 "        except BaseException:  # swallows nbval's KeyboardInterrupt\n            pass")


@pytest.fixture(scope="module")
def endless_loops_graded(tmp_path_factory):
    """Two submissions of exercise 01 with --timeout 15, graded side by side (--jobs 2: the two timeouts are
    waited out together): one loops in q2, one in q1 swallowing the interrupt. {learner: report}."""
    folder = tmp_path_factory.mktemp("loops") / "class"
    submission(folder, "01_softmax", softmax_answers(q2="def softmax_rows(Z):\n    while True:\n        pass"),
               name="endless.ipynb")
    submission(folder, "01_softmax", softmax_answers(q1=STUBBORN_LOOP), name="stubborn.ipynb")
    result = run_grader(folder, "--json", "--jobs", 2, "--timeout", 15)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr
    return {row["learner"]: row for row in json.loads(result.stdout)}


def test_an_endless_loop_is_cut_by_the_timeout_and_costs_only_its_question(endless_loops_graded):
    report = endless_loops_graded["endless"]
    q = {question["id"]: question for question in report["questions"]}
    assert q["q2"]["status"] == INCORRECT and "longer than the 15 s limit" in q["q2"]["message"]
    assert [q[i]["status"] for i in ("q1", "q3", "q4")] == [CORRECT] * 3
    assert report["score"] == 6 and report["passed"] is True  # 6 of 8 points passes the 60 % mark


def test_a_loop_that_ignores_the_interrupt_is_cut_too_and_the_rest_is_graded_on_a_second_run(endless_loops_graded):
    q = {question["id"]: question for question in endless_loops_graded["stubborn"]["questions"]}
    assert q["q1"]["status"] == INCORRECT and "could not be interrupted" in q["q1"]["message"]
    assert "costs this question only" in q["q1"]["message"]
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
    assert command.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert complaint in err and "Grade the .ipynb file saved by Jupyter" in err


def test_notebooks_of_no_unknown_or_another_exercise_are_refused(tmp_path, capsys):
    chapter = ROOT / "chapters" / "02_softmax.ipynb"
    assert command.main([str(chapter)]) == 2
    assert "names no exercise" in capsys.readouterr().err
    path, nb = submission(tmp_path, "01_softmax")
    nb["metadata"]["exercise"]["id"] = "07_otto"
    path.write_text(notebook_text(nb), encoding="utf-8")
    assert command.main([str(path)]) == 2
    assert "unknown exercise '07_otto'" in capsys.readouterr().err
    assert command.main([str(EXERCISES_DIR / "01_softmax.ipynb"), "--exercise", "02_cross_entropy"]) == 2
    err = capsys.readouterr().err
    assert "another exercise" in err and "'01_softmax', not '02_cross_entropy'" in err
    assert command.main([str(tmp_path / "missing.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_missing_kernel_is_refused(capsys, monkeypatch):
    notebook = str(EXERCISES_DIR / "01_softmax.ipynb")
    assert command.main([notebook, "--kernel", "no-such-kernel"]) == 2
    err = capsys.readouterr().err
    assert "no Jupyter kernel named 'no-such-kernel'" in err and "ipykernel install" in err
    real = grading.importlib.util.find_spec
    monkeypatch.setattr(grading.importlib.util, "find_spec", lambda name: None if name == "ipykernel" else real(name))
    assert command.main([notebook]) == 2
    assert "ipykernel is not installed" in capsys.readouterr().err


def test_a_broken_set_up_is_the_environments_fault_not_the_learners(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nb = read_notebook(SOLUTIONS_DIR / "01_softmax.ipynb")
    imports = next(c for c in nb["cells"] if "from book.checks" in c["source"])
    imports["source"] = "import no_such_module_for_the_test\n" + imports["source"]
    (solutions / "01_softmax.ipynb").write_text(notebook_text(nb), encoding="utf-8")
    assert command.main([str(EXERCISES_DIR / "01_softmax.ipynb"), "--solutions", str(solutions)]) == 2
    err = capsys.readouterr().err
    assert "set-up failed" in err and "ModuleNotFoundError" in err and "not the submission's fault" in err


def test_a_folder_with_a_file_that_cannot_be_graded_gets_a_row_saying_why(tmp_path, capsys):
    (tmp_path / "dave.ipynb").write_text("not json", encoding="utf-8")
    assert command.main([str(tmp_path)]) == 2
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == 1 and rows[0]["learner"] == "dave" and "not valid JSON" in rows[0]["error"]
    assert "error: dave" in captured.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert command.main([str(empty)]) == 2
    assert "holds no .ipynb notebooks" in capsys.readouterr().err


# --- units: the graded copy, verdicts from cell outcomes, the pass mark --------------------------------------

def test_the_graded_copy_takes_only_answer_cells_from_the_submission():
    pristine = grading.pristine("01_softmax")
    sub = read_notebook(EXERCISES_DIR / "01_softmax.ipynb")
    answers = [c for c in sub["cells"] if role(c)[0] == ANSWER]
    answers[0]["source"] = "def softmax(z):\n    ##\tNBVAL_SKIP \n    return z"  # nbval reads it: it is dropped
    sub["cells"].insert(sub["cells"].index(answers[0]) + 1,
                        {**answers[0], "source": "softmax = None  # a copy of the answer cell"})
    sub["cells"].remove(answers[3])  # q4's answer cell deleted
    for cell in sub["cells"]:
        if role(cell)[0] != ANSWER:
            cell["source"] = "tampered"
    graded, cells, missing = grading.graded_copy(pristine, grading.answers_by_question(sub))
    assert missing == {"q4"}
    assert [c[:2] for c in cells] == [role(c) for c in graded["cells"] if c["cell_type"] == "code"]
    for got, want in zip(graded["cells"], pristine["cells"]):
        r, q = role(want)
        if r == ANSWER and q == "q1":
            assert got["source"] == "def softmax(z):\n\n    return z\n\nsoftmax = None  # a copy of the answer cell"
        elif r == ANSWER and q == "q4":
            assert "NotImplementedError" in got["source"]
        elif r != ANSWER:
            assert got["source"] == want["source"]


def test_after_a_lost_kernel_an_answer_runs_one_statement_per_cell_without_the_one_that_lost_it():
    pristine = grading.pristine("01_softmax")
    source = "import math\n\n@staticmethod\ndef helper(x):\n    return x\n%time y = 1\nwhile True:\n    pass"
    assert grading.statements(source)[1].startswith("@staticmethod\ndef helper")
    assert len(grading.statements(source)) == 4 and "run_line_magic" in grading.statements(source)[2]
    assert grading.statements("def broken(:\n") is None
    attempt = grading.Attempt(split={"q2"}, dropped={"q2": {3}})
    graded, cells, _ = grading.graded_copy(pristine, {"q2": [source]}, attempt)
    q2 = [c["source"] for c in graded["cells"] if role(c) == (ANSWER, "q2")]
    assert q2[:3] == grading.statements(source)[:3] and q2[3].startswith("pass  # left out")
    assert [c[2] for c in cells if c[:2] == (ANSWER, "q2")] == [0, 1, 2, 3]
    attempt = grading.Attempt(stubbed={"q1"}, skipped_checks={"q3"})
    graded, _, _ = grading.graded_copy(pristine, {"q1": ["def softmax(z):\n    return z"]}, attempt)
    assert "NotImplementedError" in next(c["source"] for c in graded["cells"] if role(c) == (ANSWER, "q1"))
    assert next(c["source"] for c in graded["cells"] if role(c) == (CHECK, "q3")).startswith("pass")


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
    status, message = grading.question_verdict("q1", [0], 1, {0: answer, 1: check}, "01_softmax", 30.0, False)
    assert status == expected[0] and expected[1] in message


def test_the_pass_mark():
    def result(points):
        return grading.QuestionResult("q1", "t", points, 10, CORRECT if points else INCORRECT)

    assert grading.Grade("e", "t", "f", [result(6)], 0.6).passed
    assert not grading.Grade("e", "t", "f", [result(5)], 0.6).passed
    assert command.parse_pass_mark("80%") == 0.8 and command.parse_pass_mark("0.5") == 0.5
    with pytest.raises(Exception, match="0 to 1"):
        command.parse_pass_mark("60")


def test_a_kernel_that_cannot_start_is_reported_as_such(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-c", "raise SystemExit(1)"],
                                                  "display_name": "broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    assert command.main([str(EXERCISES_DIR / "01_softmax.ipynb"), "--kernel", "broken"]) == 2
    err = capsys.readouterr().err
    assert "no kernel" in err and "could not start" in err


# --- the Otto-style challenge: planted wrong answers, graded; its checkers, in process -------------------------
# (test_every_solution_notebook_grades_full_marks and ..._learner_notebook_grades_zero... above cover it too.)
# Its exercise id is looked up in the catalog: exercises are renumbered as the course grows.
OTTO = next(e for e in IDS if e.endswith("_otto"))


def otto_checks():
    from book import checks

    return checks.load(OTTO)

OTTO_NO_CLIP = ("def kaggle_log_loss(probabilities, labels):\n"
                "    if probabilities.dim() != 2 or labels.shape != (len(probabilities),):\n"
                "        raise ValueError('expected (N, 9) probabilities and N labels')\n"
                "    p = probabilities.double()\n"
                "    p = p / p.sum(dim=1, keepdim=True)\n"
                "    return -p[torch.arange(len(labels)), labels].log().mean().item()")
# the test rows standardised with their own statistics: the leak the question warns about
OTTO_TEST_STATISTICS = ("def prepare(train_counts, test_counts):\n"
                        "    train, test = torch.log1p(train_counts.float()), torch.log1p(test_counts.float())\n"
                        "    def scaled(x):\n"
                        "        std = x.std(0)\n"
                        "        return (x - x.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))\n"
                        "    return scaled(train), scaled(test)\n\n"
                        "X_train, X_test = prepare(otto.train_features, otto.test_features)")
OTTO_RAW_COUNTS = ("torch.manual_seed(0)\n"
                   "softmax_net = fit(nn.Linear(93, 9), otto.train_features.float(), y_train, num_epochs=5, lr=0.01)")
OTTO_FOUR_DIGITS = ("def write_kaggle_submission(path, ids, probabilities):\n"
                    "    with open(path, 'w') as f:\n"
                    "        f.write('id,' + ','.join(f'Class_{k}' for k in range(1, 10)) + '\\n')\n"
                    "        for i, row in zip(ids.tolist(), probabilities.tolist()):\n"
                    "            f.write(f'{i},' + ','.join(f'{p:.4f}' for p in row) + '\\n')\n\n"
                    "write_kaggle_submission(submission_path, otto.test_ids, torch.full((20_000, 9), 1 / 9))")


def test_otto_challenge_planted_wrong_answers_get_their_specific_messages(tmp_path):
    path, _ = submission(tmp_path, OTTO, {"q1": OTTO_NO_CLIP, "q2": OTTO_TEST_STATISTICS, "q3": OTTO_RAW_COUNTS,
                                               "q5": OTTO_FOUR_DIGITS})
    code, report, q = graded_json(path)
    assert code == 1 and report["score"] == 0 and report["max_score"] == 12
    assert q["q1"]["status"] == INCORRECT and "clip every entry to [1e-15, 1 - 1e-15]" in q["q1"]["message"]
    assert q["q2"]["status"] == INCORRECT and "their own mean and standard deviation" in q["q2"]["message"]
    assert q["q3"]["status"] == INCORRECT and "trained on the raw counts" in q["q3"]["message"]
    assert q["q4"]["status"] == NOT_ATTEMPTED
    assert q["q5"]["status"] == INCORRECT and "too few digits" in q["q5"]["message"]


def otto_log_loss(clip=(1e-15, 1 - 1e-15), renormalise=True, reduce="mean", check_shapes=True, in_place=False):
    def kaggle_log_loss(probabilities, labels):
        import torch

        if check_shapes and (probabilities.dim() != 2 or labels.shape != (len(probabilities),)):
            raise ValueError("expected probabilities (N, 9) and N labels")
        p = probabilities if in_place else probabilities.double()
        p = p.clamp_(*clip) if in_place else p.clamp(*clip)
        if renormalise:
            p = p / p.sum(dim=1, keepdim=True)
        per_row = -p[torch.arange(len(labels)), labels].log()
        return per_row if reduce is None else getattr(per_row, reduce)().item()
    return kaggle_log_loss


def test_otto_challenge_q1_accepts_kaggles_log_loss_and_explains_the_slips():
    otto = otto_checks()
    from book.kaggle import log_loss
    from test_questions import assert_correct, assert_incorrect

    q1 = otto.q1
    assert_correct(q1, otto_log_loss())
    assert_incorrect(q1, otto_log_loss(clip=(0, 1)), says="clip every entry")
    assert_incorrect(q1, otto_log_loss(clip=(1e-15, None)), says="clip both ends")
    assert_incorrect(q1, otto_log_loss(renormalise=False), says="divided by their sum")
    assert_incorrect(q1, otto_log_loss(reduce="sum"), says="the log loss is their mean")
    assert_incorrect(q1, otto_log_loss(reduce=None), says="one value per row")
    assert_incorrect(q1, otto_log_loss(check_shapes=False), says=["4 rows of probabilities and 3 labels",
                                                                  "instead of raising ValueError"])
    assert_incorrect(q1, otto_log_loss(in_place=True), says="in place")
    assert_incorrect(q1, lambda p, y: log_loss(p, y), says="calls book.kaggle.log_loss")


def otto_prepare(kind="log1p", fit_on="train", zero_std=1.0):
    def prepare(train_counts, test_counts):
        import torch

        f = {"log1p": torch.log1p, "raw": lambda x: x}[kind]
        train, test = f(train_counts.float()), f(test_counts.float())
        basis = {"train": train, "both": torch.cat([train, test])}[fit_on]
        mean, std = basis.mean(0), basis.std(0)
        std = torch.where(std > 0, std, torch.full_like(std, zero_std))
        return (train - mean) / std, (test - mean) / std
    return prepare


def test_otto_challenge_q2_wants_log1p_and_the_training_statistics_only():
    import torch

    otto = otto_checks()
    from test_questions import assert_correct, assert_incorrect

    q2 = otto.q2
    assert_correct(q2, otto_prepare())
    assert_incorrect(q2, otto_prepare(kind="raw"), says="take log1p of the counts first")
    assert_incorrect(q2, otto_prepare(fit_on="both"), says="the test rows leak into them")
    assert_incorrect(q2, otto_prepare(zero_std=0.0), says="standard deviation in the training rows is 0")
    assert_incorrect(q2, lambda tr, te: (torch.log1p(tr.float()), torch.log1p(te.float())), says="not standardised")
    assert_incorrect(q2, lambda tr, te: otto_prepare()(tr, te)[0], says="expected two tensors")


def test_otto_challenge_q3_and_q4_score_models_on_fresh_rows_and_say_what_is_wrong():
    import torch
    from torch import nn

    otto = otto_checks()
    from book.data import FastLoader
    from book.mlp import MLP
    from test_questions import assert_correct, assert_incorrect

    q3, q4, prepare = otto.q3, otto.q4, otto_prepare()
    data = otto.otto_data()
    X_train, _ = prepare(data.train_features, data.test_features[:1])
    torch.manual_seed(0)
    net = nn.Linear(93, 9)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for X, y in FastLoader(X_train, data.train_labels, batch_size=256, seed=0, device="cpu"):  # one epoch
        loss = torch.nn.functional.cross_entropy(net(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert_correct(q3, net, prepare)
    assert net.training, "the check restores the model's mode"
    assert_incorrect(q3, nn.Linear(93, 9), prepare, says="no better than guessing the training class shares")
    assert_incorrect(q3, nn.Sequential(net, nn.Softmax(dim=1)), prepare, says="ends in a softmax")
    assert_incorrect(q3, MLP((93, 16, 9)), prepare, says="hidden layers and activations belong to q4")
    assert_incorrect(q3, nn.Linear(93, 9, bias=False), prepare, says="has 837 parameters")
    assert_incorrect(q4, net, prepare, says="linear function of its input")
    assert_incorrect(q4, "mlp", prepare, says="should be a trained model")
    assert_incorrect(q4, MLP((93, 16, 9)), prepare, says="log loss of")


def otto_writer(digits=9, header=True, index=False):
    def write_kaggle_submission(path, ids, probabilities):
        with open(path, "w") as f:
            if header:
                f.write(("," if index else "") + "id," + ",".join(f"Class_{k}" for k in range(1, 10)) + "\n")
            for n, (i, row) in enumerate(zip(ids.tolist(), probabilities.tolist())):
                f.write((f"{n}," if index else "") + f"{i}," + ",".join(f"{p:.{digits}g}" for p in row) + "\n")
    return write_kaggle_submission


def test_otto_challenge_q5_wants_a_file_kaggle_accepts(tmp_path):
    import torch

    otto = otto_checks()
    from book.kaggle import write_submission
    from test_questions import assert_correct, assert_incorrect

    q5 = otto.q5
    data = otto.otto_data()
    mine = tmp_path / "submission.csv"
    otto_writer()(mine, data.test_ids, torch.full((len(data.test_ids), 9), 1 / 9))
    assert_correct(q5, otto_writer(), mine)
    assert_incorrect(q5, otto_writer(digits=3), mine, says="too few digits")
    assert_incorrect(q5, otto_writer(header=False), mine, says="the header line is missing")
    assert_incorrect(q5, otto_writer(index=True), mine, says="index=False")
    assert_incorrect(q5, lambda path, ids, p: write_submission(path, ids, p), mine,
                     says="calls book.kaggle.write_submission")
    assert_incorrect(q5, otto_writer(), tmp_path / "nothing.csv", says="there is no file at submission_path")
    few = tmp_path / "few.csv"
    otto_writer()(few, data.test_ids[:100], torch.full((100, 9), 1 / 9))
    assert_incorrect(q5, otto_writer(), few, says="19900 ids missing")


# --- the sandbox's view of the package, the flags, similarity, the report ---------------------------------

def test_the_sandbox_gets_the_exercise_context_and_a_recording_stand_in_never_the_answer_key(tmp_path):
    from grader.stage import stage

    staged = stage("01_softmax", grading.pristine("01_softmax"), tmp_path)
    shipped = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.py")}
    assert "book/checks/ex01_softmax.py" in shipped and "book/protocol.py" in shipped
    for key in ("book/softmax.py", "book/checks/common.py", "book/checks/ex02_cross_entropy.py"):
        assert key not in shipped, key
    # the grader is a package of its own (grader/), never in the copy, and nothing the copy holds needs it
    assert {Path(p).parts[0] for p in shipped} == {"book"}, shipped
    assert {"book/nbval_outcomes.py", "book/questions.py", "book/plain_data.py"} <= shipped  # what the run loads
    for path in tmp_path.rglob("*.py"):
        imported = {alias.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not {m for m in imported if m.split(".")[0] in ("grader", "benchmarks")}, path
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")) == [], \
        "the sandbox's package holds only modules (no data: catalog.json carries the model answers)"
    stand_in = (tmp_path / "book/checks/ex01_softmax.py").read_text()
    assert "stand_ins" in stand_in and "def " not in stand_in and "import torch" not in stand_in
    assert staged.judged_outside and "book.softmax" in staged.hidden
    assert staged.key == {m for m in staged.hidden if m.startswith(("book.checks.", "book.softmax"))}
    from book import checks
    from grader.stage import checks_module_name, judged_outside, module_file

    for exercise in IDS:  # read from the source, as staging does, it says what importing the module says
        module = checks.load(exercise)
        assert judged_outside(module_file(checks_module_name(exercise))) == all(
            q.judged_outside for q in module.QUESTIONS)


def test_flags_name_what_an_answer_reaches_for_and_which_points_they_withhold():
    from grader.evasions import scan, withheld

    forbidden, hidden, questions = {"softmax", "_softmax"}, {"book.softmax"}, {"q1", "q2"}

    def kinds(source, q="q1"):
        return {(f.kind, f.detail) for f in scan(q, source, forbidden, hidden, questions)}

    assert kinds("def softmax(z):\n    e = (z - z.max()).exp()\n    return e / e.sum()\nprint(q1)\nq1.hint()") == set()
    assert ("forbidden", "uses torch.softmax") in kinds("f = lambda z: torch.softmax(z, 0)")
    assert ("forbidden", "uses torch.ops.aten._softmax") in kinds("torch.ops.aten._softmax.default(z, 0, 0)")
    assert ("forbidden", "uses softmax through getattr") in kinds("getattr(torch, 'softmax')")
    assert any(k == "unusual" for k, _ in kinds("getattr(torch, 'soft' + 'max')"))
    assert any(k == "answer-key" for k, _ in kinds("from book.softmax import softmax"))
    assert any(k == "answer-key" for k, _ in kinds("open('exercises/solutions/01_softmax.ipynb')"))
    for tampering in ("q1 = None", "q2.points = 9", "type(q1).check = print", "torch.allclose = print",
                      "get_ipython().set_custom_exc((Exception,), print)", "import sys\nsys.modules['x'] = 1",
                      "class T(torch.Tensor):\n    pass", "import book.protocol", "os.kill(1, 9)",
                      "open(os.environ['COURSE_GRADING_RECORDS'])", "##NBVAL_SKIP\nx = 1", "q1.check(print)"):
        assert any(k == "tampering" for k, _ in kinds(tampering)), tampering
    assert kinds("%time x = 1\nfrom IPython.display import display\nimport gc\ngc.collect()") <= {
        ("unusual", "imports gc")}
    flags = scan("q1", "torch.softmax(z, 0)", forbidden, hidden, questions) + \
        scan("q2", "from book.softmax import entropy", forbidden, hidden, questions)
    assert set(withheld(flags, ["q1", "q2", "q3"])) == {"q1", "q2", "q3"}  # forbidden: q1; answer key: q2 onwards
    assert set(withheld(scan("q3", "q1.points = 9", (), (), questions), ["q1", "q2", "q3"])) == {"q1", "q2", "q3"}
    assert withheld(scan("q1", "getattr(torch, name)", (), (), questions), ["q1"]) == {}


def test_identical_answers_up_to_formatting_and_names():
    from grader.similarity import canonical, fingerprint

    one = "def softmax(z):\n    e = torch.exp(z - z.max())\n    return e / e.sum()"
    two = 'def softmax(logits):\n    """Doc."""\n    # stable\n    exps = torch.exp(logits - logits.max())  # shift\n' \
          "\n    return exps / exps.sum()"
    other = "def softmax(z):\n    e = torch.exp(z - z.max())\n    return e / torch.sum(e)"
    assert fingerprint(one).digest == fingerprint(two).digest != fingerprint(other).digest
    assert canonical("x = torch.ones(3)") != canonical("x = torch.zeros(3)")  # the API called keeps its name
    assert canonical("def f(:") is None and fingerprint("%time y = 1") is not None


def test_the_teachers_report_counts_questions_learners_flags_and_identical_answers():
    from grader.evasions import Flag
    from grader.report import report
    from grader.similarity import fingerprint

    model = model_answers("01_softmax")

    def a_grade(points, sources, flags=()):
        qs = [grading.QuestionResult(f"q{i}", f"t{i}", p, 2, CORRECT if p else INCORRECT,
                                    "" if p else f"on {i} random logits, off by 0.0{i}") for i, p in
              enumerate(points, 1)]
        return grading.Grade("01_softmax", "Softmax", "f", qs, 0.6, flags=list(flags), sandbox="bubblewrap",
                            fingerprints={q: fingerprint(s) for q, s in sources.items()})

    copied = {"q1": model["q1"].replace("e =", "exps =").replace("e /", "exps /").replace("e.sum", "exps.sum")}
    rows = [("alice", Path("a"), a_grade([2, 2, 2, 2], model)),
            ("bob", Path("b"), a_grade([2, 0, 0, 0], copied, [Flag("q2", "tampering", "rebinds q2")])),
            ("carol", Path("c"), a_grade([0, 0, 0, 0], {"q1": "def softmax(z):\n    return z.exp() / z.exp().sum()"})),
            ("dave", Path("d"), "not a notebook: it is not valid JSON")]
    text = report(rows)
    assert "4 files: 3 graded, 1 could not be graded" in text
    assert "| q1 t1 | 2 | 2 | 1 | 0 | outside |" in text
    assert "q2 (2×)" in text  # the same failure on different random numbers is one message
    assert "| bob | 2/8 | 25 | no | 1 |" in text and "| bob | q2 | tampering | rebinds q2 |" in text
    assert "q1: identical to the model solution: alice, bob" in text
    assert "| dave | not a notebook: it is not valid JSON |" in text


def test_sandbox_uids_come_from_the_range_the_environment_names_and_a_bad_range_is_refused(monkeypatch):
    from grader import sandbox

    monkeypatch.setenv(sandbox.UID_RANGE_ENV, "1100000000-1100005000")
    assert all(1_100_000_000 <= sandbox.Sandbox().uid < 1_100_005_000 for _ in range(50))
    for bad in ("5-10", "1100000000-1100000010", "1200000000-1100000000", "soon", "1100000000-4294967295"):
        monkeypatch.setenv(sandbox.UID_RANGE_ENV, bad)
        with pytest.raises(ValueError, match="expected LOW-HIGH"):
            sandbox.uid_range()
    monkeypatch.delenv(sandbox.UID_RANGE_ENV)
    assert sandbox.uid_range() == sandbox.UID_RANGE


def test_the_sandbox_command_shows_only_the_allow_list_and_drops_every_privilege(tmp_path):
    from grader import sandbox

    box = sandbox.Sandbox(readonly=[tmp_path / "in"], writable=[tmp_path / "work"],
                          overlays={Path("/x/book"): tmp_path / "stage"})
    (tmp_path / "in").mkdir()
    command = box.command(["python"])
    text = " ".join(command)
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session", "--remount-ro /",
                 f"--ro-bind {tmp_path / 'in'} {tmp_path / 'in'}", f"--bind {tmp_path / 'work'} {tmp_path / 'work'}",
                 f"--ro-bind {tmp_path / 'stage'} /x/book", "--nproc=", "--as=", "--fsize="):
        assert flag in text, flag
    assert "--ro-bind / /" not in text and f"bind {ROOT} " not in text  # no view of the whole machine or repo
    if box.privileged:
        assert f"--reuid={box.uid}" in text and "--no-new-privs" in text and "--clear-groups" in text
        assert sandbox.UID_RANGE[0] <= box.uid < sandbox.UID_RANGE[1]
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "f").write_bytes(b"x" * 5000)
    assert 5000 <= sandbox.disk_usage([tmp_path / "work"], 10 ** 6) < 20000
