"""Checks whose verdict is decided outside the learner's process: cases, records and replay.

A learner's notebook is arbitrary Python. Whatever runs in its kernel -- the check included -- can be changed by
the code before it, so a verdict computed there is only as honest as the learner. When a class is graded
(:mod:`grader`) a question is therefore checked in three steps:

1. **Plan** (the grader, trusted). The question's ``cases(rng)`` draws the inputs its checker calls the
   learner's code on, with a generator seeded afresh for every grading; they are written into the sandbox as
   plain data (JSON and ``.npy`` arrays, never pickle).
2. **Record** (the sandbox, untrusted). In the graded notebook, the check cell ``q1.check(softmax)`` does not
   judge anything: it calls the learner's function on each planned input and writes down what came back -- the
   result or the exception, every input tensor's state afterwards (in-place changes), gradients where a case
   asks for ``backward``, and any call of a function the question forbids -- again as plain data. No reference
   is in the sandbox: the grader shows the kernel a copy of the package without the checkers, the reference
   implementations and the model solutions (see :mod:`grader.stage`).
3. **Judge** (the grader, trusted). The question's own checker runs in the grader's process, unchanged, on the
   same inputs; the learner's functions are replaced by :class:`book.replay.Replay` stand-ins that serve the recorded
   results (and re-apply the recorded side effects to the checker's own tensors). Every comparison and every
   reference value is computed there. Recorded data is validated (types, sizes, shapes) before use: a forged or
   damaged record can only make the answer wrong, never right, because it would have to hold the right outputs
   for inputs nobody knew before the run.

In a learner's own notebook (self-study) nothing of this shows: ``q1.check(softmax)`` calls the checker directly
on cases drawn with a fixed seed, as before.

This module holds the cases, the plan and the recording (what runs in the learner's kernel);
:mod:`book.plain_data` the data format both sides use; :mod:`book.replay` the judging (the grader's side).

How to convert a checker (the conversion guide)
------------------------------------------------
A checker written as "call the learner's code, compare with a reference" converts mechanically. Exercises 01
and 02 (``book/checks/ex01_softmax.py``, ``ex02_cross_entropy.py``) are converted: use them as the model;
exercises 03-05 show the objects, generators, returned models and drivers of point 1.

1. **Cases.** Move every input the checker builds for the learner's code into a function ``cases(rng)`` that
   returns a list of :class:`Case`, one per call, in the order the checker makes them: ``Case(z)``,
   ``Case(Z, T)``, ``Case(logits, y, backward=True)`` (the recording calls ``.backward()`` on the scalar result
   and records each input's ``.grad``; the checker's own ``out.backward()`` then fills its tensors' ``.grad``
   with them), ``Case(X, no_grad=True)`` (the call runs under ``torch.no_grad()``, as the checker would wrap
   it), ``Case(X, answer=1)`` (a question with several callable answers: which one). Fixed inputs stay fixed
   (they carry the specific messages: overflow at 1000, underflow at -1000); random ones are drawn from
   ``rng`` (``torch.randn(5, 7, generator=rng)``), never from a fixed ``manual_seed``: in a class grading
   ``rng`` is seeded afresh for every grading, so outputs cannot be prepared in advance. Inputs are tensors,
   numbers, strings, None, and lists/tuples/dicts of them. A tensor that several cases share is given to
   those calls as one object, so state carries from call to call as in self-study (the parameters ``W, b``
   that two calls of ``train_epoch`` update in turn). Inputs may also be objects of :mod:`book.probes`
   (exercises 03-05 use them): a named function to differentiate (``probes.Function("sum_of_cubes")``), a
   network that notes its calls (``probes.RecordingNet()``), a linear model over parameters the same call
   updates (``probes.LinearModel(W, b)``), an ``nn.Module`` of common layers, its ``torch.optim.SGD`` (after
   its module in the arguments); each is stored once in the plan, and its state after the call (mode,
   parameters, counts) is put back into the checker's object. ``Case(..., iterate=True)`` lists what a
   generator yields; ``Case(X, result_of=0)`` calls the model that case 0 returned; a loop whose calls depend
   on the answers (an epoch per learning rate chosen) runs in a trusted driver, ``Case(seed, driver=name)``
   with ``protocol.drive(case, *answers)`` in the checker (``book.probes.DRIVERS``).
2. **Checker.** Change its signature to ``check_x(answer, ..., cases)`` and make it call the learner's code on
   those objects (``z = cases[0].args[0]``, or unpack them). It may copy an input first (``Z.clone()``: inputs
   are matched by identity, then by value) and may stop early (an ``Incorrect``). It must not call the
   learner's code on anything that is not a case: the grader stops with a ``ProtocolError`` naming the call
   (a checker bug, caught by the tests that judge records, ``graded()`` in ``tests/test_questions.py``).
3. **Question.** Declare it with ``cases=`` and, if it forbids functions, ``forbidden=`` (the names the checker
   gives ``forbid(...)``; add the ATen names a route may reach, e.g. ``nll_loss_forward``):
   ``Question(EXERCISE, "q1", title, 2, check_x, hints=[...], cases=x_cases, forbidden=SOFTMAX_FUNCTIONS)``.
   The checker keeps its ``with forbid(...)`` for the message; the recording side watches the same names at
   both PyTorch levels (``torch.softmax``, ``Tensor.softmax``, ``torch.ops.aten._softmax``). Checks that the
   learner does not call a *course* function (``forbidden_calls(book.kaggle.log_loss)``) need nothing more:
   in the sandbox those modules do not exist, and :mod:`grader.evasions` flags answers that import them. Where
   the module must stay (``book.data``, which the notebook uses) or is a library's (``DataLoader``), forbid
   the function by its dotted name (``"book.data.to_float"``): the recording notes its calls by code object,
   and the checker's function mode with those ``names`` gives the message (``forbidden_functions`` in
   ``book/checks/ex03_data.py``).
4. **State the checker reads.** What the record carries: each call's result (any value: tensors as fresh CPU
   tensors of the same dtype and shape, plain values, other objects as an :class:`book.plain_data.Opaque` stand-in that keeps
   the type's name and ``repr``, so "returned list" reads as in self-study), the exception it raised (type name,
   message, the built-in class it derives from: ``except ValueError`` in the checker still works), every input
   tensor's state afterwards (in-place updates, ``requires_grad``, ``.grad``), and, for an answer that is an
   ``nn.Module``, its class name, ``training`` flag, parameters, buffers and submodules (:class:`book.replay.ReplayModule`:
   ``net(X)`` is served from the record like any call; ``type(net).__name__``, ``net.training``,
   ``net.parameters()``, ``net.named_modules()`` read the recorded ones). Read module structure *by name*
   (``type(m).__name__ == "Softmax"``), not with ``isinstance`` (the stand-ins are not torch modules). Anything
   else a checker reads from the learner's objects -- a file the code wrote, an object passed in and changed,
   a custom class -- needs a probe added here first (a value recorded after each call), not a read in the
   checker. A trained model is scored by calling it on inputs of the cases (held-out rows, chosen by the
   checker) and comparing with labels the checker keeps: the sandbox never sees them.
5. **Tests.** ``tests/test_questions.py``: ``assert_correct`` / ``assert_incorrect`` run every right and wrong
   answer both ways -- directly (self-study) and recorded then judged (``graded()``) -- and require the same
   verdict and message; ``tests/test_grade.py`` grades the model solution in the sandbox (full marks) and the
   planted mistakes (their messages).

Values returned by the learner's code are decoded in the judge as fresh CPU tensors (same dtype and shape),
plain Python values, or a :class:`book.plain_data.Opaque` stand-in that keeps the type's name and a ``repr`` (so a message
"returned list" or "returned NoneType" reads the same as in self-study).
"""

