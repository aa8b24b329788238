"""The question API (check, hint, solution, the grading record), the grading protocol (cases, records, replay),
and the checkers of exercises 01 and 02 on right and wrong answers (the other exercises' checkers are tested in
tests/test_checks_ex03_05.py and tests/test_checks_ex06_08.py, with the helpers below).

In-process and fast: the checkers are called directly with small functions standing for a learner's answers.
Wrong answers are the mistakes learners make; each must get its own specific message. Converted checkers
(``cases=``) are also run the way the grader runs them -- recorded in one place, judged in another -- and must
give the same verdict and message both ways. Exercises other than 01 and 02 are looked up by the end of their id
(``exercise_ending("_mlp")``...): the course renumbers them as it grows.
"""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from book import checks, plain_data, protocol, questions, replay
from book.checks import ex01_softmax, ex02_cross_entropy
from book.questions import (CORRECT, INCORRECT, NOT_ATTEMPTED, RESULTS_ENV, CheckFailed, Incorrect, Question, ____,
                            plain, record)


def exercise_ending(suffix):
    """The checks module of the exercise whose id ends with ``suffix`` (ids are renumbered as the course grows)."""
    return checks.load(next(e for e in checks.exercise_ids() if e.endswith(suffix)))




def stub(*args, **kwargs):
    raise NotImplementedError("write your answer here")


def graded(question, *answers, seed=None):
    """The verdict as a class grading reaches it: the answers' outputs recorded on the planned cases (as in the
    sandbox), then the checker judging the record with Replay stand-ins (as in the grader)."""
    import os
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        plans, records = Path(tmp) / "plans", Path(tmp) / "records"
        generator = None if seed is None else protocol.rng_for(seed, question.exercise, question.id)
        cases = question.planned_cases(generator)
        protocol.write_plan(plans / question.id, question, cases)
        protocol.finish_plans(plans)
        saved = {k: os.environ.get(k) for k in (protocol.PLANS_ENV, protocol.RECORDS_ENV)}
        os.environ[protocol.PLANS_ENV], os.environ[protocol.RECORDS_ENV] = str(plans), str(records)
        try:
            protocol.record(question, answers)
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        recorded = replay.read_record(records / question.id, len(cases))
        stand_ins = replay.answers_for_judge(recorded, cases)
        if stand_ins is None:
            return None
        return question.evaluate(*stand_ins, cases=cases)


def assert_incorrect(question, *answers, says):
    v = question.evaluate(*answers)
    assert v.status == INCORRECT, f"{question.id} accepted a wrong answer: {v}"
    for fragment in [says] if isinstance(says, str) else says:
        assert fragment in v.message, f"{question.id}: expected {fragment!r} in the message {v.message!r}"
    if question.judged_outside:
        g = graded(question, *answers)
        assert (g.status, g.message) == (v.status, v.message), f"{question.id}: judged differently from a record"
    return v


def assert_correct(question, *answers):
    v = question.evaluate(*answers)
    assert v.status == CORRECT, f"{question.id} rejected a right answer: {v.message}"
    assert v.points == question.points
    if question.judged_outside:
        g = graded(question, *answers, seed=12345)
        assert g.status == CORRECT, f"{question.id} rejected a right answer judged from its record: {g.message}"


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
    assert "on 2, f returned 3, expected twice its input" in str(wrong.value)  # plain text: no Markdown marks
    assert "`f`" in wrong.value.verdict.message  # the message itself keeps them (the teacher's report renders them)
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
    model = questions.exercise_catalog()["01_softmax"]["questions"][0]["solution"]
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
    assert graded(q1, stub).status == NOT_ATTEMPTED and graded(q1, ____) is None  # a blank: no answer to judge

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


# --- the grading protocol: plain data out of the sandbox, judged by the checker in the grader -------------------

