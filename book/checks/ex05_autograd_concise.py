"""Checks of exercise 05: autograd and the concise implementation -- gradients without side effects,
``nn.Sequential``/``nn.Linear``, the weight layout of ``nn.Linear``, a training step with an optimiser, and
predictions in evaluation mode.

Each question's inputs come from its ``*_cases(rng)`` function: the functions to differentiate, the models, the
optimiser and the data are drawn from ``rng``, fresh for every class grading, in which the checkers below run in
the grader's process on what the learner's code returned and did to them (:mod:`book.protocol`). Models that the
learner's code builds are read by name (``type(m).__name__``), as the grader records them.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from book.checks.common import call, expect_close, expect_tensor, show
from book.probes import Function
from book.language import say
from book.protocol import Case
from book.questions import Incorrect, Question

EXERCISE = "05_autograd_concise"
TITLE = "Autograd and the concise implementation"
PASS_MARK = 0.6

DERIVATIVES = {"sum_of_cubes": lambda t: 3 * t ** 2, "sum_of_sin_times_x": lambda t: t.cos() * t + t.sin()}


def is_module(value) -> bool:
    """A PyTorch module, or the grader's record of one (:class:`book.replay.ReplayModule`)."""
    from book.replay import ReplayModule

    return isinstance(value, (nn.Module, ReplayModule))


def grad_of_cases(rng):
    cases = []
    for name in DERIVATIVES:
        for x in (torch.tensor([1.0, 2.0, -3.0]), torch.randn(4, generator=rng) * 2):
            f = Function(name)
            cases += [Case(f, x), Case(f, x)]  # the same x twice: a second call must not see the first
    return cases


def check_grad_of(grad_of, cases):
    """q1: the gradient of a scalar function at x, as a new tensor without a graph; x itself left untouched."""
    name = "grad_of"
    for case in cases[::2]:
        f, x = case.args
        before = x.clone()
        on = say("{label} at x = {x}", label=f.label, x=show(x))
        out = expect_tensor(call(grad_of, f, x, name=name, on=on), tuple(x.shape), name, on)
        if x.requires_grad or x.grad is not None:
            raise Incorrect(say("on {on}, `{name}` changed the tensor x it was given (it now has "
                                "requires_grad={requires_grad}, grad={grad}): work on a copy, "
                                "x.detach().clone().requires_grad_()", on=on, name=name,
                                requires_grad=x.requires_grad, grad=x.grad))
        if not torch.equal(x, before):
            raise Incorrect(say("on {on}, `{name}` changed the values of x in place", on=on, name=name))
        if out.requires_grad:
            raise Incorrect(say("on {on}, the gradient `{name}` returned is still part of a graph "
                                "(requires_grad=True); return a plain tensor (detach it, or use "
                                "torch.autograd.grad)", on=on, name=name))
        expect_close(out, DERIVATIVES[f.name](before), name, on, atol=1e-5)
        again = call(grad_of, f, x, name=name, on=on)
        if isinstance(again, torch.Tensor) and not torch.allclose(again, out):
            raise Incorrect(say("on {on}, calling `{name}` twice gave {out}, then {again}: gradients piled up "
                                "between calls; start from a fresh copy of x each time", on=on, name=name,
                                out=show(out), again=show(again)))


def make_model_cases(rng):
    return [Case(), Case(torch.rand(5, 1, 28, 28, generator=rng), result_of=0, no_grad=True)]


def check_make_model(make_model, cases):
    """q2: nn.Sequential(Flatten, Linear(784, 10)) with weights ~ N(0, 0.01^2) and zero biases, returning logits."""
    name = "make_model"
    net = call(make_model, name=name)
    if not is_module(net):
        raise Incorrect(say("`{name}()` returned {kind}, expected an nn.Module (e.g. nn.Sequential)", name=name,
                            kind=type(net).__name__))
    n_params = sum(p.numel() for p in net.parameters())
    if n_params != 7850:
        raise Incorrect(say("`{name}()` has {n_params:,} parameters, expected 7,850: one linear map from the 784 "
                            "pixels to 10 classes (784 x 10 weights and 10 biases)", name=name, n_params=n_params))
    X = cases[1].args[0]
    n = len(X)
    on = say("a batch of {n} images of shape (1, 28, 28)", n=n)
    with torch.no_grad():
        out = expect_tensor(call(net, X, name=say("the model"), on=on), (n, 10), say("the model"), on)
    if torch.allclose(out.sum(dim=1), torch.ones(n), atol=1e-4) and (out >= 0).all():
        raise Incorrect(say("on {on}, the model returns probabilities (each row sums to 1); it must return "
                            "logits: nn.CrossEntropyLoss applies the softmax itself", on=on))
    weights = [p for p in net.parameters() if p.dim() == 2]
    biases = [p for p in net.parameters() if p.dim() == 1]
    std, mean = weights[0].detach().std().item(), weights[0].detach().mean().item()
    if not (0.009 < std < 0.011 and abs(mean) < 0.001):
        raise Incorrect(say("the weights have mean {mean:.4f} and standard deviation {std:.4f}; draw them from a "
                            "normal distribution with mean 0 and standard deviation 0.01", mean=mean, std=std))
    if biases[0].detach().abs().max() > 0:
        raise Incorrect(say("the biases are not all zero; set them to 0"))


