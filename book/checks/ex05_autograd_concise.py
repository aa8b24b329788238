"""Checks of exercise 05: autograd and the concise implementation -- gradients without side effects,
``nn.Sequential``/``nn.Linear``, the weight layout of ``nn.Linear``, a training step with an optimiser, and
predictions in evaluation mode."""

from __future__ import annotations

import copy

import torch
from torch import nn

from book.checks.common import expect_image_logits, call, expect_close, expect_tensor, show
from book.questions import Incorrect, Question

EXERCISE = "05_autograd_concise"
TITLE = "Autograd and the concise implementation"
PASS_MARK = 0.6


def check_grad_of(grad_of):
    """q1: the gradient of a scalar function at x, as a new tensor without a graph; x itself left untouched."""
    name = "grad_of"
    cases = [(lambda t: (t ** 3).sum(), "f(x) = sum(x**3)", lambda t: 3 * t ** 2),
             (lambda t: (t.sin() * t).sum(), "f(x) = sum(sin(x) * x)", lambda t: t.cos() * t + t.sin())]
    for f, label, derivative in cases:
        x = torch.tensor([1.0, 2.0, -3.0])
        before = x.clone()
        on = f"{label} at x = {show(x)}"
        out = expect_tensor(call(grad_of, f, x, name=name, on=on), (3,), name, on)
        if x.requires_grad or x.grad is not None:
            raise Incorrect(f"on {on}, `{name}` changed the tensor x it was given (it now has requires_grad="
                            f"{x.requires_grad}, grad={x.grad}): work on a copy, x.detach().clone().requires_grad_()")
        if not torch.equal(x, before):
            raise Incorrect(f"on {on}, `{name}` changed the values of x in place")
        if out.requires_grad:
            raise Incorrect(f"on {on}, the gradient `{name}` returned is still part of a graph (requires_grad=True); "
                            "return a plain tensor (detach it, or use torch.autograd.grad)")
        expect_close(out, derivative(before), name, on, atol=1e-5)
        again = call(grad_of, f, x, name=name, on=on)
        if isinstance(again, torch.Tensor) and not torch.allclose(again, out):
            raise Incorrect(f"on {on}, calling `{name}` twice gave {show(out)}, then {show(again)}: gradients "
                            "piled up between calls; start from a fresh copy of x each time")


def check_make_model(make_model):
    """q2: nn.Sequential(Flatten, Linear(784, 10)) with weights ~ N(0, 0.01^2) and zero biases, returning logits."""
    name = "make_model"
    net = call(make_model, name=name)
    if not isinstance(net, nn.Module):
        raise Incorrect(f"`{name}()` returned {type(net).__name__}, expected an nn.Module (e.g. nn.Sequential)")
    n_params = sum(p.numel() for p in net.parameters())
    if n_params != 7850:
        raise Incorrect(f"`{name}()` has {n_params:,} parameters, expected 7,850: one linear map from the 784 pixels "
                        "to 10 classes (784 x 10 weights and 10 biases)")
    expect_image_logits(net, 5, "the model")
    weights = [p for p in net.parameters() if p.dim() == 2]
    biases = [p for p in net.parameters() if p.dim() == 1]
    std, mean = weights[0].detach().std().item(), weights[0].detach().mean().item()
    if not (0.009 < std < 0.011 and abs(mean) < 0.001):
        raise Incorrect(f"the weights have mean {mean:.4f} and standard deviation {std:.4f}; draw them from a normal "
                        "distribution with mean 0 and standard deviation 0.01")
    if biases[0].detach().abs().max() > 0:
        raise Incorrect("the biases are not all zero; set them to 0")


def check_linear_from_scratch(linear_from_scratch):
    """q3: an nn.Linear that computes X @ W + b for the scratch model's W (d, q) and b (q,)."""
    name = "linear_from_scratch"
    g = torch.Generator().manual_seed(0)
    W, b = torch.randn(5, 3, generator=g), torch.randn(3, generator=g)
    W0, b0 = W.clone(), b.clone()
    on = "W of shape (5, 3) and b of shape (3,)"
    layer = call(linear_from_scratch, W, b, name=name, on=on)
    if not isinstance(layer, nn.Linear):
        raise Incorrect(f"on {on}, `{name}` returned {type(layer).__name__}, expected an nn.Linear")
    if (layer.in_features, layer.out_features) != (5, 3):
        raise Incorrect(f"on {on}, `{name}` returned nn.Linear({layer.in_features}, {layer.out_features}); the "
                        "scratch model maps 5 inputs to 3 outputs")
    if tuple(layer.weight.shape) != (3, 5):
        raise Incorrect(f"on {on}, the layer's weight has shape {tuple(layer.weight.shape)}; nn.Linear stores "
                        "it as (out_features, in_features) = (3, 5)")
    X = torch.randn(4, 5, generator=g)
    with torch.no_grad():
        out = expect_tensor(call(layer, X, name="the layer", on="4 random inputs"), (4, 3), "the layer",
                            "4 random inputs")
    expect_close(out, X @ W0 + b0, "the layer", "4 random inputs", atol=1e-5,
                 why="it must compute the same as X @ W + b")
    if not (torch.equal(W, W0) and torch.equal(b, b0)):
        raise Incorrect(f"`{name}` changed W or b in place")
    if not all(p.requires_grad for p in layer.parameters()):
        raise Incorrect("the layer's parameters do not require gradients, so it could not be trained; copy the "
                        "values into the layer's own parameters (under torch.no_grad())")


