"""Checks of exercise 07: the multilayer perceptron -- an nn.Module with dropout, a training epoch with an
optimiser, evaluation in evaluation mode, a fair comparison of optimisers, and a network trained on 2,000 images
that must not over-fit, judged on images the notebook never looks at.

q5 is scored on the 10,000 Fashion-MNIST test images: the learner chooses on the validation images the notebook
holds back from the training images. Its checker has two halves: ``run_target`` builds and trains the learner's
network (the learner's code runs there) and hands back its logits on the test images, without their labels;
``judge_target`` scores them. ``seed`` draws the initial weights and the order of the batches (0 in a learner's
notebook).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from book.checks.common import (RecordingNet, as_number, call, callable_answer, expect_image_logits,
                                expect_tensor, show, uneven_batches)
from book.questions import Incorrect, Question

EXERCISE = "07_mlp"
TITLE = "Multilayer perceptron: dropout, evaluation mode, optimisers, over-fitting"
PASS_MARK = 0.6

N_TRAIN = 2_000  # the training images of q5: the first 2,000 of the notebook's training split
VAL_SIZE, SPLIT_SEED = 10_000, 0  # the notebook's validation split of the 60,000 training images
TARGET_LOSS = 0.58  # mean cross-entropy on the 10,000 test images
MAX_EPOCHS, MIN_BATCH, MAX_HIDDENS = 30, 20, 512


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def check_mlp(MLP):
    """q1: an nn.Module subclass MLP(num_inputs=784, num_hiddens=256, num_outputs=10, dropout=0.0): Flatten,
    Linear, ReLU, Dropout, Linear; forward returns logits; dropout only in training mode."""
    name = "MLP"
    if not (isinstance(MLP, type) and issubclass(MLP, nn.Module)):
        raise Incorrect(f"`{name}` should be a class derived from nn.Module (class MLP(nn.Module): ...), "
                        f"but it is {type(MLP).__name__}")
    torch.manual_seed(0)
    net = call(MLP, name="MLP()", on="the default sizes")
    expected = 784 * 256 + 256 + 256 * 10 + 10
    if count(net) != expected:
        raise Incorrect(f"MLP() has {count(net):,} parameters, expected {expected:,} for 784 inputs, one hidden "
                        "layer of 256 units and 10 outputs (784*256 + 256 + 256*10 + 10)")
    expect_image_logits(net, 4, "MLP()")
    torch.manual_seed(1)
    small = call(MLP, 20, 7, 3, name="MLP(20, 7, 3)", on="sizes 20, 7, 3")
    if count(small) != 20 * 7 + 7 + 7 * 3 + 3:
        raise Incorrect(f"MLP(20, 7, 3) has {count(small)} parameters, expected {20 * 7 + 7 + 7 * 3 + 3}: use the "
                        "arguments num_inputs, num_hiddens and num_outputs for the layer sizes")
    g = torch.Generator().manual_seed(2)
    a, b, zero = torch.randn(5, 20, generator=g), torch.randn(5, 20, generator=g), torch.zeros(5, 20)
    with torch.no_grad():
        f = {k: expect_tensor(call(small, v, name="MLP(20, 7, 3)", on="inputs of shape (5, 20)"), (5, 3),
                              "MLP(20, 7, 3)", "inputs of shape (5, 20)") for k, v in
             (("a+b", a + b), ("a", a), ("b", b), ("0", zero))}
    if torch.allclose(f["a+b"] - f["0"], (f["a"] - f["0"]) + (f["b"] - f["0"]), atol=1e-5):
        raise Incorrect("MLP is a linear function of its input (f(a+b) - f(0) = [f(a) - f(0)] + [f(b) - f(0)]): "
                        "put a ReLU between the two linear layers")
    check_dropout(MLP)


def outputs(net, X, mode: str, name: str, on: str, times: int = 2) -> list[torch.Tensor]:
    """``times`` forward passes of ``net`` on ``X`` in ``mode`` ("train" or "eval"), without a graph."""
    getattr(net, mode)()
    with torch.no_grad():
        return [expect_tensor(call(net, X, name=name, on=on), (len(X), 10), name, on) for _ in range(times)]


def check_dropout(MLP):
    """MLP(dropout=p): random in training mode, deterministic in evaluation mode and then the same function as
    MLP(dropout=0) with the same initial weights; dropout acts on the hidden units."""
    X = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    on = "6 images"
    torch.manual_seed(4)
    plain = call(MLP, dropout=0.0, name="MLP(dropout=0.0)", on="dropout=0.0")
    torch.manual_seed(4)
    dropped = call(MLP, dropout=0.5, name="MLP(dropout=0.5)", on="dropout=0.5")
    if count(dropped) != count(plain):
        raise Incorrect("MLP(dropout=0.5) has another number of parameters than MLP(dropout=0.0): dropout has no "
                        "parameters of its own")
    a, b = outputs(plain, X, "train", "MLP(dropout=0.0)", on)
    if not torch.equal(a, b):
        raise Incorrect(f"on {on}, MLP(dropout=0.0) in training mode gave two different outputs for the same "
                        "input: with dropout 0 nothing may be random")
    a, b = outputs(dropped, X, "train", "MLP(dropout=0.5)", on)
    if torch.equal(a, b):
        raise Incorrect(f"on {on}, MLP(dropout=0.5) in training mode gave the same output twice: dropout must "
                        "zero a random half of the hidden units on every forward pass (nn.Dropout(dropout) after "
                        "the ReLU)")
    if (a == 0).float().mean() > 0.2:
        raise Incorrect(f"on {on}, MLP(dropout=0.5) in training mode returned logits of which "
                        f"{100 * (a == 0).float().mean():.0f} % are exactly 0: dropout acts on the hidden units, "
                        "not on the output")
    zeros = torch.zeros(6, 1, 28, 28)
    z1, z2 = outputs(dropped, zeros, "train", "MLP(dropout=0.5)", "6 black images")
    if torch.equal(z1, z2):
        raise Incorrect("MLP(dropout=0.5) in training mode is random for images but not for black ones (all "
                        "pixels 0): dropout acts on its input pixels. Put it after the ReLU, on the hidden units")
    e1, e2 = outputs(dropped, X, "eval", "MLP(dropout=0.5)", on)
    if not torch.equal(e1, e2):
        raise Incorrect(f"on {on}, MLP(dropout=0.5) in evaluation mode (after .eval()) gave two different "
                        "outputs: dropout must be off in evaluation mode (nn.Dropout switches itself off)")
    (reference,) = outputs(plain, X, "eval", "MLP(dropout=0.0)", on, times=1)
    if not torch.allclose(e1, reference, atol=1e-5):
        raise Incorrect(f"on {on}, MLP(dropout=0.5) in evaluation mode differs from MLP(dropout=0.0) with the same "
                        "weights: in evaluation mode dropout must change nothing (nn.Dropout scales the kept units "
                        "by 1 / (1 - p) during training instead)")


def reference_epoch(net, optimizer, batches) -> list[float]:
    """The model answer of q2, to compare with: one step per batch on the mean cross-entropy, the step losses."""
    losses = []
    for Xb, yb in batches:
        loss = F.cross_entropy(net(Xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def check_train_epoch(train_epoch):
    """q2: one epoch in training mode with an optimiser on the mean cross-entropy; the list of step losses."""
    name = "train_epoch"
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(10, 4, generator=g), torch.randint(0, 3, (10,), generator=g)
    batches = [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    reference = copy.deepcopy(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.3, momentum=0.9)
    want = reference_epoch(reference, ref_optimizer, batches)
    net.eval()
    on = "a toy network, SGD with momentum, and 3 batches"
    got = call(train_epoch, net, optimizer, batches, name=name, on=on)
    if not net.training:
        raise Incorrect(f"`{name}` left a model that came in evaluation mode in evaluation mode: put it in training "
                        "mode (net.train()) first, or dropout would never be active")
    if not isinstance(got, list) or not all(isinstance(v, float) for v in got):
        raise Incorrect(f"on {on}, `{name}` returned {show(got)}; expected a list of Python floats, the loss of each "
                        "step (loss.item())")
    if len(got) != len(batches):
        raise Incorrect(f"on {on}, `{name}` returned {len(got)} losses; expected one per batch, 3")
    if not all(math.isclose(u, v, rel_tol=1e-4, abs_tol=1e-6) for u, v in zip(got, want)):
        if math.isclose(got[0], want[0], rel_tol=1e-4):
            raise Incorrect(f"on {on}, the first step's loss is right but the later ones are not ({show(got)} "
                            f"instead of {show(want)}): are the gradients zeroed before each backward()?")
        raise Incorrect(f"on {on}, the losses of the steps are {show(got)}, expected {show(want)}: the mean "
                        "cross-entropy of each batch's logits, before that batch's step")
    if not all(torch.allclose(p, q, atol=1e-6) for p, q in zip(net.parameters(), reference.parameters())):
        raise Incorrect(f"on {on}, the losses are right but the parameters after the epoch are not: one "
                        "optimizer.step() per batch, after backward()")


def check_compare_optimizers(compare_optimizers, train_epoch):
    """q3: a fresh network per optimiser (make_net()), one epoch each with train_epoch, mean step loss per name."""
    name = "compare_optimizers"
    callable_answer(train_epoch, "train_epoch")
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(12, 4, generator=g), torch.randint(0, 3, (12,), generator=g)
    batches = [(X[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4)]
    calls = []

    def make_net():
        calls.append(1)
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))

    makers = {"sgd": lambda params: torch.optim.SGD(params, lr=0.1),
              "adam": lambda params: torch.optim.Adam(params, lr=0.01)}
    want = {}
    for key, make in makers.items():
        net = make_net()
        optimizer = make(net.parameters())
        losses = reference_epoch(net, optimizer, batches)
        want[key] = sum(losses) / len(losses)
    calls.clear()
    on = "two optimisers ('sgd' and 'adam') on a toy problem"
    got = call(compare_optimizers, make_net, makers, batches, name=name, on=on)
    if not isinstance(got, dict) or set(got) != set(makers):
        raise Incorrect(f"on {on}, `{name}` returned {show(got)}; expected a dict with the same keys as the "
                        "optimisers' dict, 'sgd' and 'adam'")
    if len(calls) < len(makers):
        raise Incorrect(f"on {on}, `{name}` called make_net() {len(calls)} time(s) for {len(makers)} optimisers: "
                        "each optimiser must start from a fresh network, or the second continues where the "
                        "first stopped")
    for key in makers:
        value = got[key]
        if isinstance(value, torch.Tensor) or not isinstance(value, (int, float)):
            raise Incorrect(f"on {on}, the value for {key!r} is {show(value)}; expected a Python float, the mean "
                            "of the epoch's step losses")
        if not math.isclose(value, want[key], rel_tol=1e-4, abs_tol=1e-6):
            raise Incorrect(f"on {on}, the value for {key!r} is {value:.5g}, expected {want[key]:.5g}: the mean of "
                            "the losses that train_epoch returns for one epoch (is train_epoch from q2 right?)")


# --- q3: evaluation mode --------------------------------------------------------------------------------------

class ModeNet(nn.Module):
    """A fixed network whose training-mode output is wrong (as a heavily dropped-out one would be) and which notes
    how it was called: in which mode, and with or without gradient tracking."""

    def __init__(self):
        super().__init__()
        self.linear = RecordingNet()
        self.modes = []

    def forward(self, X):
        self.modes.append(self.training)
        logits = self.linear(X)
        return -logits if self.training else logits


def run_evaluate(evaluate, seed: int = 0) -> dict:
    name = "evaluate"
    callable_answer(evaluate, name)
    batches = uneven_batches()
    out = {"batches": batches}
    for start in ("train", "eval"):
        net = ModeNet()
        getattr(net, start)()
        got = call(evaluate, net, batches, name=name, on=f"3 batches of 4, 4 and 2 examples, a model in {start} mode")
        out[start] = {"got": got, "modes": list(net.modes), "after": net.training,
                      "grad_enabled": net.linear.grad_enabled, "weight": net.linear.weight.detach()}
    return out


def judge_evaluate(out: dict) -> None:
    name = "evaluate"
    batches = out["batches"]
    for start in ("train", "eval"):
        run = out[start]
        on = f"3 batches of 4, 4 and 2 examples, a model in {start} mode"
        got = as_number(run["got"], name, on)
        with torch.no_grad():
            right = [((Xb @ run["weight"]).argmax(1) == yb) for Xb, yb in batches]
            wrong_mode = [((-(Xb @ run["weight"])).argmax(1) == yb) for Xb, yb in batches]
        want = torch.cat(right).double().mean().item()
        if not run["modes"]:
            raise Incorrect(f"on {on}, `{name}` never called `net`")
        if any(run["modes"]) and abs(got - torch.cat(wrong_mode).double().mean().item()) < 1e-6:
            raise Incorrect(f"on {on}, `{name}` evaluated the model in training mode, where dropout is on: call "
                            "net.eval() before the loop")
        if abs(got - want) > 1e-6:
            mean_of_batches = sum(r.double().mean().item() for r in right) / len(right)
            if abs(got - mean_of_batches) < 1e-6:
                raise Incorrect(f"on {on}, `{name}` returned {got:.4g}, the average of the batches' accuracies; "
                                "the last batch is smaller: count right predictions and examples over all batches")
            raise Incorrect(f"on {on}, `{name}` returned {got:.4g}, expected {want:.4g}, the accuracy over all "
                            "examples in evaluation mode")
        if run["after"] != (start == "train"):
            raise Incorrect(f"`{name}` left a model that came in {start} mode in "
                            f"{'train' if run['after'] else 'eval'} mode: remember net.training first and restore "
                            "it at the end (net.train(was_training)), or training would go on without dropout")
        if run["grad_enabled"]:
            raise Incorrect(f"`{name}` called `net` with gradient tracking on: run the loop inside torch.no_grad()")


def check_evaluate(evaluate, seed: int = 0) -> None:
    """q3: accuracy over all examples, in evaluation mode, without a graph; the model's mode restored."""
    judge_evaluate(run_evaluate(evaluate, seed))


