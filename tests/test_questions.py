"""The question API (check, hint, solution, the grading record) and every checker on right and wrong answers.

In-process and fast: the checkers are called directly with small functions standing for a learner's answers.
Wrong answers are the mistakes learners make; each must get its own specific message.
"""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from book.checks import catalog, ex01_softmax, ex02_cross_entropy, ex03_training, ex04_autograd_concise, ex05_mlp
from book.questions import (CORRECT, INCORRECT, NOT_ATTEMPTED, RESULTS_ENV, CheckFailed, Incorrect, Question, ____,
                            record)


def stub(*args, **kwargs):
    raise NotImplementedError("write your answer here")


def assert_incorrect(question, *answers, says):
    v = question.evaluate(*answers)
    assert v.status == INCORRECT, f"{question.id} accepted a wrong answer: {v}"
    for fragment in [says] if isinstance(says, str) else says:
        assert fragment in v.message, f"{question.id}: expected {fragment!r} in the message {v.message!r}"
    return v


def assert_correct(question, *answers):
    v = question.evaluate(*answers)
    assert v.status == CORRECT, f"{question.id} rejected a right answer: {v.message}"
    assert v.points == question.points


# --- the Question API ---------------------------------------------------------------------------------------

def toy_checker(f):
    value = f(2)
    if value != 4:
        raise Incorrect(f"on 2, `f` returned {value}, expected twice its input")


TOY = Question("00_toy", "q1", "Double it", 2, toy_checker, hints=["Multiply.", "Return 2 * x."])


def test_check_prints_correct_and_raises_with_the_reason_otherwise(capsys):
    TOY.check(lambda x: 2 * x)
    assert capsys.readouterr().out.strip() == "q1: correct (2 points)."
    with pytest.raises(CheckFailed) as wrong:
        TOY.check(lambda x: x + 1)
    assert wrong.value.verdict.status == INCORRECT
    assert "on 2, `f` returned 3, expected twice its input" in str(wrong.value)
    assert "q1.hint()" in str(wrong.value)
    with pytest.raises(CheckFailed) as not_done:
        TOY.check(stub)
    assert not_done.value.verdict.status == NOT_ATTEMPTED


def test_jupyter_shows_a_failed_check_as_its_message_without_a_traceback():
    with pytest.raises(CheckFailed) as failed:
        TOY.check(lambda x: x + 1)
    shown = failed.value._render_traceback_()
    assert "".join(shown).count("Traceback") == 0
    assert any("incorrect" in line for line in shown)


def test_blank_means_not_attempted_and_any_use_of_it_raises():
    assert TOY.evaluate(____).status == NOT_ATTEMPTED
    for use in (lambda: ____ + 1, lambda: float(____), lambda: ____ * 2, lambda: bool(____)):
        with pytest.raises(NotImplementedError):
            use()
    assert repr(____) == "____"


def test_an_error_in_the_learners_code_is_incorrect_with_its_name_and_keyboardinterrupt_passes_through():
    def raises(x):
        raise ZeroDivisionError("division by zero")

    v = TOY.evaluate(raises)
    assert v.status == INCORRECT and "ZeroDivisionError: division by zero" in v.message

    def interrupted(x):
        raise KeyboardInterrupt  # what the grader's timeout sends: it must stop the check, not be graded

    with pytest.raises(KeyboardInterrupt):
        TOY.evaluate(interrupted)


def test_hints_are_tiered_and_printed_only_when_asked(capsys):
    TOY.hint()
    first = capsys.readouterr().out
    assert "hint 1 of 2: Multiply." in first and "q1.hint(2)" in first
    TOY.hint(2)
    assert "hint 2 of 2: Return 2 * x." in capsys.readouterr().out
    TOY.hint(5)
    assert "only 2 hints" in capsys.readouterr().out
    with pytest.raises(ValueError):
        TOY.hint(0)


def test_solution_prints_the_model_answer_of_the_solutions_notebook(capsys):
    ex01_softmax.q1.solution()
    printed = capsys.readouterr().out
    model = catalog.EXERCISES["01_softmax"]["questions"][0]["solution"]
    assert model in printed and "def softmax" in printed
    assert "BEGIN SOLUTION" not in printed


def test_a_check_records_its_verdict_only_when_the_grader_asks(tmp_path, monkeypatch):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    TOY.check(lambda x: 2 * x)  # no file named: nothing is written anywhere
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv(RESULTS_ENV, str(results))
    TOY.check(lambda x: 2 * x)
    with pytest.raises(CheckFailed):
        TOY.check(lambda x: 0)
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["question"], r["status"], r["points"]) for r in lines] == [("q1", CORRECT, 2), ("q1", INCORRECT, 0)]
    assert lines[0]["exercise"] == "00_toy"


