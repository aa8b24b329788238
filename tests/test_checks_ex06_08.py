"""The checks of exercises 06 (generalisation), 07 (the MLP) and 08 (the Otto-style challenge) on right and
wrong answers, each run both ways: directly (self-study) and recorded then judged as a class grading does
(:func:`test_questions.assert_correct` / ``assert_incorrect``, which require the same verdict and message).

The Otto questions have their own tests in ``tests/test_grade.py``; here: their protocol (the answer key
declared, the forbidden course functions), and for all three exercises answers that try to forge a verdict.
"""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from book import protocol
from book.questions import INCORRECT, NOT_ATTEMPTED
from test_questions import assert_correct, assert_incorrect, exercise_ending

ex06 = exercise_ending("_generalisation")
ex07 = exercise_ending("_mlp")
ex08 = exercise_ending("_otto")
ROOT = Path(__file__).resolve().parent.parent


def test_every_question_of_exercises_06_to_08_is_judged_outside_the_learners_process():
    for module in (ex06, ex07, ex08):
        assert all(q.judged_outside for q in module.QUESTIONS), module.__name__


def test_fresh_inputs_for_every_grading():
    one, two = (ex06.q1.planned_cases(protocol.rng_for(seed, ex06.EXERCISE, "q1")) for seed in (1, 2))
    assert one[0].args[2] != two[0].args[2]  # the seed the split is asked for
    a, b = (ex07.q5.planned_cases(protocol.rng_for(seed, ex07.EXERCISE, "q5"))[0] for seed in (1, 2))
    assert not torch.equal(a.labels, b.labels) and torch.equal(a.labels.sort().values, b.labels.sort().values)
    assert "labels" not in repr(a.args) and all(not torch.equal(x, a.labels) for x in a.args
                                                if isinstance(x, torch.Tensor) and x.shape == a.labels.shape)


# --- exercise 06 ----------------------------------------------------------------------------------------------

def split_right(n, val_size, seed):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[val_size:], perm[:val_size]


def interval(correct, n, z=1.96, clip=True, check=True):
    if check and (n <= 0 or not 0 <= correct <= n):
        raise ValueError("expected 0 <= correct <= n and n > 0")
    p = correct / n
    se = math.sqrt(p * (1 - p) / n)
    low, high = p - z * se, p + z * se
    return (p, max(0.0, low), min(1.0, high)) if clip else (p, low, high)


def stopping(history, patience, key="val_loss", strict=True):
    best = None
    for i, row in enumerate(history):
        if best is None or row[key] < history[best][key] or not strict and row[key] == history[best][key]:
            best = i
        elif i - best >= patience:
            break
    return history[best]["epoch"]


def evaluate06(net, data_iter, reduction="sum", grad=False):
    total, wrong, seen = 0.0, 0, 0
    with torch.enable_grad() if grad else torch.no_grad():
        for X, y in data_iter:
            logits = net(X)
            loss = F.cross_entropy(logits, y, reduction=reduction).item()
            total += loss
            wrong += (logits.argmax(dim=1) != y).sum().item()
            seen += len(y)
    return total / seen, wrong / seen


