"""The exercise notebooks: generated from the solutions, never stale, well formed, and not published; and the
checkers of the questions that test_questions.py leaves to this file (exercises 03 and 06, the dropout and
evaluation-mode questions of the MLP exercise, and the two challenges judged on held-out images), on right
answers and on the mistakes learners make.

Nothing here executes a notebook (the grading tests and nbval over exercises/solutions do).
"""

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from book import checks
from book.questions import exercise_catalog
from grader.exercise_cells import (ANSWER, CHECK, ExerciseFormatError, blocks, check_structure, exercise_id,
                                   learner_notebook, learner_source, notebook_text, read_notebook, role,
                                   solution_source)
from grader.make_exercises import CATALOG_PATH, EXERCISES_DIR, SOLUTIONS_DIR, generate, main, stale
from test_notebooks import setup_cell_source

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
IDS = [p.stem for p in SOLUTIONS]


def test_there_is_one_exercise_per_stage_in_reading_order_each_with_a_checks_module():
    assert IDS == ["01_softmax", "02_cross_entropy", "03_data", "04_training", "05_autograd_concise",
                   "06_generalisation", "07_mlp", "08_otto"]
    assert checks.exercise_ids() == IDS
    assert list(exercise_catalog()) == IDS
    for exercise in exercise_catalog().values():
        assert 3 <= len(exercise["questions"]) <= 6
        assert all(q["points"] >= 1 for q in exercise["questions"])


def test_the_committed_learner_notebooks_and_catalog_are_exactly_what_the_solutions_generate():
    problems = stale(generate())
    assert problems == [], "\n".join(problems) + "\nRegenerate with `python -m grader.make_exercises`."


def test_make_exercises_check_reports_a_stale_notebook_and_regenerates_it(tmp_path, capsys):
    learner_dir = tmp_path / "exercises"
    learner_dir.mkdir()
    outputs = generate(SOLUTIONS_DIR, learner_dir)
    for path, text in outputs.items():
        if path.is_relative_to(learner_dir):  # the learner notebooks, English and translated (exercises/zh_CN/)
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    assert stale(outputs, learner_dir) == []
    edited = learner_dir / "02_cross_entropy.ipynb"
    edited.write_text(edited.read_text().replace("def pick(", "def pick_it("), encoding="utf-8")
    (learner_dir / "99_orphan.ipynb").write_text("{}", encoding="utf-8")
    problems = stale(outputs, learner_dir)
    assert any("02_cross_entropy.ipynb: stale" in p for p in problems)
    assert any("99_orphan.ipynb: no solutions notebook" in p for p in problems)
    assert main(["--check"]) == 0  # the repository's own files are current
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_solutions_notebook_is_well_formed(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["exercise"]["id"] == path.stem
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Exercise")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == setup_cell_source(), "the first code cell is the chapters' set-up cell (Colab)"
    assert all(not c.outputs and c.execution_count is None for c in code), "committed without outputs"
    check_structure(read_notebook(path), path.name)
    module = checks.load(path.stem)
    assert [q for r, q in map(role, read_notebook(path)["cells"]) if r == CHECK] == [q.id for q in module.QUESTIONS]
    imports = "\n".join(c.source for c in code[:3])
    assert f"from book.checks.ex{path.stem} import " + ", ".join(q.id for q in module.QUESTIONS) in imports


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_learner_notebook_holds_stubs_and_none_of_the_model_answers(path):
    solution = read_notebook(path)
    learner = read_notebook(EXERCISES_DIR / path.name)
    nbformat.validate(nbformat.read(EXERCISES_DIR / path.name, as_version=4))
    assert exercise_id(learner) == path.stem
    learner_text = json.dumps(learner)
    assert "BEGIN SOLUTION" not in learner_text and "END SOLUTION" not in learner_text
    assert not any(role(c)[0] == "solution-only" for c in learner["cells"])
    for cell in solution["cells"]:
        r, q = role(cell)
        if r != ANSWER:
            continue
        lines = cell["source"].splitlines()
        for begin, end in blocks(cell["source"]):
            for line in lines[begin + 1:end]:
                code = line.strip()
                if len(code) > 12 and not code.startswith("#"):  # any substantial line of a model answer
                    assert code not in learner_text, f"{path.name} {q}: the learner notebook contains {code!r}"
    answers = [c["source"] for c in learner["cells"] if role(c)[0] == ANSWER]
    assert all("NotImplementedError" in a or "= ____" in a for a in answers)


def test_stubs_keep_the_indentation_and_blank_simple_assignments():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n\n"
              "### BEGIN SOLUTION\nlr = 0.1\nbatch_size, epochs = 32, 2\n### END SOLUTION\nprint(lr)")
    assert learner_source(source) == (
        'def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError("write your answer here")\n\n'
        "lr = ____\nbatch_size = ____\nepochs = ____\nprint(lr)")
    assert solution_source(source) == ("def f(x):\n    y = x + 1\n    return y\n\nlr = 0.1\nbatch_size, epochs = "
                                       "32, 2\nprint(lr)")
    assert learner_source("### BEGIN SOLUTION\nif x == 1:\n    y = 2\n### END SOLUTION").endswith(
        'raise NotImplementedError("write your answer here")')