from __future__ import annotations

import os
from pathlib import Path

from book.plain_data import MAX_TEXT, Decoder, Encoded, Encoder, write_payload

PLANS_ENV = "COURSE_GRADING_PLANS"     # folder of the planned cases (read-only in the sandbox)
RECORDS_ENV = "COURSE_GRADING_RECORDS"  # folder where the check cells write what the learner's code returned
SELF_STUDY_SEED = 20251130              # the cases of a learner's own check (their notebook, no grader)
class ProtocolError(RuntimeError):
    """The checker called the learner's code on an input its ``cases`` did not plan: a bug in the checker."""


class Case:
    """One call of the learner's code that a checker makes: positional and keyword arguments, which answer
    (when a question has several callable answers), whether to record gradients of the inputs (``backward``),
    and whether the call runs under ``torch.no_grad()`` (``no_grad``: as the checker wraps it).

    ``iterate``: the call returns an iterator (a generator); the recording lists its items (at most
    ``MAX_ITERATED``), as the checker's ``list(...)`` would. ``result_of=i``: the call is of what case ``i``
    returned (a model built by the learner's function), not of an answer. ``driver="name"``: the call is of the
    trusted function ``book.probes.DRIVERS[name]`` with the answers first, for a loop whose calls depend on the
    answers (one epoch per learning rate the learner chose); the checker runs it with :func:`drive`.
    Arguments may also be the objects of :mod:`book.probes` (functions, recording networks, ``nn.Module`` s,
    an SGD optimiser)."""

    __slots__ = ("args", "kwargs", "answer", "backward", "no_grad", "iterate", "result_of", "driver", "recorded")

    def __init__(self, *args, answer: int = 0, backward: bool = False, no_grad: bool = False,
                 iterate: bool = False, result_of: int | None = None, driver: str | None = None, **kwargs):
        self.args, self.kwargs, self.answer, self.backward, self.no_grad = args, kwargs, answer, backward, no_grad
        self.iterate, self.result_of, self.driver = iterate, result_of, driver
        self.recorded = None  # in the judge, for a driver case: serves what the sandbox recorded

    def __repr__(self) -> str:
        return f"Case({len(self.args)} args, answer={self.answer}, backward={self.backward})"


