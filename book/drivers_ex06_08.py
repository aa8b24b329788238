"""The drivers of exercises 06-08: trusted code that runs the learner's classes and functions where a check
cannot plan its calls one by one, and hands back what it saw as plain data.

A driver is named by a case (``Case(..., driver="book.drivers_ex06_08.train_target")``, see
:mod:`book.protocol`): in self-study the checker runs it with :func:`book.protocol.drive`; in a class grading it
runs in the sandbox, on the learner's answers, and the grader's checker reads what it recorded. A driver judges
nothing and holds no reference: it builds the objects the learner's code needs (a model from the learner's
class, a network that notes how it was called, a folder to write a file into), calls that code, and returns
observations -- outputs, parameter counts, the bytes of a file. Labels of held-out data never come here: the
checker keeps them (:mod:`book.checks.ex07_mlp`, :mod:`book.checks.ex08_otto`).

When the learner's code fails, a driver raises :class:`book.questions.NotAttempted` (a stub) or
:class:`book.questions.Incorrect` with the message the checker would give; what a driver observed before that
is handed back with :class:`Observed` (a dict whose ``"failed"`` entry says where it stopped), so that the
checker judges the earlier observations first, in its own order.
"""

from __future__ import annotations

import math
import os

from book.questions import Incorrect, NotAttempted, call

MAX_FILE_BYTES = 32 << 20  # a submission of 20,000 rows is about 2 MB
TRAIN_ROWS_SEEN = 20_000  # exercise 08: the training rows whose log loss tells over-fitting from under-fitting


def observing(steps) -> dict:
    """Run ``steps`` (a generator of (key, value) pairs) until it ends or the learner's code fails; the
    observations so far, and under ``"failed"`` the failure (its kind and message)."""
    seen: dict = {}
    try:
        for key, value in steps:
            seen[key] = value
    except NotAttempted as exc:
        seen["failed"] = {"kind": "not attempted", "message": str(exc)}
    except Incorrect as exc:
        seen["failed"] = {"kind": "incorrect", "message": str(exc)}
    return seen


# --- exercise 06 ------------------------------------------------------------------------------------------------

def with_arguments(fn, name: str, on: str, *args):
    """What ``fn(*args)`` returned, and its arguments afterwards (lists and dicts it was not to change)."""
    return {"result": call(fn, *args, name=name, on=on), "arguments": list(args)}


# --- exercise 07 ------------------------------------------------------------------------------------------------

def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def _outputs(net, X, mode: str, name: str, on: str, times: int = 2) -> list:
    import torch

    getattr(net, mode)()
    with torch.no_grad():
        return [call(net, X, name=name, on=on) for _ in range(times)]


def _mlp_steps(MLP, X4, a, b, X6, seeds):
    import torch
    from torch import nn

    yield "type_name", type(MLP).__name__
    yield "is_module_class", isinstance(MLP, type) and issubclass(MLP, nn.Module)
    if not (isinstance(MLP, type) and issubclass(MLP, nn.Module)):
        return
    torch.manual_seed(seeds[0])
    net = call(MLP, name="MLP()", on="the default sizes")
    yield "default_count", _count(net)
    with torch.no_grad():
        yield "default_out", call(net, X4, name="MLP()", on=f"a batch of {len(X4)} images of shape (1, 28, 28)")
    torch.manual_seed(seeds[1])
    small = call(MLP, 20, 7, 3, name="MLP(20, 7, 3)", on="sizes 20, 7, 3")
    yield "small_count", _count(small)
    with torch.no_grad():
        yield "small_out", {k: call(small, v, name="MLP(20, 7, 3)", on="inputs of shape (5, 20)") for k, v in
                            (("a+b", a + b), ("a", a), ("b", b), ("0", torch.zeros_like(a)))}
    on = f"{len(X6)} images"
    torch.manual_seed(seeds[2])
    plain = call(MLP, dropout=0.0, name="MLP(dropout=0.0)", on="dropout=0.0")
    torch.manual_seed(seeds[2])
    dropped = call(MLP, dropout=0.5, name="MLP(dropout=0.5)", on="dropout=0.5")
    yield "dropout_counts", (_count(plain), _count(dropped))
    yield "plain_train", _outputs(plain, X6, "train", "MLP(dropout=0.0)", on)
    yield "dropped_train", _outputs(dropped, X6, "train", "MLP(dropout=0.5)", on)
    yield "dropped_black", _outputs(dropped, torch.zeros_like(X6), "train", "MLP(dropout=0.5)",
                                    f"{len(X6)} black images")
    yield "dropped_eval", _outputs(dropped, X6, "eval", "MLP(dropout=0.5)", on)
    yield "plain_eval", _outputs(plain, X6, "eval", "MLP(dropout=0.0)", on, times=1)