def test_a_check_leaves_the_learners_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ex01_softmax.q1.evaluate(lambda z: torch.softmax(z, 0))  # the checker draws random logits
    assert torch.equal(torch.rand(3), expected)


def test_questions_need_points_and_hints():
    with pytest.raises(ValueError, match="points"):
        Question("00_toy", "q9", "x", 0, toy_checker, hints=["h"])
    with pytest.raises(ValueError, match="hint"):
        Question("00_toy", "q9", "x", 1, toy_checker, hints=[])


def test_record_appends_one_json_line_per_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "r.jsonl"))
    record("00_toy", TOY.evaluate(stub))
    assert json.loads((tmp_path / "r.jsonl").read_text())["status"] == NOT_ATTEMPTED


# --- exercise 01: softmax -----------------------------------------------------------------------------------

def softmax_naive(z):
    e = z.exp()
    return e / e.sum()


def softmax_global_max(Z):
    E = (Z - Z.max()).exp()
    return E / E.sum(dim=1, keepdim=True)


def softmax_rows_right(Z):  # another correct way than the model answer
    shifted = Z - Z.max(dim=1).values.unsqueeze(1)
    return shifted.exp() / shifted.exp().sum(dim=1).unsqueeze(1)


def test_ex01_softmax_accepts_right_answers_and_explains_wrong_ones():
    q1, q2, q3, q4 = ex01_softmax.QUESTIONS
    assert_correct(q1, lambda z: (z - z.max()).exp() / (z - z.max()).exp().sum())
    assert_incorrect(q1, softmax_naive, says=["[1000, 1001, 1002]", "nan", "overflows"])
    assert_incorrect(q1, lambda z: torch.softmax(z, 0), says="calls PyTorch's `softmax`")

    def in_place(z):
        z -= z.max()
        return z.exp() / z.exp().sum()

    assert_incorrect(q1, in_place, says="changed its input in place")
    assert q1.evaluate(stub).status == NOT_ATTEMPTED

    assert_correct(q2, softmax_rows_right)
    assert_incorrect(q2, softmax_global_max, says=["nan", "each row needs its own shift"])
    assert_incorrect(q2, lambda Z: (Z - Z.amax(0)).exp() / (Z - Z.amax(0)).exp().sum(0), says="wrong dimension")

    def temperature_right(Z, T):
        if not T > 0:
            raise ValueError("T must be positive")
        return softmax_rows_right(Z / T)

    assert_correct(q3, temperature_right)
    assert_incorrect(q3, lambda Z, T: softmax_rows_right(Z * T), says="multiplied the logits by T")
    assert_incorrect(q3, lambda Z, T: softmax_rows_right(Z / T) if T != 0 else softmax_rows_right(Z),
                     says="raise a ValueError")

    assert_correct(q4, lambda P: -(P * torch.where(P > 0, P.log(), torch.zeros_like(P))).sum(dim=1))
    assert_incorrect(q4, lambda P: -(P * P.log()).sum(dim=1), says=["[0, 1, 0]", "nan", "0 log 0"])
    assert_incorrect(q4, lambda P: -torch.special.xlogy(P, P).sum(dim=1) / math.log(2), says="bits")


# --- exercise 02: cross-entropy -----------------------------------------------------------------------------

def logsumexp_right(Z):
    m = Z.max(dim=1).values
    return m + (Z - m[:, None]).exp().sum(dim=1).log()


def pick_right(y_hat, y):
    return y_hat.gather(1, y.unsqueeze(1)).squeeze(1)


def test_ex02_cross_entropy_accepts_right_answers_and_explains_wrong_ones():
    q1, q2, q3, q4 = ex02_cross_entropy.QUESTIONS
    assert_correct(q1, pick_right)
    assert_incorrect(q1, lambda y_hat, y: y_hat[:, y], says=["shape (4, 4)", "its own label"])
    assert_correct(q2, logsumexp_right)
    assert_incorrect(q2, lambda Z: Z.exp().sum(dim=1).log(), says=["[1000, 1000]", "inf", "overflows"])
    assert_incorrect(q2, lambda Z: logsumexp_right(Z)[:, None], says="shape (2, 1)")
    assert_incorrect(q2, lambda Z: torch.logsumexp(Z, 1), says="calls PyTorch's `logsumexp`")

    assert_correct(q3, lambda O, y: (logsumexp_right(O) - pick_right(O, y)).mean())
    softmax = lambda O: (O - O.amax(1, keepdim=True)).exp() / (O - O.amax(1, keepdim=True)).exp().sum(1, keepdim=True)
    assert_incorrect(q3, lambda O, y: -pick_right(softmax(O), y).log().mean(), says=["inf", "stay with logits"])
    assert_incorrect(q3, lambda O, y: logsumexp_right(O) - pick_right(O, y), says="shape (4,)")
    assert_incorrect(q3, lambda O, y: torch.tensor((logsumexp_right(O) - pick_right(O, y)).mean().item()),
                     says="not differentiable")
    assert_incorrect(q3, lambda O, y: F.cross_entropy(O, y), says="calls PyTorch's `cross_entropy`")

    grad = lambda O, y: (torch.softmax(O, 1) - F.one_hot(y, O.shape[1])) / len(y)
    assert_correct(q4, grad)
    assert_incorrect(q4, lambda O, y: grad(O, y) * len(y), says="4 times too large")
    assert_incorrect(q4, lambda O, y: -grad(O, y), says="points the wrong way")


