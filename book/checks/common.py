"""Building blocks of checkers: call the learner's code, compare what it returns, say precisely what is wrong.

Every helper raises :class:`book.questions.Incorrect` (or ``NotAttempted``) with a message that names the input
and what was expected of the output -- a shape, a property, a value on a small case -- never the code.

Messages are said in the learner's language: every sentence is a template of :func:`book.language.say` (values
are its fields), and the texts callers pass in (``on``, ``why``, ``instead``) are said by them the same way.
"""

from __future__ import annotations

import contextlib
import sys

import torch
from torch.overrides import TorchFunctionMode

from book.language import say, translate

# call and callable_answer live in book.questions (the drivers in the grader's sandbox use them too); the checkers
# import them from here with the other helpers.
from book.questions import Incorrect, NotAttempted, call, callable_answer  # noqa: F401


def show(value, digits: int = 4) -> str:
    """A short, readable rendering of an input or output for a message (small tensors in full)."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 20:
            if value.is_floating_point():
                flat = value.detach().cpu().double().flatten().tolist()
                text = ", ".join(f"{v:.{digits}g}" for v in flat)
                if value.dim() == 2:
                    rows = [", ".join(f"{v:.{digits}g}" for v in row) for row in value.detach().cpu().double().tolist()]
                    return "[" + ", ".join(f"[{r}]" for r in rows) + "]"
                return f"[{text}]" if value.dim() else text
            return str(value.detach().cpu().tolist())
        return say("a tensor of shape {shape}", shape=tuple(value.shape))
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return repr(value)


def because(message: str, why: str = "") -> str:
    """``message``, followed by the reason ``why`` when there is one ("...; exp(1000) overflows")."""
    return message + say("; {why}", why=why) if why else message


def expect_tensor(out, shape: tuple, name: str, on: str) -> torch.Tensor:
    """``out`` must be a floating-point tensor of ``shape``."""
    if not isinstance(out, torch.Tensor):
        raise Incorrect(say("on {on}, `{name}` returned {kind}, expected a tensor of shape {shape}", on=on,
                            name=name, kind=type(out).__name__, shape=shape))
    if tuple(out.shape) != tuple(shape):
        raise Incorrect(say("on {on}, `{name}` returned shape {got}, expected {shape}", on=on, name=name,
                            got=tuple(out.shape), shape=tuple(shape)))
    if not out.is_floating_point():
        raise Incorrect(say("on {on}, `{name}` returned a tensor of {dtype}, expected floating point numbers",
                            on=on, name=name, dtype=out.dtype))
    return out


def expect_image_logits(net, n: int, name: str) -> torch.Tensor:
    """Run ``net`` on n random 28x28 images; it must return (n, 10) logits, not probabilities."""
    X = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    on = say("a batch of {n} images of shape (1, 28, 28)", n=n)
    with torch.no_grad():
        out = expect_tensor(call(net, X, name=name, on=on), (n, 10), name, on)
    if torch.allclose(out.sum(dim=1), torch.ones(n), atol=1e-4) and (out >= 0).all():
        raise Incorrect(say("on {on}, {name} returns probabilities (each row sums to 1); it must return logits: "
                            "nn.CrossEntropyLoss applies the softmax itself", on=on, name=name))
    return out


def expect_finite(out: torch.Tensor, name: str, on: str, why: str = "") -> None:
    bad = ~torch.isfinite(out.detach())
    if bad.any():
        kinds = sorted({"nan" if v != v else ("inf" if v > 0 else "-inf") for v in out.detach()[bad].tolist()})
        raise Incorrect(because(say("on {on}, `{name}` returned {kinds} ({bad} of {total} entries: {values})",
                                    on=on, name=name, kinds=say(" and ").join(kinds), bad=int(bad.sum()),
                                    total=out.numel(), values=show(out)), why))


def expect_close(out: torch.Tensor, expected: torch.Tensor, name: str, on: str, rtol: float = 1e-4,
                 atol: float = 1e-6, why: str = "") -> None:
    """Values must agree with the expected ones within tolerances; the message shows both on this input."""
    got = out.detach().to(torch.float64)
    want = expected.detach().to(torch.float64)
    if not torch.allclose(got, want, rtol=rtol, atol=atol):
        largest = (got - want).abs().max().item()
        shown = say("{got}, expected {want}", got=show(out), want=show(expected)) if expected.numel() <= 20 else \
            say("values off by up to {largest:.3g}", largest=largest)
        raise Incorrect(because(say("on {on}, `{name}` returned {shown}", on=on, name=name, shown=shown), why))


def expect_unchanged(before: torch.Tensor, after: torch.Tensor, name: str, what: str = "") -> None:
    """``after`` must equal ``before``: the learner's code changed none of ``what`` (said; default its input)."""
    if not torch.equal(before, after):
        raise Incorrect(say("`{name}` changed {what} in place; compute the result in new tensors instead",
                            name=name, what=what or say("its input")))