def rng_for(seed: int, exercise: str, question: str):
    """The generator a question's cases are drawn with: the grading's seed, split per question."""
    import hashlib

    import torch

    digest = hashlib.sha256(f"{seed}:{exercise}:{question}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


# --- the plan: cases as data ----------------------------------------------------------------------------------

def _tensors_in(value, found: list) -> None:
    import torch

    from book.probes import Probe

    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, Probe):
        found.extend(value.tensors())
    elif type(value) in (list, tuple):
        for v in value:
            _tensors_in(v, found)
    elif type(value) is dict:
        for v in value.values():
            _tensors_in(v, found)


def write_plan(folder: Path, question, cases: list[Case]) -> None:
    """The planned calls of ``question`` into ``folder`` (the grader, before the run). A tensor that several
    cases share (the checker calls the learner's code twice on the same object) is stored once and given to
    those calls as one object, so that state carries from call to call as it does in self-study."""
    found: list = []
    for c in cases:
        _tensors_in((c.args, c.kwargs), found)
    counts: dict[int, int] = {}
    for t in found:
        counts[id(t)] = counts.get(id(t), 0) + 1
    from book.probes import plan_encoder_hook

    encoder = Encoder()
    encoder.hook = plan_encoder_hook  # objects (book.probes) stored once, in document["objects"]
    shared_ids = [i for i, n in counts.items() if n > 1]
    by_id = {id(t): t for t in found}
    encoder.shared = {i: k for k, i in enumerate(shared_ids)}
    shared = [encoder.tensor(by_id[i], grad=True) for i in shared_ids]
    document = {"question": question.id, "forbidden": sorted(question.forbidden), "shared": shared,
                "cases": [{"answer": c.answer, "backward": c.backward, "no_grad": c.no_grad, "iterate": c.iterate,
                           "result_of": c.result_of, "driver": c.driver,
                           "args": encoder.encode(list(c.args), grad=True),
                           "kwargs": encoder.encode(dict(c.kwargs), grad=True)}
                          for c in cases]}
    document["objects"] = encoder.__dict__.get("objects", [])
    write_payload(folder, Encoded(document), encoder)