# --- exercise 03: training ----------------------------------------------------------------------------------

def sgd_right(params, lr, batch_size):
    with torch.no_grad():
        for p in params:
            p.sub_(lr * p.grad / batch_size)
            p.grad = None


def make_train_epoch(sgd, reduction="sum"):
    def train_epoch(net, params, train_iter, lr):
        total, n = 0.0, 0
        for X, y in train_iter:
            loss = F.cross_entropy(net(X), y, reduction=reduction)
            loss.backward()
            sgd(params, lr, len(y))
            total += loss.item() * (len(y) if reduction == "mean" else 1)
            n += len(y)
        return total / n
    return train_epoch


def test_ex03_training_accepts_right_answers_and_explains_wrong_ones():
    q1, q2, q3, q4, q5 = ex03_training.QUESTIONS
    assert_correct(q1, lambda y_hat, y: float((y_hat.argmax(1) == y).sum()) / len(y))
    assert_incorrect(q1, lambda y_hat, y: (y_hat.argmax(1) == y).sum().item(), says="number of right predictions")
    assert_incorrect(q1, lambda y_hat, y: (y_hat.argmax(1) == y).float().mean(), says="returned a tensor")

    def mean_of_batches(net, data_iter):
        with torch.no_grad():
            accs = [(net(X).argmax(1) == y).float().mean().item() for X, y in data_iter]
        return sum(accs) / len(accs)

    def with_graph(net, data_iter):
        right = n = 0
        for X, y in data_iter:
            right += (net(X).argmax(1) == y).sum().item()
            n += len(y)
        return right / n

    assert_incorrect(q2, mean_of_batches, says="average of the batches' accuracies")
    assert_incorrect(q2, with_graph, says="torch.no_grad()")
    assert_correct(q2, lambda net, it: torch.no_grad()(with_graph)(net, it))

    def sgd_undivided(params, lr, batch_size):
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()

    def sgd_keeps_grads(params, lr, batch_size):
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad / batch_size

    def sgd_rebinds(params, lr, batch_size):
        for p in params:
            p = p - lr * p.grad / batch_size  # noqa: F841 -- a new local name: the parameter is not changed

    assert_correct(q3, sgd_right)
    assert_incorrect(q3, sgd_undivided, says="4 times too far")
    assert_incorrect(q3, sgd_keeps_grads, says="left the gradients")
    assert_incorrect(q3, sgd_rebinds, says="did not change the parameters")

    assert_correct(q4, make_train_epoch(sgd_right))
    assert_incorrect(q4, make_train_epoch(sgd_right, reduction="mean"), says="batch-size times too little")
    assert_incorrect(q4, make_train_epoch(sgd_keeps_grads), says="piled up")
    summed = make_train_epoch(sgd_right)
    assert_incorrect(q4, lambda *args: summed(*args) * 10, says="mean loss per example")

    assert q5.evaluate(____, 32, 1, summed).status == NOT_ATTEMPTED
    assert_incorrect(q5, 0.05, 32, 5, summed, says="budget")
    assert_incorrect(q5, 0.05, 8, 1, summed, says="budget")
    v = assert_incorrect(q5, 0.001, 2048, 1, summed, says="below the 80% target")  # too few, too small steps
    assert "test accuracy" in v.message


# --- exercise 04: autograd and the concise implementation ---------------------------------------------------