@pytest.mark.parametrize("source, complaint", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "never opened"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_unbalanced_solution_markers_are_reported_with_their_line(source, complaint):
    with pytest.raises(ExerciseFormatError, match=complaint):
        blocks(source)


def small_notebook(*cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"exercise": {"id": "00_toy"}},
            "cells": [{"cell_type": "code", "source": src, "metadata": {"exercise": meta} if meta else {},
                       "outputs": [], "execution_count": None} for src, meta in cells]}


ANSWER_Q1 = ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
             {"role": "answer", "question": "q1"})
CHECK_Q1 = ("q1.check(f)", {"role": "check", "question": "q1"})


@pytest.mark.parametrize("cells, complaint", [
    ([CHECK_Q1, ANSWER_Q1], "no answer cell before it"),
    ([ANSWER_Q1], "no check cell for q1"),
    ([ANSWER_Q1, ("print(1)", None), CHECK_Q1], "right after its answer cell"),
    ([ANSWER_Q1, ("print(q1)", {"role": "check", "question": "q1"})], "must start with q1.check"),
    ([ANSWER_Q1, CHECK_Q1, ("### BEGIN SOLUTION\n### END SOLUTION", None)], "not an answer cell"),
    ([("x = 1", {"role": "answer", "question": "q1"}), CHECK_Q1], "has no '### BEGIN SOLUTION'"),
])
def test_malformed_solutions_notebooks_are_rejected_saying_what_to_fix(cells, complaint):
    with pytest.raises(ExerciseFormatError, match=complaint):
        learner_notebook(small_notebook(*cells))


def test_a_blank_stub_needs_the_blank_imported():
    answer = ("### BEGIN SOLUTION\nlr = 0.1\n### END SOLUTION", {"role": "answer", "question": "q1"})
    with pytest.raises(ExerciseFormatError, match="import it"):
        learner_notebook(small_notebook(answer, ("q1.check(lr)", CHECK_Q1[1])))
    learner = learner_notebook(small_notebook(("from book.questions import ____", None), answer,
                                              ("q1.check(lr)", CHECK_Q1[1])))
    assert learner["cells"][1]["source"] == "lr = ____"


def test_notebook_text_is_what_nbformat_writes():
    path = SOLUTIONS[0]
    assert notebook_text(read_notebook(path)) == path.read_text(encoding="utf-8")


def test_the_catalog_is_generated_data_that_says_so():
    catalog = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    assert CATALOG_PATH.suffix == ".json" and sorted(catalog) == ["exercises", "note"]
    assert "generated by `python -m grader.make_exercises`" in catalog["note"]
    assert catalog["exercises"] == exercise_catalog()  # what the package reads (importlib.resources) is this file


def test_solutions_are_not_published_in_the_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    toc = (ROOT / "_toc.yml").read_text()
    assert "exercises" in config["exclude_patterns"] and config["only_build_toc_files"] is True
    assert "exercises/" not in toc


# --- the checkers this file is responsible for ----------------------------------------------------------------

import math  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED, ____  # noqa: E402

ex03 = checks.load("03_data")
ex04 = checks.load("04_training")
ex06 = checks.load("06_generalisation")
ex07 = checks.load("07_mlp")


def assert_correct(question, *answers):
    v = question.evaluate(*answers)
    assert v.status == CORRECT, f"{question.exercise} {question.id} rejected a right answer: {v.message}"
    return v


def assert_incorrect(question, *answers, says):
    v = question.evaluate(*answers)
    assert v.status == INCORRECT, f"{question.exercise} {question.id} accepted a wrong answer: {v}"
    for fragment in [says] if isinstance(says, str) else says:
        assert fragment in v.message, f"{question.id}: expected {fragment!r} in the message {v.message!r}"
    return v