class Forbidden(TorchFunctionMode):
    """Inside ``with Forbidden({"softmax"}, "softmax", "write it from exp, max and sum")``, calling a torch function
    or tensor method of one of those names reports the answer as incorrect (the exercise asks to write it)."""

    def __init__(self, names: set[str], name: str, instead: str):
        super().__init__()
        self.names, self.name, self.instead = set(names), name, instead

    def message(self, called: str) -> str:
        return say("`{name}` calls PyTorch's `{called}`: this exercise asks you to {instead}", name=self.name,
                   called=called, instead=translate(self.instead))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        called = getattr(func, "__name__", "")
        if called in self.names:
            raise Incorrect(self.message(called))
        return func(*args, **(kwargs or {}))


def forbid(names, name: str, instead: str) -> Forbidden:
    return Forbidden(set(names), name, instead)


@contextlib.contextmanager
def forbidden_calls(functions, name: str, instead: str):
    """Report the answer as incorrect if, inside the block, any of ``functions`` is called -- under any name it
    was imported as (calls are recognised by the function's code object, so aliases and wrappers are caught).

    For Python functions and classes (their ``__init__``) that a question asks the learner to write instead of
    borrowing; torch's own functions are caught by :func:`forbid` instead. The watch is a profile function: an
    answer that calls ``sys.setprofile``/``settrace``/``getprofile`` (by any route: the call is recognised by
    the function itself, not by its name), or leaves the watch switched off, is reported as incorrect too."""
    from book.protocol import watch_switches

    codes = {}
    for f in functions:
        target = f.__init__ if isinstance(f, type) else f
        codes[target.__code__] = f"{f.__module__}.{f.__qualname__}"
    guarded_builtins, guarded_codes = watch_switches()
    called, tampered = [], []
    armed = []
    previous = sys.getprofile()

    def watch(frame, event, arg):
        if not armed:
            return
        if event == "call":
            if frame.f_code in codes:
                called.append(codes[frame.f_code])
            elif frame.f_code in guarded_codes:
                tampered.append(guarded_codes[frame.f_code])
        elif event == "c_call" and id(arg) in guarded_builtins:
            tampered.append(guarded_builtins[id(arg)])

    sys.setprofile(watch)
    armed.append(True)
    try:
        yield
    finally:
        armed.clear()
        if sys.getprofile() is not watch:
            tampered.append(say("a profile function of its own"))
        sys.setprofile(previous)
    if tampered:
        raise Incorrect(say("`{name}` switches off the check's watch ({how}): the check cannot tell what it "
                            "calls", name=name, how=tampered[0]))
    if called:
        raise Incorrect(say("`{name}` calls {called}: {instead}", name=name, called=called[0],
                            instead=translate(instead)))


def as_number(value, name: str, on: str) -> float:
    """A Python number returned by the learner's code, or Incorrect saying what came back instead."""
    if isinstance(value, torch.Tensor):
        raise Incorrect(say("on {on}, `{name}` returned a tensor ({value}); return a Python number "
                            "(float(...) or .item())", on=on, name=name, value=show(value)))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Incorrect(say("on {on}, `{name}` returned {kind} {value}, expected a number", on=on, name=name,
                            kind=type(value).__name__, value=show(value)))
    return float(value)


class RecordingNet:
    """A fixed linear model from 2 features to 3 classes that notes how it was called: how often, and whether
    with gradient tracking on (evaluation must build no graph)."""

    def __init__(self):
        self.weight = torch.tensor([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]], requires_grad=True)
        self.calls, self.grad_enabled = 0, False

    def __call__(self, X):
        self.calls += 1
        self.grad_enabled |= torch.is_grad_enabled()
        return X @ self.weight


def uneven_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Ten examples for :class:`RecordingNet` in batches of 4, 4 and 2 (no ties between logits), so that a
    mean over batches differs from a mean over examples."""
    X = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [3.0, 1.2],
                      [1.0, 3.2], [2.0, 1.0], [1.0, 2.0], [5.0, 0.0], [0.0, 5.0]])
    y = torch.tensor([0, 1, 1, 1, 2, 1, 2, 0, 0, 0])
    return [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])]


def raises(fn, args, name: str, errors=(TypeError, ValueError)) -> tuple[str, object]:
    """What ``fn(*args)`` did, as data: ("raised", message) for one of ``errors``, ("other", message) for any
    other exception, ("returned", value) otherwise. KeyboardInterrupt (the grader's time limit) passes."""
    try:
        return "returned", fn(*args)
    except errors as exc:
        return "raised", f"{type(exc).__name__}: {exc}"
    except NotImplementedError:
        raise NotAttempted(say("`{name}` still raises NotImplementedError.", name=name)) from None
    except Exception as exc:
        return "other", f"{type(exc).__name__} ({exc})"


def expect_error(outcome: tuple[str, object], name: str, on: str, why: str, error: str = "ValueError") -> None:
    """``outcome`` (from :func:`raises`) must be one of the errors asked for; otherwise say why it should be."""
    kind, value = outcome
    if kind == "returned":
        raise Incorrect(say("on {on}, `{name}` returned {value} instead of raising {error}: {why}", on=on,
                            name=name, value=show(value), error=error, why=why))
    if kind == "other":
        raise Incorrect(say("on {on}, `{name}` raised {value}; check the input first and raise {error} with a "
                            "message that says what was expected", on=on, name=name, value=value, error=error))