def linear_features(layer) -> tuple[int, int]:
    """(in_features, out_features) of an nn.Linear, read from its description (a recorded one has no attributes)."""
    top = next(iter(layer.named_modules()))[1]
    fields = dict(part.split("=", 1) for part in str(top.extra_repr()).split(", ") if "=" in part)
    try:
        return int(fields.get("in_features", -1)), int(fields.get("out_features", -1))
    except ValueError:
        return -1, -1


def linear_from_scratch_cases(rng):
    W, b = torch.randn(5, 3, generator=rng), torch.randn(3, generator=rng)
    return [Case(W, b), Case(torch.randn(4, 5, generator=rng), result_of=0, no_grad=True)]


def check_linear_from_scratch(linear_from_scratch, cases):
    """q3: an nn.Linear that computes X @ W + b for the scratch model's W (d, q) and b (q,)."""
    name = "linear_from_scratch"
    W, b = cases[0].args
    W0, b0 = W.clone(), b.clone()
    on = say("W of shape (5, 3) and b of shape (3,)")
    layer = call(linear_from_scratch, W, b, name=name, on=on)
    if not is_module(layer) or type(layer).__name__ != "Linear":
        raise Incorrect(say("on {on}, `{name}` returned {kind}, expected an nn.Linear", on=on, name=name,
                            kind=type(layer).__name__))
    in_features, out_features = linear_features(layer)
    if (in_features, out_features) != (5, 3):
        raise Incorrect(say("on {on}, `{name}` returned nn.Linear({in_features}, {out_features}); the scratch "
                            "model maps 5 inputs to 3 outputs", on=on, name=name, in_features=in_features,
                            out_features=out_features))
    weight = dict(layer.named_parameters()).get("weight")
    if weight is None or tuple(weight.shape) != (3, 5):
        raise Incorrect(say("on {on}, the layer's weight has shape {shape}; nn.Linear stores it as "
                            "(out_features, in_features) = (3, 5)", on=on,
                            shape=None if weight is None else tuple(weight.shape)))
    X = cases[1].args[0]
    with torch.no_grad():
        the_layer, on = say("the layer"), say("4 random inputs")
        out = expect_tensor(call(layer, X, name=the_layer, on=on), (4, 3), the_layer, on)
    expect_close(out, X @ W0 + b0, the_layer, on, atol=1e-5,
                 why=say("it must compute the same as X @ W + b"))
    if not (torch.equal(W, W0) and torch.equal(b, b0)):
        raise Incorrect(say("`{name}` changed W or b in place", name=name))
    if not all(p.requires_grad for p in layer.parameters()):
        raise Incorrect(say("the layer's parameters do not require gradients, so it could not be trained; copy "
                            "the values into the layer's own parameters (under torch.no_grad())"))


def train_step_cases(rng):
    X, y = torch.randn(8, 4, generator=rng), torch.randint(0, 3, (8,), generator=rng)
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.randn(3, 4, generator=rng) * 0.5)
        net.bias.copy_(torch.randn(3, generator=rng) * 0.1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    return [Case(net, loss_fn, optimizer, X, y), Case(net, loss_fn, optimizer, X, y)]  # two steps in a row


def check_train_step(train_step, cases):
    """q4: zero the gradients, compute the loss, backward, optimiser step; return the loss as a float."""
    name = "train_step"
    net, loss_fn, optimizer, X, y = cases[0].args
    reference = copy.deepcopy(net)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=optimizer.param_groups[0]["lr"])
    on = say("nn.Linear(4, 3), SGD with lr 0.5 and a batch of 8 examples")
    for step in (1, 2):
        got = call(train_step, net, loss_fn, optimizer, X, y, name=name, on=on)
        ref_optimizer.zero_grad()
        want = loss_fn(reference(X), y)
        want.backward()
        ref_optimizer.step()
        if isinstance(got, torch.Tensor):
            raise Incorrect(say("on {on}, `{name}` returned a tensor; return the loss as a Python float "
                                "(loss.item()), which also lets the graph go", on=on, name=name))
        if not isinstance(got, float):
            raise Incorrect(say("on {on}, `{name}` returned {kind}, expected the loss as a float", on=on, name=name,
                                kind=type(got).__name__))
        if abs(got - want.item()) > 1e-5:
            raise Incorrect(say("on {on}, step {step}: `{name}` returned {got:.5g}, expected the loss before the "
                                "update, {want:.5g}", on=on, step=step, name=name, got=got, want=want.item()))
        same = all(torch.allclose(p, q, atol=1e-6) for p, q in zip(net.parameters(), reference.parameters()))
        if not same:
            if step == 1:
                raise Incorrect(say("on {on}, the parameters after one call differ from one step of the "
                                    "optimiser (zero_grad, loss, backward, step)", on=on))
            raise Incorrect(say("on {on}, the first step was right but the second was not: the gradients of the "
                                "first call were still there; call optimizer.zero_grad() before backward()", on=on))