def stub(*args, **kwargs):
    raise NotImplementedError("write your answer here")


# exercise 03's checkers: tests/test_checks_ex03_05.py

# exercise 06: generalisation

def split_right(n, val_size, seed):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[val_size:], perm[:val_size]


def test_ex06_split():
    q1 = ex06.q1
    assert_correct(q1, split_right)
    assert_correct(q1, lambda n, v, s: tuple(t.sort().values for t in split_right(n, v, s)))
    assert_incorrect(q1, lambda n, v, s: (torch.arange(v, n), torch.arange(v)), says="first examples")

    def borrowed(n, v, s):
        from book.evaluation import validation_split
        return validation_split(n, v, s)

    assert_incorrect(q1, borrowed, says="calls book.evaluation.validation_split")
    assert_incorrect(q1, lambda n, v, s: split_right(n, v, int(torch.randint(0, 10 ** 9, ()))),
                     says="another split when called again")
    assert_incorrect(q1, lambda n, v, s: (split_right(n, v, s)[0], split_right(n, v, s + 1)[1]), says="in both parts")
    assert_incorrect(q1, lambda n, v, s: split_right(n, v, 0), says="same split for seeds")
    assert_incorrect(q1, lambda n, v, s: split_right(n, v, s)[::-1], says="expected 40 and 10")


def interval(correct, n, z=1.96, clip=True, se=None):
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError("bad counts")
    p = correct / n
    se = math.sqrt(p * (1 - p) / n) if se is None else se(p, n)
    low, high = p - z * se, p + z * se
    return (p, max(0.0, low), min(1.0, high)) if clip else (p, low, high)


def test_ex06_confidence_interval():
    q2 = ex06.q2
    assert_correct(q2, interval)
    assert_correct(q2, lambda c, n: interval(c, n, z=ex06.Z95))
    assert_incorrect(q2, lambda c, n: interval(c, n, se=lambda p, n: math.sqrt(p * (1 - p)) / n),
                     says="the whole fraction")
    assert_incorrect(q2, lambda c, n: interval(c, n, se=lambda p, n: p * (1 - p) / n), says="is a square root")
    assert_incorrect(q2, lambda c, n: interval(c, n, z=1.0), says="68 %")
    assert_incorrect(q2, lambda c, n: interval(c, n, z=2.0), says="1.96")
    assert_incorrect(q2, lambda c, n: interval(c, n, clip=False), says="clip")
    assert_incorrect(q2, lambda c, n: tuple(100 * v for v in interval(c, n)), says="not percentages")
    assert_incorrect(q2, lambda c, n: interval(min(c, n), max(n, 1)), says="ValueError")
    assert_incorrect(q2, lambda c, n: interval(c, n)[1:], says="expected three numbers")


def early_stopping_right(history, patience):
    best = None
    for i, row in enumerate(history):
        if best is None or row["val_loss"] < history[best]["val_loss"]:
            best = i
        elif i - best >= patience:
            break
    return history[best]["epoch"]


def test_ex06_early_stopping():
    q3 = ex06.q3
    assert_correct(q3, early_stopping_right)

    def with_class(history, patience):
        from book.evaluation import EarlyStopping
        stopper = EarlyStopping(patience=patience)
        for row in history:
            if stopper.step(row["val_loss"]):
                break
        return history[stopper.best_epoch - 1]["epoch"]

    def ties_improve(history, patience):
        best = 0
        for i, row in enumerate(history):
            if row["val_loss"] <= history[best]["val_loss"]:
                best = i
            elif i - best >= patience:
                break
        return history[best]["epoch"]

    def by(key, history):
        return min(history, key=lambda row: row[key])["epoch"]

    def stop_epoch(history, patience):
        epoch = early_stopping_right(history, patience)
        i = next(i for i, row in enumerate(history) if row["epoch"] == epoch)
        return history[min(len(history) - 1, i + patience)]["epoch"]

    def position(history, patience):
        epoch = early_stopping_right(history, patience)
        return next(i for i, row in enumerate(history) if row["epoch"] == epoch)

    assert_incorrect(q3, with_class, says="calls book.evaluation.EarlyStopping")
    assert_incorrect(q3, ties_improve, says="only equals the best")
    assert_incorrect(q3, lambda h, p: by("test_loss", h), says="*test* loss")
    assert_incorrect(q3, lambda h, p: by("val_loss", h), says="training would have stopped after epoch 4")
    assert_incorrect(q3, lambda h, p: by("train_loss", h), says="lowest training loss")
    assert_incorrect(q3, stop_epoch, says="the epoch at which training stops")
    assert_incorrect(q3, position, says="a position in the list")
    assert_incorrect(q3, lambda h, p: float(early_stopping_right(h, p)), says="expected the epoch number")

    def mutates(history, patience):
        history.sort(key=lambda row: row["val_loss"])
        return early_stopping_right(sorted(history, key=lambda row: row["epoch"]), patience)

    assert_incorrect(q3, mutates, says="changed the history")