READY = "READY"          # written last into the plans folder: everything in it is complete
QUESTIONS = "questions.json"  # the question list the sandbox's stand-in checks module defines
PLAN_WAIT_S = 300.0


def wait_for_plans(plans: Path) -> None:
    """Wait until the grader has written the plans (it writes them while the sandbox starts, not before)."""
    import time

    deadline = time.monotonic() + PLAN_WAIT_S
    while not (plans / READY).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the grader wrote no plans into {plans} within {PLAN_WAIT_S:g} s")
        time.sleep(0.02)


def finish_plans(plans: Path, listing: dict | None = None) -> None:
    """Mark the plans folder complete, with the question list for the sandbox's stand-in (if any)."""
    import json

    if listing is not None:
        (plans / QUESTIONS).write_text(json.dumps(listing), encoding="utf-8")
    (plans / READY).write_text("", encoding="utf-8")


def read_plan(folder: Path) -> tuple[list[str], list[Case]]:
    """(forbidden names, cases) of a plan; in the sandbox, each read gives fresh input tensors (shared ones once)."""
    from book.probes import plan_decoder_hook

    wait_for_plans(Path(folder).parent)
    document = Decoder(folder)
    value = document.document()
    forbidden = [str(n) for n in value.get("forbidden", [])]
    document.shared = [document.decode(t) for t in value.get("shared", [])]
    document.hook, document.objects_raw = plan_decoder_hook, list(value.get("objects", []))
    cases = []
    for spec in value["cases"]:
        args = document.decode(spec["args"])
        kwargs = document.decode(spec["kwargs"])
        result_of = spec.get("result_of")
        cases.append(Case(*args, answer=int(spec["answer"]), backward=bool(spec["backward"]),
                          no_grad=bool(spec.get("no_grad")), iterate=bool(spec.get("iterate")),
                          result_of=result_of if type(result_of) is int else None,
                          driver=str(spec["driver"]) if spec.get("driver") else None, **kwargs))
    return forbidden, cases


# --- recording, in the learner's kernel -------------------------------------------------------------------

class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ForbiddenCall(Exception):
    """Raised inside the learner's code when it calls a function the question forbids (recorded as such)."""