def predict_proba_cases(rng):
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=rng) * 0.5)
    X = torch.randn(6, 4, generator=rng)
    in_eval_mode = copy.deepcopy(net).eval()
    # the model in training mode twice (dropout, if left on, shows as two different answers), then in eval mode
    return [Case(net.train(), X), Case(net, X), Case(in_eval_mode, X)]


def check_predict_proba(predict_proba, cases):
    """q5: softmax probabilities in evaluation mode, without a graph, leaving the model's mode as it was."""
    name = "predict_proba"
    net, X = cases[0].args
    net.eval()
    with torch.no_grad():
        want = torch.softmax(net(X), dim=1)
    net.train()
    on = say("a model with dropout, in training mode, and 6 inputs")
    out = expect_tensor(call(predict_proba, net, X, name=name, on=on), (6, 3), name, on)
    if out.requires_grad:
        raise Incorrect(say("on {on}, what `{name}` returned requires grad: prediction needs no graph, so "
                            "compute it inside torch.no_grad()", on=on, name=name))
    if not net.training:
        raise Incorrect(say("on {on}, `{name}` left the model in evaluation mode; put it back in the mode it was "
                            "in (training here)", on=on, name=name))
    sums = out.detach().sum(dim=1)
    if not torch.allclose(sums, torch.ones(6), atol=1e-4):
        raise Incorrect(say("on {on}, the rows of what `{name}` returned sum to {sums}; return probabilities "
                            "(the softmax of each row of logits)", on=on, name=name, sums=show(sums)))
    if not torch.allclose(out, want, atol=1e-5):
        again = call(predict_proba, net, X, name=name, on=on)
        again = expect_tensor(again, (6, 3), name, on)
        if not torch.allclose(out, again):
            raise Incorrect(say("on {on}, two calls of `{name}` gave different probabilities: dropout was "
                                "active; switch the model to evaluation mode (net.eval()) while predicting", on=on,
                                name=name))
        expect_close(out, want, name, on, atol=1e-5)
    in_eval_mode = cases[2].args[0]
    call(predict_proba, in_eval_mode, X, name=name, on=on)
    if in_eval_mode.training:
        raise Incorrect(say("`{name}` switched a model that was in evaluation mode to training mode; restore the "
                            "mode it was in (net.training tells you)", name=name))


q1 = Question(EXERCISE, "q1", "A gradient without side effects", 2, check_grad_of,
              cases=grad_of_cases, hints=[
    "Autograd needs a leaf tensor that requires grad; x itself must stay as it was.",
    "Make z = x.detach().clone().requires_grad_(), compute f(z), and get the gradient with "
    "torch.autograd.grad(f(z), z)[0] (or f(z).backward() and z.grad).",
])
q2 = Question(EXERCISE, "q2", "Softmax regression with nn.Sequential", 2, check_make_model,
              cases=make_model_cases, hints=[
    "nn.Flatten() turns (n, 1, 28, 28) into (n, 784); nn.Linear(784, 10) maps that to 10 logits. No softmax "
    "at the end.",
    "Initialise in place under torch.no_grad(): nn.init.normal_(layer.weight, 0.0, 0.01) and "
    "nn.init.zeros_(layer.bias).",
])
q3 = Question(EXERCISE, "q3", "From W and b to nn.Linear", 2, check_linear_from_scratch,
              cases=linear_from_scratch_cases, hints=[
    "nn.Linear(d, q) computes X @ weight.T + bias, so its weight has shape (q, d): the transpose of W.",
    "layer = nn.Linear(W.shape[0], W.shape[1]); then, under torch.no_grad(), layer.weight.copy_(W.T) and "
    "layer.bias.copy_(b).",
])
q4 = Question(EXERCISE, "q4", "A training step with an optimiser", 2, check_train_step,
              cases=train_step_cases, hints=[
    "Four calls in order: optimizer.zero_grad(), loss = loss_fn(net(X), y), loss.backward(), optimizer.step().",
    "Return loss.item(): a Python float, taken before the step changes the parameters.",
])
q5 = Question(EXERCISE, "q5", "Predicted probabilities in evaluation mode", 2, check_predict_proba,
              cases=predict_proba_cases, hints=[
    "Dropout is active in training mode: predictions need net.eval(), and no graph (torch.no_grad()).",
    "Remember was_training = net.training, switch to eval, compute torch.softmax(net(X), dim=1) under no_grad, "
    "then net.train(was_training).",
])
QUESTIONS = [q1, q2, q3, q4, q5]
