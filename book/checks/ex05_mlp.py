"""Checks of exercise 05: the multilayer perceptron -- an nn.Module, a training epoch with an optimiser, a fair
comparison of optimisers, and a stated accuracy on a Fashion-MNIST subset within a small budget."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from book.checks.common import expect_image_logits, call, callable_answer, expect_tensor, show
from book.questions import Incorrect, Question

EXERCISE = "05_mlp"
TITLE = "Multilayer perceptron: module, optimisers, accuracy"
PASS_MARK = 0.6

N_TRAIN, N_TEST = 10_000, 2_000  # the subset of Fashion-MNIST the exercise trains and tests on
TARGET_ACC = 0.82
MAX_EPOCHS, MIN_BATCH = 3, 32


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def check_mlp(MLP):
    """q1: an nn.Module subclass MLP(num_inputs=784, num_hiddens=256, num_outputs=10): Flatten, Linear, ReLU,
    Linear; forward returns logits."""
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


def subset():
    from book.data import load_dataset

    data = load_dataset("fashion-mnist")
    return (data.train_images[:N_TRAIN], data.train_labels[:N_TRAIN],
            data.test_images[:N_TEST].float().div(255).unsqueeze(1), data.test_labels[:N_TEST])


def check_target(MLP, make_optimizer, batch_size, num_epochs):
    """q4: MLP() (seed 0) trained with the learner's optimiser on 10,000 images reaches 82 % on 2,000 test images
    within the budget."""
    from book.data import FastLoader

    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or not 1 <= num_epochs <= MAX_EPOCHS:
        raise Incorrect(f"num_epochs = {num_epochs!r}: the budget is a whole number of epochs from 1 to {MAX_EPOCHS}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not MIN_BATCH <= batch_size <= N_TRAIN:
        raise Incorrect(f"batch_size = {batch_size!r}: the budget allows whole numbers from {MIN_BATCH} to {N_TRAIN}")
    callable_answer(make_optimizer, "make_optimizer")
    torch.manual_seed(0)
    net = call(MLP, name="MLP()", on="the default sizes")
    if not isinstance(net, nn.Module):
        raise Incorrect(f"MLP() returned {type(net).__name__}, expected an nn.Module (see q1)")
    optimizer = call(make_optimizer, net.parameters(), name="make_optimizer", on="the parameters of MLP()")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise Incorrect(f"make_optimizer returned {type(optimizer).__name__}, expected a torch.optim optimiser, "
                        "e.g. torch.optim.SGD(params, lr=0.1)")
    X_train, y_train, X_test, y_test = subset()
    train_iter = FastLoader(X_train, y_train, batch_size=batch_size, seed=0, device="cpu")
    setting = (f"{type(optimizer).__name__} (lr {optimizer.param_groups[0].get('lr')}), batch_size={batch_size}, "
               f"{num_epochs} epoch{'s' if num_epochs > 1 else ''}")
    net.train()
    for epoch in range(1, num_epochs + 1):
        for X, y in train_iter:
            loss = F.cross_entropy(net(X), y)
            if not math.isfinite(loss.item()):
                raise Incorrect(f"with {setting}, training diverged in epoch {epoch} (the loss became "
                                f"{loss.item()}); lower the learning rate")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        acc = (net(X_test).argmax(dim=1) == y_test).double().mean().item()
    if acc < TARGET_ACC:
        raise Incorrect(f"with {setting}, the accuracy on the {N_TEST:,} test images is {100 * acc:.2f}%, below the "
                        f"{100 * TARGET_ACC:.0f}% target")
    return f"Test accuracy {100 * acc:.2f}% with {setting}."


q1 = Question(EXERCISE, "q1", "An MLP as an nn.Module", 3, check_mlp, hints=[
    "In __init__, call super().__init__() first, then create the layers as attributes: nn.Flatten(), "
    "nn.Linear(num_inputs, num_hiddens), nn.ReLU(), nn.Linear(num_hiddens, num_outputs).",
    "forward(self, X) applies them in order and returns the last layer's output (logits, no softmax).",
])
q2 = Question(EXERCISE, "q2", "A training epoch with an optimiser", 2, check_train_epoch, hints=[
    "net.train() first; then for each batch: loss = F.cross_entropy(net(X), y), optimizer.zero_grad(), "
    "loss.backward(), optimizer.step().",
    "Collect loss.item() of every step in a list and return it.",
])
q3 = Question(EXERCISE, "q3", "Compare optimisers fairly", 2, check_compare_optimizers, hints=[
    "A fair comparison starts every optimiser from the same weights: call make_net() once per optimiser.",
    "For each name, make: net = make_net(); optimizer = make(net.parameters()); losses = train_epoch(net, "
    "optimizer, train_iter); store sum(losses) / len(losses) under that name.",
])
q4 = Question(EXERCISE, "q4", f"Reach {100 * TARGET_ACC:.0f}% on the test subset in at most {MAX_EPOCHS} epochs", 3,
              check_target, hints=[
    "Look at the comparison of q3: which optimiser brings the loss down fastest on this budget?",
    "Adaptive optimisers such as Adam need a much smaller learning rate than SGD (around 0.001). Smaller batches "
    "take more steps per epoch.",
])
QUESTIONS = [q1, q2, q3, q4]