def _watch(names: set[str], called: list[str]):
    """A context manager that catches forbidden calls of torch functions by any of their Python routes:
    ``torch.softmax``, ``F.softmax``, ``Tensor.softmax``, ``torch._C._VariableFunctions.softmax``,
    ``torch.ops.aten._softmax`` and its overloads (``.default``). (A dispatch-level mode would also see an
    operator that torch's own C++ code calls inside an allowed function, but entering one imports sympy and
    half of torch -- seconds per grading; such routes are obscure, and :mod:`grader.evasions` flags the code that
    turns the watch off.)"""
    from torch.overrides import TorchFunctionMode

    class Functions(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            # torch.special.softmax is named "special_softmax": the same function by another door
            base = str(getattr(func, "__name__", "")).split(".")[0].removeprefix("special_")
            if base in names:
                called.append(base)
                raise ForbiddenCall(f"the question forbids `{base}`")
            return func(*args, **(kwargs or {}))

    return Functions()


def _mode_active(mode, torch) -> bool:
    """Whether the watch's function mode is still on PyTorch's mode stack (the answer may have popped it)."""
    try:
        return any(m is mode for m in torch.overrides._get_current_function_mode_stack())
    except Exception:
        return False


def _describe_exception(exc: BaseException) -> dict:
    base = next((k.__name__ for k in type(exc).__mro__ if k.__module__ == "builtins"), "Exception")
    try:
        message = str(exc)[:MAX_TEXT]
    except BaseException:
        message = ""
    return {"type": type(exc).__name__[:100], "base": base, "message": message}


def record(question, answers: tuple) -> None:
    """Run the planned cases of ``question`` on ``answers`` and write what happened (in the sandbox)."""
    import torch

    from book.questions import Blank

    plans, records = os.environ.get(PLANS_ENV), os.environ.get(RECORDS_ENV)
    if not plans or not records:
        raise RuntimeError("not grading: the grader sets COURSE_GRADING_PLANS and COURSE_GRADING_RECORDS")
    from book.probes import record_encoder_hook

    forbidden, cases = read_plan(Path(plans) / question.id)
    encoder = Encoder()
    encoder.hook = record_encoder_hook  # objects given to the calls: their state afterwards; models returned
    entry = {"question": question.id, "answers": [], "calls": []}
    for answer in answers:
        if isinstance(answer, Blank):
            entry["answers"].append({"$": "blank"})
        elif isinstance(answer, torch.nn.Module):
            entry["answers"].append({"$": "module", "state": describe_module(answer, encoder)})
        elif callable(answer):
            entry["answers"].append({"$": "function", "name": str(getattr(answer, "__name__", "answer"))[:200]})
        else:
            entry["answers"].append(encoder.encode(answer))
    if not any(isinstance(a, Blank) for a in answers):
        results: dict = {}
        for i, case in enumerate(cases):
            entry["calls"].append(_record_call(i, case, answers, set(forbidden), encoder, torch, results))
    write_payload(Path(records) / question.id, Encoded(entry), encoder)


def describe_module(module, encoder: Encoder) -> dict:
    """What a checker may read of a model handed in as an answer, as data: its class, mode, parameters and
    buffers (name -> tensor), and its submodules (name, class, ``extra_repr``, mode)."""
    def safe(f, default):
        try:
            return f()
        except Exception:
            return default

    return {"class": type(module).__name__[:100], "training": bool(getattr(module, "training", False)),
            "parameters": [[str(n)[:200], encoder.tensor(p)] for n, p in safe(lambda: list(
                module.named_parameters()), [])[:1000]],
            "buffers": [[str(n)[:200], encoder.tensor(b)] for n, b in safe(lambda: list(
                module.named_buffers()), [])[:1000]],
            "modules": [[str(n)[:200], type(m).__name__[:100], safe(lambda: str(m.extra_repr())[:300], ""),
                         bool(getattr(m, "training", False))] for n, m in safe(lambda: list(
                             module.named_modules()), [])[:1000]]}


MAX_ITERATED = 50  # items of an iterator a case with ``iterate`` lists (a record holds at most 512 arrays)


def _resolve(dotted: str):
    """The function or class named ``module.name`` (``torch.utils.data.dataloader.DataLoader``), or None where
    it does not exist (a module the sandbox leaves out)."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        for name in parts[cut:]:
            target = getattr(target, name, None)
        return target
    return None


def watch_switches():
    """What switches the watch off or reaches around it, by identity (the same objects however they are
    reached: ``getattr(__import__('s' + 'ys'), ...)`` gives this very function): the built-ins as ``c_call``
    events, threading's Python functions by their code objects."""
    import sys
    import threading

    builtins = {id(f): f"sys.{f.__name__}" for f in (sys.setprofile, sys.settrace, sys.getprofile,
                                                      getattr(sys, "setprofile_all_threads", None),
                                                      getattr(sys, "settrace_all_threads", None)) if f is not None}
    codes = {getattr(threading, name).__code__: f"threading.{name}"
             for name in ("setprofile", "settrace", "setprofile_all_threads", "settrace_all_threads")
             if hasattr(getattr(threading, name, None), "__code__")}
    return builtins, codes


class _watch_python:
    """Notes calls of the Python functions (and classes: their ``__init__``) that ``names`` gives as dotted
    paths (``book.data.to_float``), by their code objects, so that aliases and wrappers are caught too (as
    :func:`book.checks.common.forbidden_calls` does in self-study).

    It is also the sentinel of the watch itself, active during every recorded call: a profile function sees
    every call the learner's code makes, so it notes any call of ``sys.setprofile``/``settrace``/``getprofile``
    or threading's versions, however the function was reached (computed names, ``vars(sys)``...), and after the
    call it checks that it is still installed (in this thread and for new threads). Either is an alarm, noted
    in ``alarms`` (a call's own field of the record, beside its ``forbidden`` calls), which the grader turns
    into a tampering flag. It
    does not read the learner's source, so obfuscation does not hide it. (Threads the answer starts through
    ``threading`` inherit it; ``_thread`` threads and calls made from C code, e.g. ``map(sys.setprofile, ...)``,
    do not show as calls -- the pairing of returns and the check afterwards still see a watch switched off,
    unless it is put back from the very call site that removed it; :mod:`grader.evasions` flags the code that
    names these functions.)"""

    def __init__(self, names: set[str], called: list[str], alarms: list[str]):
        self.codes = {}
        for dotted in sorted(n for n in names if "." in n):
            target = _resolve(dotted)
            fn = getattr(target, "__init__", None) if isinstance(target, type) else target
            code = getattr(fn, "__code__", None)
            if code is not None:
                self.codes[code] = dotted
        self.called, self.alarms, self.previous, self.previous_threads = called, alarms, None, None
        self.armed = False

    def __enter__(self):
        import sys
        import threading

        guarded_builtins, guarded_codes = watch_switches()
        codes, called, alarms = self.codes, self.called, self.alarms
        main, get_ident = threading.get_ident(), threading.get_ident
        stack: list = []  # this thread's calls seen and not yet returned: a return without its call is a gap
        gaps: list = []

        def gap():
            if not gaps:
                gaps.append(True)
                alarms.append("the check's watch was switched off for a while (calls went unseen)")

        def watch(frame, event, arg):
            if not self.armed:
                return
            here = get_ident() == main
            if event == "call":
                code = frame.f_code
                if code in codes:
                    called.append(codes[code])
                elif code in guarded_codes:
                    alarms.append(f"called {guarded_codes[code]}, which switches the check's watch")
                if here:
                    stack.append(frame)
            elif event == "return":
                if here and stack and stack.pop() is not frame:
                    gap()
            elif event == "c_call":
                if id(arg) in guarded_builtins and arg is not None:
                    alarms.append(f"called {guarded_builtins[id(arg)]}, which switches the check's watch")
                if here:
                    stack.append((arg, frame, frame.f_lasti))
            elif here and stack:  # c_return, c_exception: the C call seen last, from the same place
                top = stack.pop()
                if type(top) is not tuple or top[0] is not arg or top[1] is not frame or top[2] != frame.f_lasti:
                    gap()

        self.hook = watch
        self.previous, self.previous_threads = sys.getprofile(), threading.getprofile()
        threading.setprofile(watch)  # threads the answer starts are watched too
        sys.setprofile(watch)
        self.armed = True
        return self

    def __exit__(self, *exc):
        import sys
        import threading

        self.armed = False
        if sys.getprofile() is not self.hook or threading.getprofile() is not self.hook:
            self.alarms.append("the check's watch of forbidden calls was removed or replaced")
        sys.setprofile(self.previous)
        threading.setprofile(self.previous_threads)
        return False


def _target(case: Case, answers, results: dict):
    """What a case calls: an answer, what an earlier case returned, or a driver given the answers."""
    if case.driver is not None:
        driver = find_driver(case.driver)
        return None if driver is None else (lambda *args, **kwargs: driver(*answers, *args, **kwargs))
    if case.result_of is not None:
        return results.get(case.result_of)
    return answers[case.answer] if case.answer < len(answers) else None


def _record_call(i: int, case: Case, answers, forbidden: set[str], encoder: Encoder, torch,
                 results: dict | None = None) -> dict:
    import itertools

    call: dict = {"case": i}
    results = {} if results is None else results
    fn = _target(case, answers, results)
    if not callable(fn):
        call["status"] = "not-callable"
        return call
    called: list[str] = []  # the forbidden functions the answer called
    alarms: list[str] = []  # what the answer did to the watch itself
    rng_before = torch.random.get_rng_state()
    functions = _watch(forbidden, called)
    try:
        with functions, _watch_python(forbidden, called, alarms), torch.no_grad() if case.no_grad else _nothing():
            try:
                out = fn(*case.args, **case.kwargs)
                if case.iterate:
                    out = list(itertools.islice(iter(out), MAX_ITERATED))
            finally:
                if not _mode_active(functions, torch):
                    alarms.append("the check's watch of forbidden PyTorch functions was removed")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit included: the learner's code must not end the check quietly
        call.update(status="raised", raised=_describe_exception(exc))
    else:
        results[i] = out
        call.update(status="returned", result=encoder.encode(out))
        if case.backward and isinstance(out, torch.Tensor) and out.requires_grad:
            try:
                out.backward()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                call["backward_raised"] = _describe_exception(exc)
    call["forbidden"] = sorted(set(called))
    call["alarms"] = sorted(set(alarms))
    call["rng_changed"] = not torch.equal(rng_before, torch.random.get_rng_state())  # the global generator
    call["args"] = encoder.encode(list(case.args), grad=True)
    call["kwargs"] = encoder.encode(dict(case.kwargs), grad=True)
    return call


def drive(case: Case, *answers):
    """Run a case with a ``driver`` (see :class:`Case`) on the answers: in self-study, the driver itself; in the
    judge, what the sandbox recorded for it (the checker calls this instead of the driver)."""
    if case.recorded is not None:
        return case.recorded()
    driver = find_driver(case.driver)
    if driver is None:
        raise ProtocolError(f"no driver {case.driver!r}")
    return driver(*answers, *case.args, **case.kwargs)


def find_driver(name: str):
    """The driver a case names: ``book.probes.DRIVERS[name]``, or a function of the course package named by its
    dotted path (``book.drivers_ex06_08.train_target``: drivers that only one exercise uses); None otherwise."""
    from book.probes import DRIVERS

    if name in DRIVERS:
        return DRIVERS[name]
    if name.startswith("book.") and all(part.isidentifier() for part in name.split(".")):
        found = _resolve(name)
        return found if callable(found) and getattr(found, "__module__", "") == name.rpartition(".")[0] else None
    return None


def _planned_by_grader(generator):
    raise RuntimeError("while grading, the cases of a question come from the grader's plan")


def _judged_by_grader(*answers):
    raise RuntimeError("while grading, the grader judges the recorded answer outside this notebook")


def graded_question(exercise: str, qid: str, title: str, points: int, hints: list[str], forbidden: list[str]):
    """The stand-in of a question in the grader's sandbox (:mod:`grader.stage`): ``check`` records only."""
    from book.questions import Question

    return Question(exercise, qid, title, points, _judged_by_grader, hints, cases=_planned_by_grader,
                    forbidden=forbidden)


def stand_ins(module_name: str) -> dict:
    """The names the sandbox's stand-in of checks module ``module_name`` defines: its questions as
    :func:`graded_question` objects and its constants, from the list the grader writes with the plans."""
    import json

    plans = Path(os.environ.get(PLANS_ENV) or ".")
    wait_for_plans(plans)
    listing = json.loads((plans / QUESTIONS).read_text(encoding="utf-8"))
    if listing.get("module") != module_name:
        raise ImportError(f"the grader's question list is for {listing.get('module')!r}, not {module_name!r}")
    names = dict(listing.get("constants", {}))
    for q in listing["questions"]:
        names[q["name"]] = graded_question(q["exercise"], q["id"], q["title"], q["points"], q["hints"],
                                           q["forbidden"])
    if listing.get("order"):
        names["QUESTIONS"] = [names[n] for n in listing["order"]]
    return names
