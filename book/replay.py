"""The judging side of the grading protocol: a question's checker, unchanged, runs in the grader's process on
what the sandbox recorded (:mod:`book.protocol`).

:func:`read_record` reads and validates a record (untrusted data); :func:`answers_for_judge` turns it into the
answers to give the checker: :class:`Replay` stand-ins for functions (each call is served from the record, its
side effects re-applied to the checker's own input tensors, its exception rebuilt), :class:`ReplayModule` for
models, and decoded values for the rest. The checker computes every reference itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from book.plain_data import MAX_TEXT, Decoder, NoRecord, PayloadError
from book.protocol import Case, ProtocolError

def _same(a, b) -> bool:
    import torch

    if a is b:
        return True
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype and bool(torch.equal(a.detach(), b.detach())))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


_BUILTIN_EXCEPTIONS = {name: obj for name, obj in vars(__import__("builtins")).items()
                       if isinstance(obj, type) and issubclass(obj, Exception)}


def rebuild_exception(raised: dict) -> Exception:
    """An exception like the one the learner's code raised: same name, deriving from the same built-in
    class (only ``Exception`` subclasses: nothing recorded may stop the grader)."""
    base = _BUILTIN_EXCEPTIONS.get(str(raised.get("base")), Exception)
    name = "".join(c for c in str(raised.get("type"))[:100] if c.isalnum() or c == "_") or "Exception"
    message = str(raised.get("message", ""))[:MAX_TEXT]
    kind = base if base.__name__ == name else type(name, (base,), {})
    try:
        return kind(message)
    except Exception:  # built-ins with other signatures (UnicodeDecodeError...)
        return type(name, (Exception,), {})(message)


def _forbidden(fn_name: str, called: str):
    """Raise what the checker's active ``forbid(...)`` raises for a call of ``called`` (its message), or a
    plain Incorrect if the checker has none active."""
    import torch

    from book.language import say
    from book.questions import Incorrect

    for mode in reversed(torch.overrides._get_current_function_mode_stack()):
        names = getattr(mode, "names", None)
        if isinstance(names, (set, frozenset)) and called in names and hasattr(mode, "instead"):
            mode.__torch_function__(type("Forbidden", (), {"__name__": called})(), ())
    raise Incorrect(say("`{fn_name}` calls PyTorch's `{called}`, which this question does not allow",
                        fn_name=fn_name, called=called))


class _ReplayGrad:
    """An autograd function that gives the checker's input tensors the gradients the probe recorded."""

    @staticmethod
    def apply(value, inputs, grads):
        import torch

        class Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, v, *xs):
                return v.clone()

            @staticmethod
            def backward(ctx, grad_out):
                scale = grad_out.reshape(-1)[0] if grad_out.numel() == 1 else None
                out = [None]
                for x, g in zip(inputs, grads):
                    if g is None or scale is None:
                        out.append(None)
                    else:
                        out.append((g * scale).to(x.dtype) if g.shape == x.shape else None)
                return tuple(out)

        return Fn.apply(value.detach(), *inputs)