# --- q5: 2,000 training images, scored on the test images ----------------------------------------------------

def data_split():
    """The q5 training images (the first N_TRAIN of the notebook's training split) and the test split."""
    from book.data import load_dataset
    from book.evaluation import validation_split

    data = load_dataset("fashion-mnist")
    train_idx, _ = validation_split(len(data.train_labels), VAL_SIZE, seed=SPLIT_SEED)
    subset = train_idx[:N_TRAIN]
    return data.train_images[subset], data.train_labels[subset], data.test_images, data.test_labels


def whole(value, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def check_budget(num_hiddens, dropout, batch_size, num_epochs) -> None:
    if not whole(num_hiddens, 1, MAX_HIDDENS):
        raise Incorrect(f"num_hiddens = {num_hiddens!r}: a whole number of hidden units from 1 to {MAX_HIDDENS}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise Incorrect(f"dropout = {dropout!r}: a probability from 0 (no dropout) up to, not including, 1")
    if not whole(batch_size, MIN_BATCH, N_TRAIN):
        raise Incorrect(f"batch_size = {batch_size!r}: the budget allows whole numbers from {MIN_BATCH} to "
                        f"{N_TRAIN:,}")
    if not whole(num_epochs, 1, MAX_EPOCHS):
        raise Incorrect(f"num_epochs = {num_epochs!r}: the budget is a whole number of epochs from 1 to {MAX_EPOCHS}")


def logits_of(net, X, name: str) -> torch.Tensor:
    with torch.no_grad():
        parts = [call(net, X[i:i + 2000], name=name, on="test images") for i in range(0, len(X), 2000)]
    parts = [expect_tensor(z, (min(2000, len(X) - i), 10), name, "a batch of images")
             for z, i in zip(parts, range(0, len(X), 2000))]
    return torch.cat(parts).double()


def run_target(MLP, num_hiddens, dropout, make_optimizer, batch_size, num_epochs, seed: int = 0) -> dict:
    """Build MLP(784, num_hiddens, 10, dropout) with ``seed``, train it with the learner's optimiser on the 2,000
    images, and hand back its logits (evaluation mode) on the training and the test images."""
    from book.data import FastLoader

    check_budget(num_hiddens, dropout, batch_size, num_epochs)
    callable_answer(make_optimizer, "make_optimizer")
    train_images, train_labels, test_images, _ = data_split()
    name = f"MLP(784, {num_hiddens}, 10, dropout={dropout})"
    torch.manual_seed(seed)
    net = call(MLP, 784, num_hiddens, 10, dropout, name=name, on="these sizes")
    if not isinstance(net, nn.Module):
        raise Incorrect(f"{name} returned {type(net).__name__}, expected an nn.Module (see q1)")
    optimizer = call(make_optimizer, net.parameters(), name="make_optimizer", on=f"the parameters of {name}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise Incorrect(f"make_optimizer returned {type(optimizer).__name__}, expected a torch.optim optimiser, "
                        "e.g. torch.optim.Adam(params, lr=1e-3)")
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
    return {"setting": setting, "diverged": None, "train_logits": logits_of(net, train_iter.X, name),
            "test_logits": logits_of(net, test_images.float().div(255).unsqueeze(1), name)}


def judge_target(out: dict) -> str:
    """The mean cross-entropy on the test images (labels never handed to learner code), against the target."""
    from book.evaluation import accuracy_interval

    setting = out["setting"]
    if out["diverged"]:
        raise Incorrect(f"with {setting}, training diverged in epoch {out['diverged']} (the loss became nan or inf); "
                        "lower the learning rate")
    _, train_labels, _, test_labels = data_split()
    for key in ("train_logits", "test_logits"):
        if not torch.isfinite(out[key]).all():
            raise Incorrect(f"with {setting}, the trained network returns nan or inf")
    test_loss = F.cross_entropy(out["test_logits"], test_labels).item()
    train_loss = F.cross_entropy(out["train_logits"], train_labels).item()
    correct = int((out["test_logits"].argmax(1) == test_labels).sum())
    acc = accuracy_interval(correct, len(test_labels))
    scores = (f"a loss of {test_loss:.4f} on the {len(test_labels):,} test images (accuracy {acc}); "
              f"{train_loss:.4f} on its 2,000 training images")
    if test_loss > TARGET_LOSS:
        if train_loss < test_loss - 0.15:
            why = ("it over-fits: far better on its training images than on new ones. Stop earlier (choose the "
                   "epoch with the lowest validation loss) or use more dropout")
        else:
            why = "it under-fits: train longer, or with a larger learning rate"
        raise Incorrect(f"with {setting}, {scores}; the target is {TARGET_LOSS}: {why}")
    return f"With {setting}: {scores}."


def check_target(MLP, num_hiddens, dropout, make_optimizer, batch_size, num_epochs, seed: int = 0):
    """q5: the learner's MLP and optimiser, trained on 2,000 images within the budget, reach a mean cross-entropy
    of at most TARGET_LOSS on the 10,000 test images."""
    return judge_target(run_target(MLP, num_hiddens, dropout, make_optimizer, batch_size, num_epochs, seed))


q1 = Question(EXERCISE, "q1", "An MLP with dropout, as an nn.Module", 3, check_mlp, hints=[
    "In __init__, call super().__init__() first, then create the layers as attributes: nn.Flatten(), "
    "nn.Linear(num_inputs, num_hiddens), nn.ReLU(), nn.Dropout(dropout), nn.Linear(num_hiddens, num_outputs).",
    "forward(self, X) applies them in that order and returns the last layer's output (logits, no softmax). "
    "nn.Dropout is only active in training mode; you need not test the mode yourself.",
])
q2 = Question(EXERCISE, "q2", "A training epoch with an optimiser", 2, check_train_epoch, hints=[
    "net.train() first; then for each batch: loss = F.cross_entropy(net(X), y), optimizer.zero_grad(), "
    "loss.backward(), optimizer.step().",
    "Collect loss.item() of every step in a list and return it.",
])
q3 = Question(EXERCISE, "q3", "Evaluate in evaluation mode", 2, check_evaluate, hints=[
    "was_training = net.training; net.eval(); then count right predictions and examples over all batches inside "
    "torch.no_grad().",
    "Before returning right / seen, put the model back: net.train(was_training).",
])
q4 = Question(EXERCISE, "q4", "Compare optimisers fairly", 2, check_compare_optimizers, hints=[
    "A fair comparison starts every optimiser from the same weights: call make_net() once per optimiser.",
    "For each name, make: net = make_net(); optimizer = make(net.parameters()); losses = train_epoch(net, "
    "optimizer, train_iter); store sum(losses) / len(losses) under that name.",
])
q5 = Question(EXERCISE, "q5", f"2,000 images, a loss of at most {TARGET_LOSS} on unseen ones", 3, check_target,
              hints=[
    "Watch the validation loss per epoch in try_setting: where it turns upwards while the training loss keeps "
    "falling, the network starts to memorise its 2,000 images. Stop before that.",
    "Dropout lets a network train for longer before it over-fits: try dropout 0.5 with Adam (lr 1e-3), and "
    "choose the number of epochs by the validation loss.",
])
QUESTIONS = [q1, q2, q3, q4, q5]