def evaluate_06(net, data_iter, mean_losses=False, error=True, graph=False, batch_weights=True):
    total, wrong, seen, batches = 0.0, 0, 0, 0
    with torch.set_grad_enabled(graph):
        for X, y in data_iter:
            logits = net(X)
            total += F.cross_entropy(logits, y, reduction="mean" if mean_losses else "sum").item()
            wrong += ((logits.argmax(1) != y) if error else (logits.argmax(1) == y)).sum().item()
            seen += len(y)
            batches += 1
    return total / (seen if batch_weights else batches), wrong / seen


def test_ex06_loss_and_error_rate():
    q4 = ex06.q4
    assert_correct(q4, evaluate_06)
    assert_incorrect(q4, lambda *a: evaluate_06(*a, mean_losses=True), says="divides twice")
    assert_incorrect(q4, lambda *a: evaluate_06(*a, mean_losses=True, batch_weights=False),
                     says="average of the batches' mean losses")
    assert_incorrect(q4, lambda *a: evaluate_06(*a, error=False), says="that is the accuracy")
    assert_incorrect(q4, lambda *a: (evaluate_06(*a)[1], evaluate_06(*a)[1]), says="that is the error rate")
    assert_incorrect(q4, lambda *a: evaluate_06(*a, graph=True), says="torch.no_grad()")
    assert_incorrect(q4, lambda *a: evaluate_06(*a)[0], says="expected two numbers")


def test_ex06_choose_on_validation_report_test():
    q5 = ex06.q5

    def choose(results, on="val_acc", report="test_acc"):
        name = max(results, key=lambda k: results[k][on])
        return name, results[name][report]

    assert_correct(q5, choose)
    assert_incorrect(q5, lambda r: choose(r, on="test_acc"), says="best on the *test* set")
    assert_incorrect(q5, lambda r: choose(r, report="val_acc"), says="too high")
    assert_incorrect(q5, lambda r: (choose(r)[0], max(v["test_acc"] for v in r.values())),
                     says="best test accuracy of all")
    assert_incorrect(q5, lambda r: choose(r)[0], says="expected a pair")


# exercise 04, q5: 82.5 % on the test images within 800 steps (trains softmax regression: a few seconds each)

def train_epoch_04(net, params, train_iter, lr):
    total, seen = 0.0, 0
    for X, y in train_iter:
        loss = F.cross_entropy(net(X), y, reduction="sum")
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad / len(y)
                p.grad.zero_()
        total += loss.item()
        seen += len(y)
    return total / seen


def test_ex04_challenge_is_judged_on_the_test_images_within_the_budget():
    q5 = ex04.q5
    v = assert_correct(q5, [1.0, 1.0, 0.1, 0.01], 256, train_epoch_04)
    assert "n = 10,000" in v.message and "784 steps" in v.message
    # the chapter's setting is not enough: the challenge cannot be passed by copying it
    assert_incorrect(q5, [0.1, 0.1], 256, train_epoch_04, says=["below the 82.5 % target", "validation accuracy"])
    assert_incorrect(q5, [0.1] * 5, 256, train_epoch_04, says=["980 SGD steps", "the budget is 800"])
    assert_incorrect(q5, 0.1, 256, train_epoch_04, says="one learning rate per epoch")
    assert_incorrect(q5, [0.1, -1.0], 256, train_epoch_04, says="positive number")
    assert_incorrect(q5, [1e3], 256, train_epoch_04, says="at most 10")
    assert_incorrect(q5, [10.0, 10.0], 256, lambda *a: float("nan"), says="diverged")
    assert q5.evaluate(____, 256, train_epoch_04).status == NOT_ATTEMPTED
    assert q5.evaluate([0.5], 256, stub).status == NOT_ATTEMPTED


# exercise 07: dropout, evaluation mode, and the 2,000-image challenge