def test_values_cross_as_plain_data_and_come_back_the_same(tmp_path):
    import numpy as np

    value = {"t": torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_(),
             "half": torch.ones(2, dtype=torch.bfloat16), "ints": torch.tensor([1, -2]), "flags": torch.tensor([True]),
             "list": [1, 2.5, "x", None, True], "tuple": (float("nan"), float("-inf")), "big": 2 ** 80,
             "array": np.arange(3, dtype=np.int16), "scalar": np.float32(1.5), 3: "int key",
             "object": object(), "function": len}
    plain_data.write_payload(tmp_path / "p", value)
    back = plain_data.read_payload(tmp_path / "p")
    assert torch.equal(back["t"].detach(), value["t"].detach()) and back["t"].requires_grad
    assert back["half"].dtype == torch.bfloat16 and back["ints"].dtype == torch.int64
    assert back["flags"].dtype == torch.bool
    assert back["list"] == value["list"] and math.isnan(back["tuple"][0]) and back["tuple"][1] == float("-inf")
    assert back["big"] == 2 ** 80 and back["array"].dtype == np.int16 and back[3] == "int key"
    assert back["scalar"] == np.float32(1.5) and type(back["object"]).__name__ == "object"
    assert "<function len>" == repr(back["function"])
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("damage, complaint", [
    ("symlink", "cannot open"), ("fifo", "not a regular file"), ("pickle", "not a valid .npy"),
    ("huge", "larger than"), ("nested", "not valid JSON"), ("kind", "unknown kind"), ("traversal", "bad array name"),
    ("format", "grading format"), ("not_a_folder", "not a folder"),
])
def test_a_damaged_or_hostile_record_is_refused_without_following_links_or_hanging(tmp_path, damage, complaint):
    import os

    import numpy as np

    folder = tmp_path / "q1"
    plain_data.write_payload(folder, torch.zeros(3))
    doc = folder / "value.json"
    if damage == "symlink":
        doc.unlink()
        doc.symlink_to("/etc/hostname")
    elif damage == "fifo":
        doc.unlink()
        os.mkfifo(doc)
    elif damage == "pickle":
        np.save(folder / "a0.npy", np.array([object()], dtype=object), allow_pickle=True)
    elif damage == "huge":
        doc.write_text(json.dumps({"format": plain_data.FORMAT, "value": "x" * (plain_data.MAX_JSON_BYTES + 1)}))
    elif damage == "nested":
        doc.write_text('{"format": "course-grading/1", "value": ' + "[" * 100_000 + "]" * 100_000 + "}")
    elif damage == "kind":
        doc.write_text(json.dumps({"format": plain_data.FORMAT, "value": {"$": "pickle", "data": "..."}}))
    elif damage == "traversal":
        doc.write_text(json.dumps({"format": plain_data.FORMAT, "value": {"$": "tensor", "array": "../../etc/x",
                                                                        "dtype": "float32"}}))
    elif damage == "format":
        doc.write_text(json.dumps({"value": 1}))
    elif damage == "not_a_folder":
        import shutil

        shutil.rmtree(folder)
        folder.write_text("x")
    with pytest.raises(plain_data.PayloadError, match=complaint):
        plain_data.read_payload(folder)
    with pytest.raises(plain_data.NoRecord):
        plain_data.read_payload(tmp_path / "missing")


def test_replay_serves_results_side_effects_gradients_and_exceptions_to_an_unchanged_checker(tmp_path):
    def sgd_like(W, lr):  # changes its input in place, like an optimiser step
        with torch.no_grad():
            W -= lr
        return float(W.sum())

    def checker(f, cases):
        W, lr = cases[0].args
        out = f(W, lr)
        assert torch.equal(W, torch.full((2,), -1.0)) and out == -2.0  # the side effect reached the checker's W
        try:
            f(W, -1.0)
        except ValueError as exc:  # a learner's subclass of ValueError is still a ValueError
            assert type(exc).__name__ == "NegativeRate" and "negative" in str(exc)
        else:
            raise Incorrect("no ValueError")
        z = cases[2].args[0]
        loss = f(z, 0.0)
        loss.backward()
        assert torch.equal(z.grad, torch.full((3,), 2.0))

    def answer(W, lr):
        class NegativeRate(ValueError):
            pass

        if W.shape == (3,):
            return (2 * W).sum()  # its gradient is 2 everywhere
        if lr < 0:
            raise NegativeRate("a negative learning rate")
        return sgd_like(W, lr)

    def cases(rng):
        W = torch.zeros(2)  # one tensor for two calls: the second sees what the first did to it
        return [protocol.Case(W, 1.0), protocol.Case(W, -1.0),
                protocol.Case(torch.ones(3, requires_grad=True), 0.0, backward=True)]

    q = Question("00_toy", "q1", "Replay", 1, checker, hints=["h"], cases=cases)
    assert q.evaluate(answer).status == CORRECT
    assert graded(q, answer).status == CORRECT

    def strays(f, cases):
        f(torch.full((5,), 7.0), 1.0)  # not a planned case: a bug in the checker, never the learner's fault

    q_bad = Question("00_toy", "q2", "Stray", 1, strays, hints=["h"], cases=lambda rng: [protocol.Case(1.0, 2.0)])
    with pytest.raises(protocol.ProtocolError, match="did not plan"):
        graded(q_bad, lambda *a: None)


def test_what_the_learners_code_raises_is_rebuilt_only_as_an_exception_never_as_a_system_exit():
    rebuilt = replay.rebuild_exception({"type": "SystemExit", "base": "SystemExit", "message": "bye"})
    assert isinstance(rebuilt, Exception) and type(rebuilt).__name__ == "SystemExit"
    rebuilt = replay.rebuild_exception({"type": "KeyboardInterrupt", "base": "KeyboardInterrupt"})
    assert isinstance(rebuilt, Exception)
    assert isinstance(replay.rebuild_exception({"type": "Odd", "base": "KeyError", "message": "k"}), KeyError)
    assert type(replay.rebuild_exception({"type": "x; import os", "base": "nope"})).__name__ == "ximportos"