def mlp_outputs(MLP, X4, a, b, X6, seeds):
    """q1 of exercise 07: the learner's class built with default and small sizes and with dropout 0 and 0.5
    (each pair from the same seed), and its outputs on the given inputs in training and evaluation mode."""
    return observing(_mlp_steps(MLP, X4, a, b, X6, seeds))


def toy_epoch(train_epoch_fn, weights, batches, lr, momentum):
    """q2 of exercise 07: the learner's epoch on a toy network (4 -> 5 -> 3, the given weights) that comes in
    evaluation mode, with SGD (``lr``, ``momentum``); what it returned, the network's mode and parameters
    afterwards."""
    import torch
    from torch import nn

    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        for p, w in zip(net.parameters(), weights):
            p.copy_(w)
    net.eval()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    got = call(train_epoch_fn, net, optimizer, batches, name="train_epoch",
               on="a toy network, SGD with momentum, and 3 batches")
    return {"got": got, "training": net.training, "parameters": [p.detach().clone() for p in net.parameters()]}


def _mode_net_class():
    from torch import nn

    from book.probes import RecordingNet

    class ModeNet(nn.Module):
        """A fixed network whose training-mode output is wrong (as a heavily dropped-out one would be) and which
        notes how it was called: in which mode, and with or without gradient tracking."""

        def __init__(self, weight):
            super().__init__()
            self.linear = RecordingNet(weight.clone().requires_grad_())
            self.modes = []

        def forward(self, X):
            self.modes.append(self.training)
            logits = self.linear(X)
            return -logits if self.training else logits

    return ModeNet


def mode_net_accuracy(evaluate_fn, weight, batches):
    """q3 of exercise 07: the learner's evaluation of a network that comes in training mode and of one that
    comes in evaluation mode; what it returned, the modes the network was called in, its mode afterwards."""
    ModeNet = _mode_net_class()
    out = {}
    for start in ("train", "eval"):
        net = ModeNet(weight)
        getattr(net, start)()
        got = call(evaluate_fn, net, batches, name="evaluate",
                   on=f"3 batches of 4, 4 and 2 examples, a model in {start} mode")
        out[start] = {"got": got, "modes": list(net.modes), "after": net.training,
                      "grad_enabled": net.linear.grad_enabled}
    return out


def optimiser_comparison(compare_fn, train_epoch_fn, X, y, batch, lrs):
    """q4 of exercise 07: the learner's comparison of SGD (lrs[0]) and Adam (lrs[1]) on a toy network, with
    batches of ``batch`` rows of (X, y); what it returned, and how often it built a fresh network."""
    import torch
    from torch import nn

    batches = [(X[i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)]
    calls = []

    def make_net():
        calls.append(1)
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(X.shape[1], 5), nn.ReLU(), nn.Linear(5, 3))

    makers = {"sgd": lambda params: torch.optim.SGD(params, lr=lrs[0]),
              "adam": lambda params: torch.optim.Adam(params, lr=lrs[1])}
    got = call(compare_fn, make_net, makers, batches, name="compare_optimizers",
               on="two optimisers ('sgd' and 'adam') on a toy problem")
    return {"got": got, "calls": len(calls)}


def within_budget(num_hiddens, dropout, batch_size, num_epochs, budget) -> bool:
    """Whether the settings of q5 of exercise 07 are within ``budget`` (max hidden units, min batch, max epochs,
    training images); the checker says what is wrong."""
    max_hiddens, min_batch, max_epochs, n_train = budget

    def whole(v, low, high):
        return not isinstance(v, bool) and isinstance(v, int) and low <= v <= high

    return whole(num_hiddens, 1, max_hiddens) and not isinstance(dropout, bool) \
        and isinstance(dropout, (int, float)) and 0 <= dropout < 1 and whole(batch_size, min_batch, n_train) \
        and whole(num_epochs, 1, max_epochs)


def _logits(net, X, name: str, chunk: int = 2000):
    import torch

    with torch.no_grad():
        return [call(net, X[i:i + chunk], name=name, on="test images") for i in range(0, len(X), chunk)]