class MLP07(nn.Module):
    def __init__(self, num_inputs=784, num_hiddens=256, num_outputs=10, dropout=0.0, where="hidden"):
        super().__init__()
        self.flatten, self.where = nn.Flatten(), where
        self.hidden = nn.Linear(num_inputs, num_hiddens)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(num_hiddens, num_outputs)

    def forward(self, X):
        X = self.flatten(X)
        if self.where == "input":
            X = self.dropout(X)
        H = torch.relu(self.hidden(X))
        if self.where == "hidden":
            H = self.dropout(H)
        if self.where == "always":
            H = F.dropout(H, self.dropout.p, training=True)
        out = self.output(H)
        return self.dropout(out) if self.where == "output" else out


def variant(where):
    class Variant(MLP07):
        def __init__(self, num_inputs=784, num_hiddens=256, num_outputs=10, dropout=0.0):
            super().__init__(num_inputs, num_hiddens, num_outputs, dropout, where)
    return Variant


class MLPWithoutDropout(nn.Module):
    def __init__(self, num_inputs=784, num_hiddens=256, num_outputs=10):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_hiddens), nn.ReLU(),
                                 nn.Linear(num_hiddens, num_outputs))

    def forward(self, X):
        return self.net(X)


def test_ex07_mlp_with_dropout():
    q1 = ex07.q1
    assert_correct(q1, MLP07)
    assert_incorrect(q1, MLPWithoutDropout, says="dropout")
    assert_incorrect(q1, variant("none"), says="gave the same output twice")
    assert_incorrect(q1, variant("output"), says="not on the output")
    assert_incorrect(q1, variant("input"), says="input pixels")
    assert_incorrect(q1, variant("always"), says="in evaluation mode (after .eval()) gave two different outputs")


def evaluate_07(net, data_iter, eval_mode=True, restore=True, graph=False):
    was = net.training
    if eval_mode:
        net.eval()
    right = seen = 0
    with torch.set_grad_enabled(graph):
        for X, y in data_iter:
            right += (net(X).argmax(1) == y).sum().item()
            seen += len(y)
    if restore:
        net.train(was)
    return right / seen


def test_ex07_evaluate_in_evaluation_mode():
    q3 = ex07.q3
    assert_correct(q3, evaluate_07)
    assert_incorrect(q3, lambda *a: evaluate_07(*a, eval_mode=False), says="in training mode, where dropout is on")
    assert_incorrect(q3, lambda *a: evaluate_07(*a, restore=False), says="left a model that came in train mode")

    def always_train_after(net, data_iter):
        acc = evaluate_07(net, data_iter)
        net.train()
        return acc

    assert_incorrect(q3, always_train_after, says="came in eval mode in train mode")
    assert_incorrect(q3, lambda *a: evaluate_07(*a, graph=True), says="torch.no_grad()")

    def mean_of_batches(net, data_iter):
        was = net.training
        net.eval()
        with torch.no_grad():
            accs = [(net(X).argmax(1) == y).float().mean().item() for X, y in data_iter]
        net.train(was)
        return sum(accs) / len(accs)

    assert_incorrect(q3, mean_of_batches, says="average of the batches' accuracies")


def test_ex07_challenge_is_judged_on_the_test_images_and_names_over_fitting():
    q5 = ex07.q5

    def adam(params):
        return torch.optim.Adam(params, lr=1e-3)

    v = assert_correct(q5, MLP07, 256, 0.5, adam, 100, 25)
    assert "10,000 test images" in v.message and "Adam (lr 0.001)" in v.message
    assert_incorrect(q5, MLP07, 512, 0.0, adam, 100, 30, says=["the target is 0.58", "over-fits"])
    assert_incorrect(q5, MLP07, 256, 0.5, lambda p: torch.optim.SGD(p, lr=1e-3), 100, 2, says="under-fits")
    assert_incorrect(q5, MLP07, 256, 0.5, adam, 100, 31, says="from 1 to 30")
    assert_incorrect(q5, MLP07, 1024, 0.5, adam, 100, 10, says="from 1 to 512")
    assert_incorrect(q5, MLP07, 256, 1.0, adam, 100, 10, says="not including, 1")
    assert_incorrect(q5, MLP07, 256, 0.5, adam, 10, 10, says="from 20 to 2,000")
    assert_incorrect(q5, MLP07, 256, 0.5, lambda p: 0.1, 100, 10, says="torch.optim optimiser")
    assert q5.evaluate(MLP07, 256, ____, adam, 100, 10).status == NOT_ATTEMPTED