def test_the_record_catches_forbidden_calls_by_any_pytorch_route():
    q1 = ex01_softmax.q1
    for route in (lambda z: torch.softmax(z, 0), lambda z: z.softmax(0),
                  lambda z: torch.ops.aten._softmax.default(z, 0, False),
                  lambda z: torch.ops.aten._softmax(z, 0, False),
                  lambda z: getattr(torch.special, "soft" + "max")(z, 0)):
        v = graded(q1, route)
        assert v.status == INCORRECT and "calls PyTorch's" in v.message, v.message


def test_every_grading_draws_fresh_inputs_and_keeps_the_fixed_ones():
    q1 = ex01_softmax.q1
    one, two = (q1.planned_cases(protocol.rng_for(seed, "01_softmax", "q1")) for seed in (1, 2))
    assert torch.equal(one[0].args[0], two[0].args[0]) and torch.equal(one[1].args[0], two[1].args[0])
    assert not torch.equal(one[-1].args[0], two[-1].args[0])
    again = q1.planned_cases(protocol.rng_for(1, "01_softmax", "q1"))
    assert torch.equal(one[-1].args[0], again[-1].args[0])
    assert all(q.judged_outside for q in ex01_softmax.QUESTIONS + ex02_cross_entropy.QUESTIONS)


def test_plain_text_messages_drop_markdown_code_marks():
    assert plain("`softmax` returned `nan`") == "softmax returned nan"
    with pytest.raises(CheckFailed) as failed:
        TOY.check(lambda x: x + 1)
    assert "`" not in "".join(failed.value._render_traceback_())


def test_a_stand_in_question_records_and_has_no_solution_to_show(capsys, monkeypatch):
    stand_in = protocol.graded_question("01_softmax", "q1", "t", 2, ["a hint"], ["softmax"])
    stand_in.hint()
    assert "a hint" in capsys.readouterr().out
    monkeypatch.setattr(questions, "CATALOG_NAME", "absent.json")  # as in the sandbox: no model answers
    stand_in.solution()
    assert "not available while the grader runs" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="grader"):
        stand_in.planned_cases()


def test_in_jupyter_a_check_run_before_its_answer_says_which_cell_to_run(tmp_path):
    import subprocess
    import sys

    script = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_cell('from book.checks.ex01_softmax import q1')\n"
        "result = shell.run_cell('q1.check(softmax)')\n"
        "print('ERROR', type(result.error_in_exec).__name__, isinstance(result.error_in_exec, NameError))\n"
        "result = shell.run_cell('undefined_name + 1')\n"
        "print('OTHER', type(result.error_in_exec).__name__)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert "q1: softmax is not defined yet. Run the answer cell above" in out, out + done.stderr
    assert "ERROR NameError True" in out  # still an error: nbval and Run All stop there
    assert "Traceback" in out.split("ERROR")[1] and "OTHER NameError" in out  # elsewhere, the usual traceback


def test_a_model_handed_in_as_an_answer_is_recorded_as_data_and_judged_by_name():
    def checker(net, cases):
        X = cases[0].args[0]
        with torch.no_grad():
            out = net(X)
        if tuple(out.shape) != (4, 3):
            raise Incorrect(f"returned shape {tuple(out.shape)}")
        if type(net).__name__ != "Sequential" or sum(p.numel() for p in net.parameters()) != 2 * 3 + 3:
            raise Incorrect("expected one Linear(2, 3) in a Sequential")
        if any(type(m).__name__ == "Softmax" for m in net.modules()):
            raise Incorrect("the model ends in a softmax: return logits")
        if not net.training:
            raise Incorrect("left in eval mode")
        weight = dict(net.named_parameters())["0.weight"]
        expected = X @ weight.T + dict(net.named_parameters())["0.bias"]
        if not torch.allclose(out, expected, atol=1e-5):
            raise Incorrect("not a linear function of its input")

    q = Question("00_toy", "q1", "A model", 1, checker, hints=["h"],
                 cases=lambda rng: [protocol.Case(torch.randn(4, 2, generator=rng), no_grad=True)])
    right = nn.Sequential(nn.Linear(2, 3))
    assert q.evaluate(right).status == CORRECT and graded(q, right).status == CORRECT
    for wrong, says in ((nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1)), "ends in a softmax"),
                        (nn.Sequential(nn.Linear(2, 3)).eval(), "eval mode"),
                        (nn.Sequential(nn.Linear(2, 4)), "shape (4, 4)")):
        direct, judged = q.evaluate(wrong), graded(q, wrong)
        assert direct.status == judged.status == INCORRECT, (direct, judged)
        assert says in direct.message and says in judged.message, (direct, judged)