@dataclass
class ReplayBook:
    """The planned cases and what the probe recorded for them; :class:`Replay` stand-ins draw from it."""

    cases: list[Case]
    calls: dict[int, dict]
    used: set[int] = field(default_factory=set)

    def serve(self, index: int, name: str, args: tuple, kwargs: dict, result_of: int | None = None):
        matches = [i for i, c in enumerate(self.cases)
                   if c.driver is None and c.result_of == result_of and (result_of is not None or c.answer == index)
                   and _same(list(c.args), list(args)) and _same(dict(c.kwargs), kwargs)]
        if not matches:
            raise ProtocolError(f"the checker called `{name}` on an input its cases() did not plan "
                                f"({len(args)} arguments); add that call to cases()")
        i = next((m for m in matches if m not in self.used), matches[-1])
        return self.serve_case(i, name, args, kwargs)

    def serve_case(self, i: int, name: str, args: tuple, kwargs: dict):
        """What the learner's code did in planned call ``i``, re-enacted on the checker's own inputs."""
        import torch

        self.used.add(i)
        call = self.calls.get(i)
        if call is None:
            raise NoRecord(f"nothing was recorded for call {i + 1} of `{name}`")
        case = self.cases[i]
        backward_grads = self._apply_after(call, args, kwargs, backward=case.backward)
        if call.get("rng_changed"):
            torch.rand(1)  # the learner's code drew from (or re-seeded) PyTorch's global generator: so does this
        if call.get("forbidden"):
            _forbidden(name, str(call["forbidden"][0]))
        status = call.get("status")
        if status == "not-callable":
            raise NoRecord(f"`{name}` was not callable when the check ran")
        if status == "raised":
            raise rebuild_exception(call.get("raised") or {})
        if status != "returned":
            raise PayloadError("a call with an unknown status")
        result = call.get("result")
        if isinstance(result, RecordedModule):  # a model the learner's function built: calls of it are cases too
            return ReplayModule(self, -1, result.state, result_of=i)
        if case.backward and isinstance(result, torch.Tensor) and result.requires_grad and "backward_raised" \
                not in call:
            inputs = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
            grads = [g for a, g in zip(args, backward_grads) if isinstance(a, torch.Tensor) and a.requires_grad]
            return _ReplayGrad.apply(result, inputs, grads)
        return result

    @staticmethod
    def _apply_after(call: dict, args: tuple, kwargs: dict, backward: bool) -> list:
        """Put the recorded after-call state into the checker's own input tensors (in-place updates, flags,
        ``.grad``); for backward cases the gradients are returned instead, for the replayed backward()."""
        import torch

        after = call.get("args")
        after = after if isinstance(after, list) else []
        after_kw = call.get("kwargs") if isinstance(call.get("kwargs"), dict) else {}
        pairs = list(zip(args, after)) + [(v, after_kw.get(k)) for k, v in kwargs.items()]
        grads = []
        for mine, recorded in pairs:
            grad = None
            if isinstance(mine, torch.Tensor) and isinstance(recorded, torch.Tensor):
                grad = recorded.grad
                with torch.no_grad():
                    if recorded.shape == mine.shape and recorded.dtype == mine.dtype:
                        mine.copy_(recorded.detach())
                    else:
                        mine.data = recorded.detach()
                if mine.is_leaf and mine.is_floating_point():
                    mine.requires_grad_(bool(recorded.requires_grad))
                    if not backward:
                        mine.grad = grad.detach().to(mine.dtype) if isinstance(grad, torch.Tensor) \
                            and grad.shape == mine.shape else None
            grads.append(grad if isinstance(grad, torch.Tensor) else None)
            if not isinstance(mine, torch.Tensor):
                _apply_state(mine, recorded)
        return grads


def _apply_state(mine, recorded, depth: int = 0) -> None:
    """Put the recorded after-call state of an argument that is not a tensor into the checker's own object:
    tensors inside lists, tuples and dicts, a model's mode and parameters, a probe's state (book.probes)."""
    import torch

    from book.probes import Probe

    if depth > 8:
        return
    if isinstance(mine, torch.Tensor):
        if isinstance(recorded, torch.Tensor):
            with torch.no_grad():
                if recorded.shape == mine.shape and recorded.dtype == mine.dtype:
                    mine.copy_(recorded.detach())
            if mine.is_leaf and mine.is_floating_point():
                mine.requires_grad_(bool(recorded.requires_grad))
                grad = recorded.grad
                mine.grad = grad.detach().to(mine.dtype) if isinstance(grad, torch.Tensor) \
                    and grad.shape == mine.shape else None
    elif type(mine) in (list, tuple) and type(recorded) in (list, tuple):
        for m, r in zip(mine, recorded):
            _apply_state(m, r, depth + 1)
    elif type(mine) is dict and type(recorded) is dict:
        for k, m in mine.items():
            if k in recorded:
                _apply_state(m, recorded[k], depth + 1)
    elif isinstance(mine, torch.nn.Module) and isinstance(recorded, RecordedModule):
        params = dict(recorded.state["parameters"] + recorded.state["buffers"])
        with torch.no_grad():
            for n, t in list(mine.named_parameters()) + list(mine.named_buffers()):
                r = params.get(n)
                if isinstance(r, torch.Tensor) and r.shape == t.shape:
                    t.copy_(r.detach().to(t.dtype))
        modes = {n: training for n, _, _, training in recorded.state["modules"]}
        for n, m in mine.named_modules():
            if n in modes:
                m.training = modes[n]
    elif isinstance(mine, Probe) and isinstance(recorded, ProbeState) and recorded.kind == mine.kind:
        mine.apply_state(recorded.state)