@pytest.mark.filterwarnings("ignore:.*normal approximation")  # the course's interval warns on tiny counts
def test_ex06_accepts_right_answers_and_explains_wrong_ones_both_ways():
    from book.evaluation import accuracy_interval, validation_split

    q1, q2, q3, q4, q5 = ex06.QUESTIONS
    assert_correct(q1, split_right)
    assert_incorrect(q1, lambda n, v, s: (torch.arange(v, n), torch.arange(v)), says="first examples")
    assert_incorrect(q1, lambda n, v, s: split_right(n, v, 0), says="the seed must choose the split")
    assert_incorrect(q1, lambda n, v, s: split_right(n, v, int(torch.randint(0, 10**6, (1,)))),
                     says="another split when called again")
    assert_incorrect(q1, validation_split, says="calls book.evaluation.validation_split")

    assert_correct(q2, interval)
    assert_incorrect(q2, lambda c, n: interval(c, n, z=1.0), says="one standard error each side")
    assert_incorrect(q2, lambda c, n: interval(c, n, clip=False), says="clip the interval")
    assert_incorrect(q2, lambda c, n: interval(c, n, check=False), says=["n=0", "raise a ValueError"])

    def borrowed(c, n):
        i = accuracy_interval(c, n)
        return i.estimate, i.low, i.high

    assert_incorrect(q2, borrowed, says="calls book.evaluation.accuracy_interval")

    assert_correct(q3, stopping)
    assert_incorrect(q3, lambda h, p: stopping(h, p, key="test_loss"), says="lowest *test* loss")
    assert_incorrect(q3, lambda h, p: stopping(h, p, strict=False), says="only equals the best")
    assert_incorrect(q3, lambda h, p: stopping(h, 10**9), says="training would have stopped")

    def sorts_in_place(history, patience):
        history.sort(key=lambda row: row["val_loss"])
        return history[0]["epoch"]

    assert_incorrect(q3, sorts_in_place, says="changed the history it was given")

    assert_correct(q4, evaluate06)
    assert_incorrect(q4, lambda net, it: evaluate06(net, it, reduction="mean"), says=["divides twice"])
    assert_incorrect(q4, lambda net, it: evaluate06(net, it, grad=True), says="gradient tracking on")
    assert_incorrect(q4, lambda net, it: (0.5, 0.5), says="never called `net`")

    def best_on_test(results):
        name = max(results, key=lambda k: results[k]["test_acc"])
        return name, results[name]["test_acc"]

    def reports_validation(results):
        name = max(results, key=lambda k: results[k]["val_acc"])
        return name, results[name]["val_acc"]

    def right_choice(results):
        name = max(results, key=lambda k: results[k]["val_acc"])
        return name, results[name]["test_acc"]

    def pops(results):
        name, acc = right_choice(results)
        results.pop(name)
        return name, acc

    assert_correct(q5, right_choice)
    assert_incorrect(q5, best_on_test, says="the best on the *test* set")
    assert_incorrect(q5, reports_validation, says="reported the validation accuracy")
    assert_incorrect(q5, pops, says="changed the results it was given")
    assert q5.evaluate(lambda r: (_ for _ in ()).throw(NotImplementedError("write your answer here"))).status \
        == NOT_ATTEMPTED


# --- exercise 07 ----------------------------------------------------------------------------------------------

def mlp_class(order="relu-dropout", relu=True):
    class MLP(nn.Module):
        def __init__(self, num_inputs=784, num_hiddens=256, num_outputs=10, dropout=0.0):
            super().__init__()
            self.hidden = nn.Linear(num_inputs, num_hiddens)
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(num_hiddens, num_outputs)

        def forward(self, X):
            X = X.flatten(1)
            if order == "input":
                return self.out(torch.relu(self.hidden(self.drop(X))))
            H = self.hidden(X)
            H = torch.relu(H) if relu else H
            if order == "output":
                return self.drop(self.out(H))
            if order == "softmax":
                return torch.softmax(self.out(self.drop(H)), dim=1)
            return self.out(self.drop(H))

    return MLP


def train_epoch_right(net, optimizer, train_iter, zero=True, mode=True):
    if mode:
        net.train()
    losses = []
    for X, y in train_iter:
        loss = F.cross_entropy(net(X), y)
        if zero:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def evaluate07(net, data_iter, eval_mode=True, restore=True):
    was = net.training
    if eval_mode:
        net.eval()
    right = seen = 0
    with torch.no_grad():
        for X, y in data_iter:
            right += (net(X).argmax(dim=1) == y).sum().item()
            seen += len(y)
    if restore:
        net.train(was)
    return right / seen