def check_train_step(train_step):
    """q4: zero the gradients, compute the loss, backward, optimiser step; return the loss as a float."""
    name = "train_step"
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    reference = copy.deepcopy(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    on = "nn.Linear(4, 3), SGD with lr 0.5 and a batch of 8 examples"
    for step in (1, 2):
        got = call(train_step, net, loss_fn, optimizer, X, y, name=name, on=on)
        ref_optimizer.zero_grad()
        want = loss_fn(reference(X), y)
        want.backward()
        ref_optimizer.step()
        if isinstance(got, torch.Tensor):
            raise Incorrect(f"on {on}, `{name}` returned a tensor; return the loss as a Python float "
                            "(loss.item()), which also lets the graph go")
        if not isinstance(got, float):
            raise Incorrect(f"on {on}, `{name}` returned {type(got).__name__}, expected the loss as a float")
        if abs(got - want.item()) > 1e-5:
            raise Incorrect(f"on {on}, step {step}: `{name}` returned {got:.5g}, expected the loss before the "
                            f"update, {want.item():.5g}")
        same = all(torch.allclose(p, q, atol=1e-6) for p, q in zip(net.parameters(), reference.parameters()))
        if not same:
            if step == 1:
                raise Incorrect(f"on {on}, the parameters after one call differ from one step of the optimiser "
                                "(zero_grad, loss, backward, step)")
            raise Incorrect(f"on {on}, the first step was right but the second was not: the gradients of the "
                            "first call were still there; call optimizer.zero_grad() before backward()")


def check_predict_proba(predict_proba):
    """q5: softmax probabilities in evaluation mode, without a graph, leaving the model's mode as it was."""
    name = "predict_proba"
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    X = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    net.eval()
    with torch.no_grad():
        want = torch.softmax(net(X), dim=1)
    net.train()
    on = "a model with dropout, in training mode, and 6 inputs"
    out = expect_tensor(call(predict_proba, net, X, name=name, on=on), (6, 3), name, on)
    if out.requires_grad:
        raise Incorrect(f"on {on}, what `{name}` returned requires grad: prediction needs no graph, so compute it "
                        "inside torch.no_grad()")
    if not net.training:
        raise Incorrect(f"on {on}, `{name}` left the model in evaluation mode; put it back in the mode it was in "
                        "(training here)")
    sums = out.detach().sum(dim=1)
    if not torch.allclose(sums, torch.ones(6), atol=1e-4):
        raise Incorrect(f"on {on}, the rows of what `{name}` returned sum to {show(sums)}; return probabilities "
                        "(the softmax of each row of logits)")
    if not torch.allclose(out, want, atol=1e-5):
        again = call(predict_proba, net, X, name=name, on=on)
        again = expect_tensor(again, (6, 3), name, on)
        if not torch.allclose(out, again):
            raise Incorrect(f"on {on}, two calls of `{name}` gave different probabilities: dropout was active; "
                            "switch the model to evaluation mode (net.eval()) while predicting")
        expect_close(out, want, name, on, atol=1e-5)
    net.eval()
    call(predict_proba, net, X, name=name, on=on)
    if net.training:
        raise Incorrect(f"`{name}` switched a model that was in evaluation mode to training mode; restore the mode "
                        "it was in (net.training tells you)")


q1 = Question(EXERCISE, "q1", "A gradient without side effects", 2, check_grad_of, hints=[
    "Autograd needs a leaf tensor that requires grad; x itself must stay as it was.",
    "Make z = x.detach().clone().requires_grad_(), compute f(z), and get the gradient with "
    "torch.autograd.grad(f(z), z)[0] (or f(z).backward() and z.grad).",
])
q2 = Question(EXERCISE, "q2", "Softmax regression with nn.Sequential", 2, check_make_model, hints=[
    "nn.Flatten() turns (n, 1, 28, 28) into (n, 784); nn.Linear(784, 10) maps that to 10 logits. No softmax "
    "at the end.",
    "Initialise in place under torch.no_grad(): nn.init.normal_(layer.weight, 0.0, 0.01) and "
    "nn.init.zeros_(layer.bias).",
])
q3 = Question(EXERCISE, "q3", "From W and b to nn.Linear", 2, check_linear_from_scratch, hints=[
    "nn.Linear(d, q) computes X @ weight.T + bias, so its weight has shape (q, d): the transpose of W.",
    "layer = nn.Linear(W.shape[0], W.shape[1]); then, under torch.no_grad(), layer.weight.copy_(W.T) and "
    "layer.bias.copy_(b).",
])
q4 = Question(EXERCISE, "q4", "A training step with an optimiser", 2, check_train_step, hints=[
    "Four calls in order: optimizer.zero_grad(), loss = loss_fn(net(X), y), loss.backward(), optimizer.step().",
    "Return loss.item(): a Python float, taken before the step changes the parameters.",
])
q5 = Question(EXERCISE, "q5", "Predicted probabilities in evaluation mode", 2, check_predict_proba, hints=[
    "Dropout is active in training mode: predictions need net.eval(), and no graph (torch.no_grad()).",
    "Remember was_training = net.training, switch to eval, compute torch.softmax(net(X), dim=1) under no_grad, "
    "then net.train(was_training).",
])
QUESTIONS = [q1, q2, q3, q4, q5]