@dataclass
class RecordedModule:
    """A model as recorded (its class, mode, parameters, buffers and submodules), validated."""

    state: dict


@dataclass
class ProbeState:
    """The recorded state of a :class:`book.probes.Probe` after a call (untrusted: the probe checks it)."""

    kind: str
    state: dict


def _record_hook(decoder: Decoder, obj: dict, depth: int):
    if obj.get("$") == "module":
        return RecordedModule(_module_state(decoder, obj.get("state")))
    if obj.get("$") == "probe":
        state = decoder.decode(obj.get("state"), depth + 1)
        return ProbeState(str(obj.get("kind"))[:40], state if isinstance(state, dict) else {})
    raise PayloadError("a record holds no references")


class Replay:
    """Stands for the learner's function in the judge: each call is served from the record."""

    def __init__(self, book: ReplayBook, index: int, name: str, result_of: int | None = None):
        self._book, self._index, self.__name__, self._result_of = book, index, name, result_of

    def __call__(self, *args, **kwargs):
        return self._book.serve(self._index, self.__name__, args, kwargs, result_of=self._result_of)

    def __repr__(self) -> str:
        return f"<function {self.__name__}>"


@dataclass
class Recorded:
    """A question's record, read and validated by the grader."""

    answers: list            # decoded values, Replay stand-ins to be made for "function" answers, or BLANK
    calls: dict[int, dict]
    alarms: list[str] = field(default_factory=list)  # what the in-kernel watch saw done to itself (tampering)


MAX_ALARMS = 20  # distinct alarms kept from a record (the watch raises at most a handful)
MAX_ALARM_TEXT = 200  # characters of each


BLANK = object()


def read_record(folder: Path, n_cases: int) -> Recorded:
    """The record in ``folder`` (untrusted data): validated, with every call keyed by its planned case."""
    decoder = Decoder(folder)
    decoder.hook = _record_hook
    raw = decoder.document()
    if not isinstance(raw, dict) or not isinstance(raw.get("answers"), list) or not isinstance(raw.get("calls"),
                                                                                              list):
        raise PayloadError("the record does not follow the grading format")
    if len(raw["answers"]) > 16 or len(raw["calls"]) > max(n_cases, 1):
        raise PayloadError("the record holds more calls than were planned")
    answers = []
    for a in raw["answers"]:
        if isinstance(a, dict) and a.get("$") == "blank":
            answers.append(BLANK)
        elif isinstance(a, dict) and a.get("$") == "function":
            answers.append(("function", str(a.get("name"))[:200]))
        elif isinstance(a, dict) and a.get("$") == "module":
            answers.append(("module", _module_state(decoder, a.get("state"))))
        else:
            answers.append(("value", decoder.decode(a)))
    calls, alarms = {}, []
    for c in raw["calls"]:
        if not isinstance(c, dict) or type(c.get("case")) is not int or not 0 <= c["case"] < n_cases:
            raise PayloadError("a recorded call of no planned case")
        forbidden, alarmed = c.get("forbidden", []), c.get("alarms", [])
        if not isinstance(forbidden, list) or not all(isinstance(n, str) for n in forbidden):
            raise PayloadError("malformed forbidden calls")
        if not isinstance(alarmed, list) or not all(isinstance(n, str) for n in alarmed):
            raise PayloadError("malformed alarms of the check's watch")
        for alarm in alarmed[:MAX_ALARMS]:  # one list for the question: the same alarm once, however many calls
            if alarm[:MAX_ALARM_TEXT] not in alarms and len(alarms) < MAX_ALARMS:
                alarms.append(alarm[:MAX_ALARM_TEXT])
        call = {"status": c.get("status"), "forbidden": [n[:100] for n in forbidden[:20]],
                "rng_changed": c.get("rng_changed") is True}
        if "result" in c:
            call["result"] = decoder.decode(c["result"])
        for key in ("raised", "backward_raised"):
            if key in c:
                if not isinstance(c[key], dict):
                    raise PayloadError("a malformed exception")
                call[key] = {k: str(c[key].get(k, ""))[:MAX_TEXT] for k in ("type", "base", "message")}
        if "args" in c:
            call["args"] = decoder.decode(c["args"])
        if "kwargs" in c:
            call["kwargs"] = decoder.decode(c["kwargs"])
        calls[c["case"]] = call
    return Recorded(answers, calls, alarms)