def compare(make_net, optimizers, train_iter, fresh=True):
    results, net = {}, make_net()
    for name, make in optimizers.items():
        net = make_net() if fresh else net
        losses = train_epoch_right(net, make(net.parameters()), train_iter)
        results[name] = sum(losses) / len(losses)
    return results


def test_ex07_q1_to_q4_accept_right_answers_and_explain_wrong_ones_both_ways():
    q1, q2, q3, q4 = ex07.QUESTIONS[:4]
    assert_correct(q1, mlp_class())
    assert_incorrect(q1, mlp_class(relu=False), says="put a ReLU between")
    assert_incorrect(q1, mlp_class(order="input"), says="acts on its input pixels")
    assert_incorrect(q1, mlp_class(order="output"), says="not on the output")
    assert_incorrect(q1, mlp_class(order="softmax"), says="returns probabilities")
    assert_incorrect(q1, lambda *a, **k: nn.Linear(784, 10), says="should be a class derived from nn.Module")

    assert_correct(q2, train_epoch_right)
    assert_incorrect(q2, lambda *a: train_epoch_right(*a, zero=False), says="are the gradients zeroed")
    assert_incorrect(q2, lambda *a: train_epoch_right(*a, mode=False), says="in evaluation mode")

    assert_correct(q3, evaluate07)
    assert_incorrect(q3, lambda *a: evaluate07(*a, eval_mode=False), says="evaluated the model in training mode")
    assert_incorrect(q3, lambda *a: evaluate07(*a, restore=False), says="left a model that came in train mode")

    assert_correct(q4, compare, train_epoch_right)
    assert_incorrect(q4, lambda *a: compare(*a, fresh=False), train_epoch_right, says="called make_net() 1 time")


def test_ex07_q5_trains_within_the_budget_and_scores_on_labels_only_the_checker_holds():
    q5 = ex07.q5

    def adam(params):
        return torch.optim.Adam(params, lr=1e-3)

    assert_incorrect(q5, mlp_class(), 256, 0.5, adam, 100, 31, says="the budget is a whole number of epochs")
    assert_incorrect(q5, mlp_class(), 256, 0.0, adam, 20, 30, says="it over-fits")
    assert_incorrect(q5, mlp_class(), 256, 0.5, lambda params: "adam", 100, 5,
                     says="expected a torch.optim optimiser")
    # the model answer (a few seconds of training, twice)
    assert_correct(q5, mlp_class(), 256, 0.5, adam, 100, 25)


# --- exercise 08: what the protocol adds to tests/test_grade.py's tests --------------------------------------

def test_ex08_declares_its_answer_key_and_forbids_the_course_metric_by_any_name():
    from grader.stage import checks_module_name, declared_answer_key, module_file
    from book.kaggle import log_loss, row_log_losses

    assert declared_answer_key(module_file(checks_module_name(ex08.EXERCISE))) == {"book.kaggle"}
    assert "book.kaggle.row_log_losses" in ex08.q1.forbidden and "book.kaggle.log_loss" in ex08.q1.forbidden
    alias = row_log_losses
    assert_incorrect(ex08.q1, lambda p, y: alias(p, y).mean().item(), says="calls book.kaggle.row_log_losses")
    assert_incorrect(ex08.q1, lambda p, y: log_loss(p, y), says="calls book.kaggle.log_loss")


# --- answers that try to forge a verdict --------------------------------------------------------------------

