"""Three holes of the class grader, closed (issue 14): each test here fails on the grader before the fix.

1. The in-kernel watch of forbidden calls switched off by obfuscated code (``getattr(__import__('s' + 'ys'),
   'setpro' + 'file')(None)``): :mod:`grader.evasions` reads names built from constants and follows modules
   bound at run time, and flags reaching the interpreter's or grader's internals through computed names as
   tampering; the watch itself (:mod:`book.protocol`, :func:`book.checks.common.forbidden_calls`) notes any
   call that switches it off, by the function's identity, and checks afterwards that it is still installed
   (an alarm, in the record's own ``alarms`` field).
2. Fashion-MNIST's test labels inside the sandbox: :mod:`grader.sandbox` makes every test-label file unreadable, and
   :mod:`book.data` reads them as held out and loads the rest (the notebooks' set-up still runs).
3. Exercise 08's ``ANSWER_KEY = ("book.kaggle",)``: the notebook imports book.kaggle itself, so the answer key
   is the functions its questions forbid by dotted name, flagged in that question's answer by any route.

The class batch of hostile submissions (``tests/test_grade_hostile.py``) grades cases of holes 1 and 2 end to
end; here the parts, fast.
"""

import importlib
import json
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from book import protocol
from book.data import FILES
from book.plain_data import Encoder
from book.questions import INCORRECT
from grader import grade, sandbox
from grader.evasions import scan, withheld
from grader.exercise_cells import read_notebook
from grader.make_exercises import SOLUTIONS_DIR

ex08 = importlib.import_module("book.checks.ex08_otto")
SOFTMAX = {"softmax", "_softmax"}
KAGGLE = {"book.kaggle.log_loss", "book.kaggle.row_log_losses"}


def kinds(source, forbidden=SOFTMAX, q="q1"):
    return {f.kind for f in scan(q, source, forbidden, {"book.softmax"}, {"q1", "q2"})}


# --- 1. switching off the watch ---------------------------------------------------------------------------------

OBFUSCATED_SWITCHES = [
    "getattr(__import__('s' + 'ys'), 'setpro' + 'file')(None)",
    "import importlib\nm = importlib.import_module('sys')\nm.setprofile(None)",
    "import sys\nvars(sys)['setprofile'](None)",
    "name = 'setpro' + 'file'\ngetattr(__import__('sys'), name)(None)",
    "getattr(__import__(''.join(['s', 'y', 's'])), 'eliforptes'[::-1])(None)",
    "getattr(__import__(f'{\"sys\"}'), name)(None)",
    "import sys as s\ns.setprofile(None)",
    "from sys import setprofile as quiet\nquiet(None)",
    "import operator\noperator.attrgetter('set' + 'trace')(__import__('sys'))(None)",
    "__import__('sys').__dict__['setprofile'](None)",
    "object.__getattribute__(__import__('sys'), 'setprofile')(None)",
    "import threading\nthreading.setprofile(None)",
    "m = __import__(bytes([115, 121, 115]).decode())",
    "torch._C._pop_torch_function_stack()",
]


@pytest.mark.parametrize("source", OBFUSCATED_SWITCHES)
def test_reaching_the_watch_through_computed_names_is_tampering(source):
    flags = scan("q2", source, SOFTMAX, (), {"q1", "q2"})
    assert "tampering" in {f.kind for f in flags}, source
    assert set(withheld(flags, ["q1", "q2", "q3"])) == {"q1", "q2", "q3"}


@pytest.mark.parametrize("source", [
    "getattr(torch, name)", "getattr(net, mode)()", "getattr(nn, 'ReLU')()", "act = getattr(F, 'relu')",
    "import os\nos.listdir('.')", "x = __import__('os').getcwd()", "setattr(net, 'scale', 2.0)",
    "ops = {'+': 'add'}\nf = getattr(torch, ops['+'])", "hasattr(model, 'weight')"])
def test_honest_uses_of_getattr_and_imports_withhold_nothing(source):
    assert not kinds(source) & {"tampering", "answer-key", "forbidden"}, source
    assert withheld(scan("q1", source, SOFTMAX, (), {"q1"}), ["q1"]) == {}