def train_target(MLP, num_hiddens, dropout, make_optimizer, batch_size, num_epochs, train_images, train_labels,
                 test_images, seed, budget):
    """q5 of exercise 07: build MLP(784, num_hiddens, 10, dropout) with ``seed``, train it with the learner's
    optimiser on the training images (uint8) in shuffled batches, and hand back its logits in evaluation mode on
    the training images and on the held-out images (uint8, without their labels)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from book.data import FastLoader

    if not within_budget(num_hiddens, dropout, batch_size, num_epochs, budget):
        return {"budget": False}
    name = f"MLP(784, {num_hiddens}, 10, dropout={dropout})"
    torch.manual_seed(seed)
    net = call(MLP, 784, num_hiddens, 10, dropout, name=name, on="these sizes")
    if not isinstance(net, nn.Module):
        return {"net": type(net).__name__}
    optimizer = call(make_optimizer, net.parameters(), name="make_optimizer", on=f"the parameters of {name}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        return {"optimizer": type(optimizer).__name__}
    setting = (f"num_hiddens={num_hiddens}, dropout={dropout}, {type(optimizer).__name__} "
               f"(lr {optimizer.param_groups[0].get('lr')}), batch_size={batch_size}, num_epochs={num_epochs}")
    train_iter = FastLoader(train_images, train_labels, batch_size=batch_size, seed=seed, device="cpu")
    for epoch in range(1, num_epochs + 1):
        net.train()
        for X, y in train_iter:
            loss = F.cross_entropy(call(net, X, name=name, on="a training batch"), y)
            if not math.isfinite(loss.item()):
                return {"setting": setting, "diverged": epoch}
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    return {"setting": setting, "diverged": None, "train_logits": _logits(net, train_iter.X, name),
            "test_logits": _logits(net, test_images.float().div(255).unsqueeze(1), name)}


# --- exercise 08 ------------------------------------------------------------------------------------------------

def _rows_logits(net, X, name: str, chunk: int = 8192):
    """``net``'s outputs for the rows ``X`` in evaluation mode, in batches, without a graph; its mode restored."""
    import torch

    param = next(net.parameters())
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            return [call(net, X[i:i + chunk].to(param.device, param.dtype), name=name, on="rows of 93 features")
                    for i in range(0, len(X), chunk)]
    finally:
        net.train(was_training)


def _fits(prepared, shapes) -> bool:
    import torch

    return isinstance(prepared, (tuple, list)) and len(prepared) == 2 and all(
        isinstance(t, torch.Tensor) and tuple(t.shape) == s and t.is_floating_point()
        for t, s in zip(prepared, shapes))


def _held_out_steps(net, prepare_fn, name, train_counts, fresh_counts, a, b):
    import torch
    from torch import nn

    if not isinstance(net, nn.Module) or not list(net.parameters()):
        return
    on = f"the {len(train_counts):,} training rows and {len(fresh_counts):,} fresh rows"
    prepared = call(prepare_fn, train_counts.clone(), fresh_counts.clone(), name="prepare", on=on)
    shapes = (tuple(train_counts.shape), tuple(fresh_counts.shape))
    if not _fits(prepared, shapes):
        yield "prepared", prepared
        return
    train_X, fresh_X = prepared
    yield "fresh", _rows_logits(net, fresh_X, name)
    param = next(net.parameters())
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield "linearity", {k: call(net, v.to(param.device, param.dtype), name=name, on="rows of 93 features")
                                for k, v in (("a+b", a + b), ("a", a), ("b", b), ("0", torch.zeros_like(a)))}
    finally:
        net.train(was_training)
    yield "raw", _rows_logits(net, fresh_counts.float(), name)
    yield "train", _rows_logits(net, train_X[:TRAIN_ROWS_SEEN], name)


def held_out_logits(net, prepare_fn, name, train_counts, fresh_counts, a, b):
    """q3 and q4 of exercise 08: the learner's ``prepare`` fitted on the training counts and applied to fresh
    rows (without their labels), and the trained ``net``'s outputs in evaluation mode on those features, on
    random rows (a linearity test), on the fresh rows' raw counts and on the training features."""
    return observing(_held_out_steps(net, prepare_fn, name, train_counts, fresh_counts, a, b))


def _file_bytes(path):
    """The bytes of the regular file at ``path`` (as a uint8 tensor, at most MAX_FILE_BYTES), or None."""
    import torch

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (OSError, TypeError, ValueError):
        return None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = bytearray()
        while len(data) <= MAX_FILE_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return torch.frombuffer(data, dtype=torch.uint8).clone() if data else torch.zeros(0, dtype=torch.uint8)


def submission_files(write_fn, submission_path, file_name, ids, probabilities, on):
    """q5 of exercise 08: the file the learner's function writes for (ids, probabilities) into a fresh folder,
    and the learner's own submission at ``submission_path``, as bytes (None where there is no file)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="otto-check-") as folder:
        path = Path(folder) / file_name
        call(write_fn, path, ids.clone(), probabilities.clone(), name="write_kaggle_submission", on=on)
        small = _file_bytes(path)
    own = _file_bytes(submission_path) if isinstance(submission_path, (str, os.PathLike)) else None
    return {"small": small, "own": own, "own_name": str(submission_path)[:500]}