def test_ex04_autograd_concise_accepts_right_answers_and_explains_wrong_ones():
    q1, q2, q3, q4, q5 = ex04_autograd_concise.QUESTIONS

    def grad_by_backward(f, x):
        z = x.clone().requires_grad_()
        f(z).backward()
        return z.grad

    def grad_on_x_itself(f, x):
        x.requires_grad_()
        (g,) = torch.autograd.grad(f(x), x)
        return g

    def grad_with_graph(f, x):
        z = x.detach().clone().requires_grad_()
        return torch.autograd.grad(f(z), z, create_graph=True)[0]

    assert_correct(q1, grad_by_backward)
    assert_incorrect(q1, grad_on_x_itself, says="changed the tensor x")
    assert_incorrect(q1, grad_with_graph, says="still part of a graph")

    def model(softmax=False, init=True):
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), *([nn.Softmax(dim=1)] if softmax else []))
        if init:
            with torch.no_grad():
                net[1].weight.normal_(0, 0.01)
                net[1].bias.zero_()
        return net

    assert_correct(q2, model)
    assert_incorrect(q2, lambda: model(softmax=True), says="probabilities")
    assert_incorrect(q2, lambda: model(init=False), says="standard deviation")

    def linear_untransposed(W, b):
        layer = nn.Linear(W.shape[0], W.shape[1])
        layer.weight = nn.Parameter(W.clone())
        layer.bias = nn.Parameter(b.clone())
        return layer

    def linear_right(W, b):
        layer = nn.Linear(*W.shape)
        layer.weight = nn.Parameter(W.T.clone())
        layer.bias = nn.Parameter(b.clone())
        return layer

    assert_correct(q3, linear_right)
    assert_incorrect(q3, linear_untransposed, says="(out_features, in_features)")

    def step(net, loss_fn, optimizer, X, y, zero=True, item=True):
        if zero:
            optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        optimizer.step()
        return loss.item() if item else loss

    assert_correct(q4, step)
    assert_incorrect(q4, lambda *a: step(*a, zero=False), says="second was not")
    assert_incorrect(q4, lambda *a: step(*a, item=False), says="returned a tensor")

    def predict(net, X, eval_mode=True, restore=True):
        was = net.training
        if eval_mode:
            net.eval()
        with torch.no_grad():
            probs = torch.softmax(net(X), dim=1)
        if restore:
            net.train(was)
        return probs

    assert_correct(q5, predict)
    assert_incorrect(q5, lambda net, X: predict(net, X, eval_mode=False), says="dropout was active")
    assert_incorrect(q5, lambda net, X: predict(net, X, restore=False), says="left the model in evaluation mode")


# --- exercise 05: the MLP -----------------------------------------------------------------------------------

class MLPRight(nn.Module):
    def __init__(self, num_inputs=784, num_hiddens=256, num_outputs=10):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_hiddens), nn.ReLU(),
                                 nn.Linear(num_hiddens, num_outputs))

    def forward(self, X):
        return self.net(X)


class MLPLinear(MLPRight):
    def forward(self, X):
        return self.net[3](self.net[1](self.net[0](X)))  # the ReLU left out


def train_epoch_right(net, optimizer, train_iter, zero=True, train_mode=True):
    if train_mode:
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


def test_ex05_mlp_accepts_right_answers_and_explains_wrong_ones():
    q1, q2, q3, q4 = ex05_mlp.QUESTIONS
    assert_correct(q1, MLPRight)
    assert_incorrect(q1, MLPLinear, says="put a ReLU between")
    assert_incorrect(q1, lambda: MLPRight(), says="class derived from nn.Module")

    assert_correct(q2, train_epoch_right)
    assert_incorrect(q2, lambda *a: train_epoch_right(*a, zero=False), says="zeroed")
    assert_incorrect(q2, lambda *a: train_epoch_right(*a, train_mode=False), says="training mode")

    def compare(make_net, optimizers, train_iter, fresh=True):
        net, out = make_net(), {}
        for name, make in optimizers.items():
            if fresh:
                net = make_net()
            losses = train_epoch_right(net, make(net.parameters()), train_iter)
            out[name] = sum(losses) / len(losses)
        return out

    assert_correct(q3, compare, train_epoch_right)
    assert_incorrect(q3, lambda *a: compare(*a, fresh=False), train_epoch_right, says="fresh network")

    assert q4.evaluate(MLPRight, lambda p: torch.optim.Adam(p), ____, 3).status == NOT_ATTEMPTED
    assert_incorrect(q4, MLPRight, lambda p: torch.optim.Adam(p), 64, 10, says="budget")
    assert_incorrect(q4, MLPRight, lambda p: 0.1, 64, 1, says="torch.optim optimiser")
    v = assert_incorrect(q4, MLPRight, lambda p: torch.optim.SGD(p, lr=0.001), 1024, 1, says="below the 82% target")
    assert "SGD (lr 0.001)" in v.message