def _module_state(decoder: Decoder, raw) -> dict:
    import torch

    if not isinstance(raw, dict):
        raise PayloadError("a malformed module")

    def pairs(key):
        out = []
        for pair in raw.get(key, [])[:1000]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise PayloadError("a malformed module")
            tensor = decoder.decode(pair[1])
            if not isinstance(tensor, torch.Tensor):
                raise PayloadError("a module parameter that is not a tensor")
            out.append((str(pair[0])[:200], tensor))
        return out

    modules = []
    for entry in raw.get("modules", [])[:1000]:
        if not isinstance(entry, list) or len(entry) != 4:
            raise PayloadError("a malformed module")
        modules.append((str(entry[0])[:200], str(entry[1])[:100], str(entry[2])[:300], entry[3] is True))
    return {"class": str(raw.get("class"))[:100], "training": raw.get("training") is True,
            "parameters": pairs("parameters"), "buffers": pairs("buffers"), "modules": modules}


class _SubModule:
    """A submodule as recorded: its class name (``type(m).__name__``), ``extra_repr()`` and mode."""

    def __init__(self, class_name: str, extra: str, training: bool):
        self.__class__ = type(class_name or "Module", (_SubModule,), {})
        self._extra, self.training = extra, training

    def extra_repr(self) -> str:
        return self._extra

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._extra})"


class ReplayModule(Replay):
    """Stands for a model handed in as an answer: calling it serves the recorded outputs (like :class:`Replay`);
    its class name, ``training``, parameters, buffers and submodules are the recorded ones. Checkers read them
    by name (``type(m).__name__ == "Softmax"``), not with ``isinstance``: these are not torch modules."""

    def __init__(self, book: "ReplayBook", index: int, state: dict, result_of: int | None = None):
        super().__init__(book, index, state["class"], result_of=result_of)
        name = "".join(c for c in state["class"] if c.isalnum() or c == "_") or "Module"
        self.__class__ = type(name, (ReplayModule,), {})  # type(net).__name__ reads as in self-study
        self.training = state["training"]
        self._state = state

    def parameters(self):
        return iter([t for _, t in self._state["parameters"]])

    def named_parameters(self):
        return iter(list(self._state["parameters"]))

    def buffers(self):
        return iter([t for _, t in self._state["buffers"]])

    def state_dict(self) -> dict:
        return dict(self._state["parameters"] + self._state["buffers"])

    def named_modules(self):
        return iter([(name, _SubModule(cls, extra, training)) for name, cls, extra, training in self._state["modules"]])

    def modules(self):
        return iter([m for _, m in self.named_modules()])

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)


def answers_for_judge(recorded: Recorded, cases: list[Case], names: list[str] | None = None):
    """The answers to give the checker: Replay stand-ins for functions, decoded values otherwise; None when an
    answer was left blank."""
    book = ReplayBook(cases, recorded.calls)
    for i, case in enumerate(cases):
        if case.driver is not None:
            case.recorded = (lambda i=i, case=case: book.serve_case(i, case.driver, case.args, case.kwargs))
    out = []
    for i, answer in enumerate(recorded.answers):
        if answer is BLANK:
            return None
        kind, value = answer
        out.append(Replay(book, i, value) if kind == "function" else ReplayModule(book, i, value)
                   if kind == "module" else value)
    return out