def test_the_model_solutions_raise_no_flag_with_the_new_rules():
    for exercise in sorted(grade.catalog()):
        base = grade.pristine(exercise)
        module = importlib.import_module(f"book.checks.ex{exercise}")
        questions = {q.id: q for q in module.QUESTIONS}
        solution = read_notebook(SOLUTIONS_DIR / f"{exercise}.ipynb")
        assert grade.answer_flags(solution, base, questions, grade._answer_key(exercise, base)) == [], exercise


def sneaky_log_loss(p, y):  # switches the watch off by a route no reading of the name finds, then borrows
    getattr(__import__("s" + "ys"), "setpro" + "file")(None)
    return ex08_log_loss()(p, y)


def _switch(to):
    list(map(sys.setprofile, [to]))  # called from C code: no call event shows it


def restoring_log_loss(p, y):  # switches it off from C code, borrows, and switches it back
    hook = next(iter(sys.getprofile, object()))
    _switch(None)
    try:
        return ex08_log_loss()(p, y)
    finally:
        _switch(hook)


def off_log_loss(p, y):  # switches it off from C code and leaves it off
    _switch(None)
    return ex08_log_loss()(p, y)


def thread_log_loss(p, y):  # borrows in a thread of its own
    import threading

    out = []
    t = threading.Thread(target=lambda: out.append(ex08_log_loss()(p, y)))
    t.start()
    t.join()
    return out[0]


def ex08_log_loss():
    from book.kaggle import log_loss

    return log_loss


@pytest.mark.parametrize("answer", [sneaky_log_loss, restoring_log_loss, off_log_loss])
def test_the_recording_notes_a_switched_off_watch_however_it_was_reached(answer):
    p, y = torch.rand(4, 9), torch.tensor([0, 1, 2, 8])
    previous = sys.getprofile()
    call = protocol._record_call(0, protocol.Case(p, y), (answer,), set(ex08.q1.forbidden), Encoder(), torch)
    assert sys.getprofile() is previous  # the watch put back what it found
    assert call["alarms"], call


def test_the_recording_watches_the_threads_an_answer_starts():
    p, y = torch.rand(4, 9), torch.tensor([0, 1, 2, 8])
    call = protocol._record_call(0, protocol.Case(p, y), (thread_log_loss,), set(ex08.q1.forbidden), Encoder(),
                                 torch)
    assert "book.kaggle.log_loss" in call["forbidden"], call


def test_the_recording_notes_a_popped_function_mode():
    def popper(z):
        torch._C._pop_torch_function_stack()
        return torch.softmax(z, 0)

    call = protocol._record_call(0, protocol.Case(torch.randn(5)), (popper,), SOFTMAX, Encoder(), torch)
    assert call["alarms"], call
    assert torch.overrides._get_current_function_mode_stack() == []


def test_an_honest_recorded_call_raises_no_alarm():
    def softmax(z):
        import threading

        t = threading.Thread(target=lambda: None)  # threads are allowed: the watch follows them
        t.start()
        t.join()
        e = (z - z.max()).exp()
        return e / e.sum()

    call = protocol._record_call(0, protocol.Case(torch.randn(5)), (softmax,), SOFTMAX, Encoder(), torch)
    assert call["status"] == "returned" and call["forbidden"] == [] and call["alarms"] == []


def test_the_judge_turns_the_watchs_alarm_into_a_tampering_flag(tmp_path):
    from book.plain_data import Encoded, write_payload

    cases = ex08.q1.planned_cases(protocol.rng_for(1, ex08.EXERCISE, "q1"))
    encoder = Encoder()
    calls = [{"case": i, "status": "raised", "raised": {"type": "ValueError", "base": "ValueError", "message": ""},
              "forbidden": [], "alarms": ["called sys.setprofile, which switches the check's watch"],
              "args": encoder.encode(list(c.args)), "kwargs": encoder.encode({})} for i, c in enumerate(cases)]
    write_payload(tmp_path / "q1", Encoded({"question": "q1", "answers": [{"$": "function", "name": "f"}],
                                            "calls": calls}), encoder)
    import threading

    status, message, flags = grade.judged_verdict(ex08.q1, cases, tmp_path / "q1", [3], 4, {}, 30, False,
                                                  threading.Lock())
    assert status == INCORRECT and "PyTorch" not in message
    assert {f.kind for f in flags} == {"tampering"} and "sys.setprofile" in flags[0].detail