def test_a_recorded_answer_that_patches_the_comparisons_earns_nothing():
    """In a class grading the judge runs in another process: whatever an answer patches in its own kernel
    (torch.allclose, math.isclose) is not what the checker compares with."""
    import subprocess

    script = (
        "import math, torch, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_questions import graded\n"
        f"from book.checks import ex{ex06.EXERCISE} as m\n"
        "def forged(correct, n):\n"
        "    torch.allclose = lambda *a, **k: True\n"
        "    math.isclose = lambda *a, **k: True\n"
        "    return (0.5, 0.0, 1.0) if n > 0 and 0 <= correct <= n else (0, 0, 0)\n"
        "v = graded(m.q2, forged)\n"
        "print(v.status)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    # recording and judging share this one process here, so the patch does reach the judge: the checker's own
    # numbers (abs() of differences, not allclose) still refuse the forgery
    assert done.stdout.strip().splitlines()[-1] == INCORRECT, done.stdout + done.stderr


@pytest.mark.skipif(not __import__("grader.sandbox", fromlist=["mechanism"]).mechanism(),
                    reason="class grading needs the sandbox")
def test_a_graded_notebook_that_rebinds_questions_or_patches_torch_in_its_kernel_earns_nothing(tmp_path):
    """End to end, in the sandbox: q1's cell rebinds q2 to an object whose check prints a verdict, q3's cell
    patches torch.allclose and the builtin comparisons' helpers; the wrong answers stay wrong."""
    import json

    from grader.exercise_cells import ANSWER, notebook_text, read_notebook, role
    from grader.make_exercises import EXERCISES_DIR

    nb = read_notebook(EXERCISES_DIR / f"{ex06.EXERCISE}.ipynb")
    answers = {
        "q1": ("def split(n, val_size, seed):\n    return torch.arange(val_size, n), torch.arange(val_size)\n\n"
               "class Always:\n    def check(self, *a):\n        print('q2: correct (2 points).')\n"
               "q2 = Always()"),
        "q2": ("def confidence_interval(correct, n):\n    return 0.5, 0.0, 1.0"),
        "q3": ("import math\ntorch.allclose = lambda *a, **k: True\nmath.isclose = lambda *a, **k: True\n"
               "def early_stopping(history, patience):\n    return history[-1]['epoch']"),
    }
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == ANSWER and q in answers:
            cell["source"] = answers[q]
    path = tmp_path / "forged.ipynb"
    path.write_text(notebook_text(nb), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "grader", str(path), "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    report = json.loads(done.stdout)
    verdicts = {q["id"]: q for q in report["questions"]}
    assert report["score"] == 0, verdicts
    assert {verdicts[q]["status"] for q in ("q1", "q2", "q3")} == {INCORRECT}, verdicts
    # each attack fails by itself too: the checks' own verdicts, before the flags withhold anything
    assert all(verdicts[q]["judged"] == "outside" and verdicts[q].get("verdict") in (None, INCORRECT)
               for q in ("q1", "q2", "q3")), verdicts
    assert any(f["kind"] == "tampering" for f in report["flags"]), report["flags"]


def test_the_sandbox_ships_what_the_notebooks_import_and_the_drivers_but_no_checker():
    """Exercise 08's notebook imports book.otto, which imports book.kaggle: the sandbox must ship both (its
    set-up fails otherwise), although ANSWER_KEY names book.kaggle; exercise 07's keeps book.mlp and book.train,
    which define what its answers are to define, out of reach."""
    import tempfile

    from grader.grade import pristine
    from grader.stage import stage

    for module, shown, hidden in ((ex08, {"book.otto", "book.kaggle", "book.drivers_ex06_08", "book.probes"},
                                   {"book.checks.common", "book.checks.ex06_generalisation"}),
                                  (ex07, {"book.data", "book.evaluation", "book.drivers_ex06_08"},
                                   {"book.mlp", "book.train"})):
        with tempfile.TemporaryDirectory() as tmp:
            staged = stage(module.EXERCISE, pristine(module.EXERCISE), Path(tmp))
            assert staged.judged_outside
            assert shown <= staged.shown and not hidden & staged.shown, (module.EXERCISE, staged.shown)
            stand_in = (Path(tmp) / "book" / "checks" / f"ex{module.EXERCISE}.py").read_text()
            assert "stand_ins" in stand_in and "def " not in stand_in