@pytest.mark.parametrize("answer", [sneaky_log_loss, off_log_loss])
def test_in_self_study_a_switched_off_watch_is_incorrect(answer):
    verdict = ex08.q1.evaluate(answer)
    assert verdict.status == INCORRECT and "switches off the check's watch" in verdict.message, verdict.message


# --- 2. the test labels in the sandbox ------------------------------------------------------------------------

def test_the_sandbox_binds_a_device_node_over_every_test_label_file():
    from grader.run import PACKAGE_PARENT, data_folders

    shown = [PACKAGE_PARENT / "data", *data_folders().values()]
    held = sandbox.held_out_files(shown + [Path(d) for d in sandbox.DATA_DIRS])
    assert held and all(p.name in sandbox.HELD_OUT_FILES for p in held)
    assert set(sandbox.HELD_OUT_FILES) == {FILES["test_labels"], FILES["test_labels"] + ".gz"}  # book.data's name
    command = sandbox.Sandbox(readonly=shown).command(["true"])
    masked = {command[i + 2] for i in range(len(command) - 2) if command[i:i + 2] == ["--ro-bind", "/dev/null"]}
    assert {str(p) for p in held} <= masked


SANDBOXED_READ = """
import hashlib, json, sys
from pathlib import Path
from book.data import find_files, load_dataset
files = find_files('fashion-mnist', download=False)
labels = files['t10k-labels-idx1-ubyte']
data = load_dataset('fashion-mnist', download=False)
try:
    label_bytes = len(open(labels, 'rb').read())
except OSError as exc:
    label_bytes = type(exc).__name__
print(json.dumps({'label_bytes': label_bytes, 'test_labels': sorted(set(data.test_labels.tolist())),
                  'n_test': len(data.test_labels), 'images': tuple(data.test_images.shape),
                  'train': hashlib.sha256(data.train_labels.numpy().tobytes()).hexdigest()}))
"""


def test_in_the_sandbox_the_test_labels_are_held_out_and_the_set_up_still_loads(tmp_path):
    if not sandbox.mechanism():
        pytest.fail(f"this test needs the grader's sandbox: {sandbox.unavailable_reason()}")
    import hashlib

    from book.data import load_dataset
    from grader.run import PACKAGE_DIR, PACKAGE_PARENT, data_folders
    from grader.stage import stage

    staged = stage("07_mlp", grade.pristine("07_mlp"), tmp_path / "stage")
    work = tmp_path / "work"
    work.mkdir()
    box = sandbox.Sandbox(readonly=[PACKAGE_PARENT / "data", *data_folders().values()], writable=[work],
                          overlays={PACKAGE_DIR: staged.package})
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": str(PACKAGE_PARENT), "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": "1", **{k: str(v) for k, v in data_folders().items()}}
    with open(tmp_path / "log", "w+b") as log:
        status = box.run([sys.executable, "-c", SANDBOXED_READ], cwd=work, env=env, timeout=120, output=log)
        log.seek(0)
        text = log.read().decode()
    assert status == 0, text
    seen = json.loads(text.strip().splitlines()[-1])
    mine = load_dataset("fashion-mnist", download=False)
    assert seen["label_bytes"] in (0, "PermissionError") and seen["test_labels"] == [255], seen
    assert seen["n_test"] == len(mine.test_labels) and seen["images"] == list(mine.test_images.shape)
    assert seen["train"] == hashlib.sha256(mine.train_labels.numpy().tobytes()).hexdigest()
    assert set(mine.test_labels.tolist()) == set(range(10))  # outside the sandbox: the real labels, unchanged


# --- 3. exercise 08's answer key ------------------------------------------------------------------------------

def test_the_answer_key_leaves_out_what_the_notebook_imports_and_agrees_with_the_sandbox(tmp_path):
    from grader.stage import answer_key, stage

    base = grade.pristine("08_otto")
    key = answer_key("08_otto", base)
    assert "book.kaggle" not in key and "book.otto" not in key and "book.checks.ex08_otto" in key
    staged = stage("08_otto", base, tmp_path)
    assert staged.key == key - staged.shown and "book.kaggle" in staged.shown
    assert "book.softmax" in answer_key("01_softmax", grade.pristine("01_softmax"))  # not imported by 01


@pytest.mark.parametrize("source", [
    "from book.kaggle import log_loss\n\ndef kaggle_log_loss(p, y):\n    return log_loss(p, y)",
    "def kaggle_log_loss(p, y):\n    return log_loss(p, y)",  # the name the notebook's own cell imports
    "import book.kaggle as k\nkaggle_log_loss = lambda p, y: k.row_log_losses(p, y).mean().item()",
    "from book import kaggle\nkaggle_log_loss = getattr(kaggle, 'log_' + 'loss')",
    "import book\nkaggle_log_loss = book.kaggle.log_loss"])
def test_ex08_answers_that_borrow_the_course_metric_lose_that_question_only(source):
    base = grade.pristine("08_otto")
    questions = {q.id: q for q in ex08.QUESTIONS}
    submission = json.loads(json.dumps(read_notebook(SOLUTIONS_DIR / "08_otto.ipynb")))
    for cell in submission["cells"]:
        if cell["metadata"].get("exercise", {}).get("role") == "answer" \
                and cell["metadata"]["exercise"].get("question") == "q1":
            cell["source"] = source
    with tempfile.TemporaryDirectory() as tmp:
        from grader.stage import stage

        key = stage("08_otto", base, Path(tmp)).key  # the sandbox's answer key, as a class grading uses it
    flags = grade.answer_flags(submission, base, questions, key)
    assert {f.kind for f in flags} & {"forbidden"}, flags
    assert set(withheld(flags, [q.id for q in ex08.QUESTIONS])) == {"q1"}, flags


def test_ex08_answers_may_use_the_metric_where_no_question_forbids_it():
    source = "def kaggle_log_loss(p, y):\n    return 0.5\n\nprint(log_loss(torch.rand(2, 9), torch.tensor([0, 1])))"
    assert "forbidden" in kinds(source, KAGGLE)  # q1 forbids it, even for a print
    assert not kinds("net = mlp\nprint(log_loss(net(X), y))", set(ex08.q4.forbidden), "q4") & {
        "forbidden", "tampering", "answer-key"}


def test_no_check_here_leaves_a_profile_function_or_a_function_mode_behind():
    assert sys.getprofile() is None
    assert torch.overrides._get_current_function_mode_stack() == []


def test_the_records_alarms_are_their_own_field_checked_and_bounded(tmp_path):
    from book.plain_data import Encoded, PayloadError, write_payload
    from book.replay import MAX_ALARM_TEXT, MAX_ALARMS, read_record

    def recorded(folder, alarms):
        encoder = Encoder()
        calls = [{"case": i, "status": "returned", "result": encoder.encode(0.0), "forbidden": ["softmax"],
                  "alarms": alarm} for i, alarm in enumerate(alarms)]
        write_payload(tmp_path / folder, Encoded({"question": "q1", "answers": [{"$": "function", "name": "f"}],
                                                  "calls": calls}), encoder)
        return read_record(tmp_path / folder, len(alarms))

    same = recorded("same", [["called sys.setprofile"], ["called sys.setprofile"], []])
    assert same.alarms == ["called sys.setprofile"]  # once for the question, however many calls saw it
    assert all(call["forbidden"] == ["softmax"] for call in same.calls.values())  # not mixed with the calls
    many = recorded("many", [[f"{i}" * 1000 for i in range(10)] for _ in range(8)])
    assert len(many.alarms) == 10 and all(len(a) == MAX_ALARM_TEXT for a in many.alarms)  # ten distinct
    flood = recorded("flood", [[f"alarm {i} {j}" for j in range(50)] for i in range(4)])
    assert len(flood.alarms) == MAX_ALARMS and flood.alarms[0] == "alarm 0 0"
    for wrong in ("called sys.setprofile", [3], {"a": "b"}):
        with pytest.raises(PayloadError, match="alarms"):
            recorded(f"wrong{len(str(wrong))}", [wrong])
