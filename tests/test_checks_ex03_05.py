"""Exercises 03 (the data), 04 (training from scratch) and 05 (autograd and the concise implementation) judged
both ways: directly, as in a learner's notebook, and recorded then judged from the record, as in a class grading
(``assert_correct`` / ``assert_incorrect`` / ``graded`` of tests/test_questions.py). The two ways must agree on
every verdict and every message; right answers must also pass on the fresh inputs of another grading seed.
"""

import pytest
import torch
import torch.nn.functional as F
from test_questions import assert_correct, assert_incorrect, graded, stub
from torch import nn

from book import checks, probes, protocol
from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED, ____

ex03 = checks.load("03_data")
ex04 = checks.load("04_training")
ex05 = checks.load("05_autograd_concise")


def test_every_question_of_exercises_03_to_05_is_judged_outside_the_learners_process():
    for module in (ex03, ex04, ex05):
        assert module.QUESTIONS and all(q.judged_outside for q in module.QUESTIONS), module.EXERCISE


def test_each_grading_draws_fresh_random_inputs():
    for q in ex03.QUESTIONS + ex04.QUESTIONS + ex05.QUESTIONS:
        one, two = (q.planned_cases(protocol.rng_for(seed, q.exercise, q.id)) for seed in (1, 2))
        assert repr(one) == repr(two)  # the same calls, on other inputs somewhere

        def values(cases):
            found = []
            for c in cases:
                protocol._tensors_in((list(c.args), c.kwargs), found)
                found += [a for a in c.args if isinstance(a, (int, float))]
                found += [p.detach() for a in c.args if isinstance(a, nn.Module) for p in a.parameters()]
            return found

        differs = any((not torch.equal(a, b)) if isinstance(a, torch.Tensor) else a != b
                      for a, b in zip(values(one), values(two)))
        assert differs, f"{q.exercise} {q.id}: every input is the same in every grading"


# --- exercise 03: the data -------------------------------------------------------------------------------------

def to_inputs_right(images):
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    return images.float().div(255).unsqueeze(1)


def test_ex03_q1_to_inputs():
    q1 = ex03.q1
    assert_correct(q1, to_inputs_right)
    assert_incorrect(q1, lambda im: im.float().div(255).unsqueeze(1), says="scale them a second time")
    assert_incorrect(q1, lambda im: to_inputs_right(im).squeeze(1), says="add the channel dimension")
    assert_incorrect(q1, lambda im: to_inputs_right(im) * 255 / im.max(), says="the batch's largest pixel")
    assert_incorrect(q1, lambda im: (im // 255).unsqueeze(1), says="convert to float first")
    assert_incorrect(q1, lambda im: to_inputs_right(im).double(), says="float32")

    def in_place(images):
        if images.dtype != torch.uint8:
            raise TypeError("expected uint8")
        out = images.float().div(255).unsqueeze(1)
        images.zero_()
        return out

    assert_incorrect(q1, in_place, says="changed the images it was given in place")

    def borrowed(images):
        from book.data import to_float
        return to_float(images)

    def borrowed_for_floats_only(images):  # the borrowed call hides in the error path
        if images.dtype != torch.uint8:
            from book.data import to_float
            to_float(images.to(torch.uint8))
            raise TypeError("expected uint8")
        return images.float().div(255).unsqueeze(1)

    assert_incorrect(q1, borrowed, says="calls book.data.to_float")
    assert_incorrect(q1, borrowed_for_floats_only, says="calls book.data.to_float")
    assert q1.evaluate(stub).status == NOT_ATTEMPTED and graded(q1, stub).status == NOT_ATTEMPTED


def class_counts_right(labels, num_classes):
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError("labels out of range")
    return torch.bincount(labels, minlength=num_classes)


def test_ex03_q2_class_counts():
    q2 = ex03.q2
    assert_correct(q2, class_counts_right)
    assert_correct(q2, lambda y, k: class_counts_right(y, k).to(torch.int32))
    assert_incorrect(q2, lambda y, k: torch.bincount(y), says=["class 3 never occurs", "minlength"])
    assert_incorrect(q2, lambda y, k: class_counts_right(y, k).float(), says="whole numbers")
    assert_incorrect(q2, lambda y, k: torch.bincount(y.clamp(0), minlength=k)[:k], says="ValueError")
    assert_incorrect(q2, lambda y, k: class_counts_right(y, k).tolist(), says="expected a tensor")

    def raises_the_wrong_error(labels, num_classes):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise IndexError("out of range")
        return class_counts_right(labels, num_classes)

    assert_incorrect(q2, raises_the_wrong_error, says="raised IndexError (out of range)")


def standardise_right(train, test):
    mu, sigma = train.mean(), train.std()
    return (train - mu) / sigma, (test - mu) / sigma


def test_ex03_q3_standardise():
    q3 = ex03.q3
    assert_correct(q3, standardise_right)
    assert_correct(q3, lambda a, b: ((a - a.mean()) / a.std(unbiased=False), (b - a.mean()) / a.std(unbiased=False)))
    assert_incorrect(q3, lambda a, b: ((a - a.mean(0)) / a.std(0), (b - a.mean(0)) / a.std(0)),
                     says="each pixel position")
    assert_incorrect(q3, lambda a, b: (standardise_right(a, b)[0], (b - b.mean()) / b.std()), says="their own mean")
    both = lambda a, b: torch.cat([a, b])  # noqa: E731
    assert_incorrect(q3, lambda a, b: ((a - both(a, b).mean()) / both(a, b).std(),
                                       (b - both(a, b).mean()) / both(a, b).std()), says="leak")
    assert_incorrect(q3, lambda a, b: (a - a.mean(), b - a.mean()), says="nothing was divided")
    assert_incorrect(q3, lambda a, b: standardise_right(a, b)[0], says="expected two tensors")

    def in_place(a, b):
        mu, sigma = a.mean(), a.std()
        return a.sub_(mu).div_(sigma), b.sub_(mu).div_(sigma)

    assert_incorrect(q3, in_place, says="changed the training images in place")


def minibatches_right(X, y, batch_size, seed):
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]


def test_ex03_q4_minibatches():
    q4 = ex03.q4
    assert_correct(q4, minibatches_right)
    assert_correct(q4, lambda X, y, b, s: list(minibatches_right(X, y, b, s)))  # a list of batches is fine too

    def with_dataloader(X, y, batch_size, seed):
        from torch.utils.data import DataLoader, TensorDataset
        return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))

    def with_fast_loader(X, y, batch_size, seed):
        from book.data import FastLoader
        return iter(FastLoader(X, y, batch_size=batch_size, seed=seed, device="cpu"))

    def global_seed(X, y, batch_size, seed):
        torch.manual_seed(seed)
        order = torch.randperm(len(y))
        for start in range(0, len(y), batch_size):
            yield X[order[start:start + batch_size]], y[order[start:start + batch_size]]

    def in_order(X, y, batch_size, seed):
        for start in range(0, len(y), batch_size):
            yield X[start:start + batch_size], y[start:start + batch_size]

    def unseeded(X, y, batch_size, seed):
        yield from minibatches_right(X, y, batch_size, int(torch.randint(0, 10 ** 9, ()).item()))

    def drop_last(X, y, batch_size, seed):
        return [b for b in minibatches_right(X, y, batch_size, seed) if len(b[1]) == batch_size]

    def misaligned(X, y, batch_size, seed):
        g = torch.Generator().manual_seed(seed)
        ox, oy = torch.randperm(len(y), generator=g), torch.randperm(len(y), generator=g)
        for start in range(0, len(y), batch_size):
            yield X[ox[start:start + batch_size]], y[oy[start:start + batch_size]]

    def fails_midway(X, y, batch_size, seed):
        batches = minibatches_right(X, y, batch_size, seed)
        yield next(batches)
        raise RuntimeError("out of batches")

    assert_incorrect(q4, with_dataloader, says="calls torch.utils.data.dataloader.DataLoader")
    assert_incorrect(q4, with_fast_loader, says="calls book.data.FastLoader")
    assert_incorrect(q4, global_seed, says="global random generator")
    assert_incorrect(q4, in_order, says="original order")
    assert_incorrect(q4, unseeded, says="another order when called again")
    assert_incorrect(q4, drop_last, says=["sizes [4, 4]", "smaller last batch"])
    assert_incorrect(q4, misaligned, says="labels of other examples")
    def endless(X, y, batch_size, seed):
        while True:
            yield from minibatches_right(X, y, batch_size, seed)

    assert_incorrect(q4, fails_midway, says="raised RuntimeError: out of batches")
    assert_incorrect(q4, endless, says="expected [4, 4, 2]")
    assert_incorrect(q4, lambda X, y, b, s: None, says="TypeError: 'NoneType' object is not iterable")
    assert_incorrect(q4, lambda X, y, b, s: minibatches_right(X, y, b, 0), says="same order for seeds")


# --- exercise 04: training from scratch ------------------------------------------------------------------------

def sgd_right(params, lr, batch_size):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad / batch_size
            p.grad.zero_()


def sgd_drops_grads(params, lr, batch_size):  # right too: the gradients set to None, not zeroed
    with torch.no_grad():
        for p in params:
            p.sub_(lr * p.grad / batch_size)
            p.grad = None


def make_train_epoch(sgd, reduction="sum"):
    def train_epoch(net, params, train_iter, lr):
        total, n = 0.0, 0
        for X, y in train_iter:
            loss = F.cross_entropy(net(X), y, reduction=reduction)
            loss.backward()
            sgd(params, lr, len(y))
            total += loss.item() * (len(y) if reduction == "mean" else 1)
            n += len(y)
        return total / n
    return train_epoch


def test_ex04_q1_to_q3():
    q1, q2, q3 = ex04.QUESTIONS[:3]
    assert_correct(q1, lambda y_hat, y: float((y_hat.argmax(1) == y).sum()) / len(y))
    assert_incorrect(q1, lambda y_hat, y: (y_hat.argmax(1) == y).sum().item(), says="number of right predictions")
    assert_incorrect(q1, lambda y_hat, y: (y_hat.argmax(1) == y).float().mean(), says="returned a tensor")
    assert_incorrect(q1, lambda y_hat, y: 0.4, says="1 random rows")  # the fixed case's answer, learnt by heart

    def evaluate_right(net, data_iter):
        right = n = 0
        with torch.no_grad():
            for X, y in data_iter:
                right += (net(X).argmax(1) == y).sum().item()
                n += len(y)
        return right / n

    def mean_of_batches(net, data_iter):
        with torch.no_grad():
            accs = [(net(X).argmax(1) == y).float().mean().item() for X, y in data_iter]
        return sum(accs) / len(accs)

    def with_graph(net, data_iter):
        right = n = 0
        for X, y in data_iter:
            right += (net(X).argmax(1) == y).sum().item()
            n += len(y)
        return right / n

    assert_correct(q2, evaluate_right)
    assert_incorrect(q2, mean_of_batches, says="average of the batches' accuracies")
    assert_incorrect(q2, with_graph, says="torch.no_grad()")
    assert_correct(q2, lambda net, it: torch.no_grad()(with_graph)(net, it))
    assert_incorrect(q2, lambda net, it: 0.6, says="never called `net`")

    def sgd_undivided(params, lr, batch_size):
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()

    def sgd_keeps_grads(params, lr, batch_size):
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad / batch_size

    def sgd_rebinds(params, lr, batch_size):
        for p in params:
            p = p - lr * p.grad / batch_size  # noqa: F841 -- a new local name: the parameter is not changed

    def sgd_detaches(params, lr, batch_size):
        for p in params:
            p.requires_grad_(False)
            p -= lr * p.grad / batch_size
            p.grad = None

    assert_correct(q3, sgd_right)
    assert_correct(q3, sgd_drops_grads)
    assert_incorrect(q3, sgd_undivided, says="4 times too far")
    assert_incorrect(q3, sgd_keeps_grads, says="left the gradients")
    assert_incorrect(q3, sgd_rebinds, says="did not change the parameters")
    assert_incorrect(q3, sgd_detaches, says="no longer leaf tensors that require grad")


def test_ex04_q4_train_epoch():
    q4 = ex04.q4

    def sgd_keeps_grads(params, lr, batch_size):
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad / batch_size

    assert_correct(q4, make_train_epoch(sgd_right))
    assert_correct(q4, make_train_epoch(sgd_drops_grads))
    assert_incorrect(q4, make_train_epoch(sgd_right, reduction="mean"), says="batch-size times too little")
    assert_incorrect(q4, make_train_epoch(sgd_keeps_grads), says="piled up")
    summed = make_train_epoch(sgd_right)
    assert_incorrect(q4, lambda *args: summed(*args) * 10, says="mean loss per example")
    assert_incorrect(q4, lambda net, params, it, lr: 1.0, says="did not change the parameters")


def test_ex04_q5_challenge_is_trained_in_the_sandbox_and_scored_by_the_judge():
    q5 = ex04.q5
    train_epoch = make_train_epoch(sgd_right)
    assert_correct(q5, [1.0, 1.0, 0.1, 0.01], 256, train_epoch)
    v = graded(q5, [1.0, 1.0, 0.1, 0.01], 256, train_epoch, seed=3)
    assert v.status == CORRECT and "n = 10,000" in v.message and "784 steps" in v.message, v.message
    assert_incorrect(q5, [0.1, 0.1], 256, train_epoch, says=["below the 82.5 % target", "validation accuracy"])
    assert_incorrect(q5, [0.1] * 5, 256, train_epoch, says=["980 SGD steps", "the budget is 800"])
    assert_incorrect(q5, 0.1, 256, train_epoch, says="one learning rate per epoch")
    assert_incorrect(q5, [10.0, 10.0], 256, lambda *a: float("nan"), says="diverged")
    assert_incorrect(q5, [0.5], 256, lambda *a: torch.tensor(0.3), says="returned a tensor")

    def crashes(net, params, train_iter, lr):
        raise ZeroDivisionError("division by zero")

    assert_incorrect(q5, [0.5], 256, crashes, says="`train_epoch` on Fashion-MNIST with lrs=[0.5]")
    assert q5.evaluate(____, 256, train_epoch).status == NOT_ATTEMPTED
    assert graded(q5, ____, 256, train_epoch) is None  # a blank: nothing to judge
    assert q5.evaluate([0.5], 256, stub).status == NOT_ATTEMPTED == graded(q5, [0.5], 256, stub).status


# --- exercise 05: autograd and the concise implementation -------------------------------------------------------

def test_ex05_q1_grad_of():
    q1 = ex05.q1

    def grad_right(f, x):
        z = x.detach().clone().requires_grad_()
        return torch.autograd.grad(f(z), z)[0]

    def grad_by_backward(f, x):
        z = x.clone().requires_grad_()
        f(z).backward()
        return z.grad

    def grad_on_x_itself(f, x):
        x.requires_grad_()
        (g,) = torch.autograd.grad(f(x), x)
        return g

    def grad_with_graph(f, x):
        z = x.detach().clone().requires_grad_()
        return torch.autograd.grad(f(z), z, create_graph=True)[0]

    def grad_piles_up(f, x, _seen={}):  # noqa: B006 -- keeps a tensor per x between calls
        z = _seen.setdefault(id(x), x.detach().clone().requires_grad_())
        f(z).backward()
        return z.grad.clone()

    def numeric_on_fixed_inputs(f, x):  # right only where it was learnt by heart
        return 3 * x ** 2

    assert_correct(q1, grad_right)
    assert_correct(q1, grad_by_backward)
    assert_incorrect(q1, grad_on_x_itself, says="changed the tensor x")
    assert_incorrect(q1, grad_with_graph, says="still part of a graph")
    assert_incorrect(q1, grad_piles_up, says="piled up between calls")
    assert_incorrect(q1, numeric_on_fixed_inputs, says="f(x) = sum(sin(x) * x)")


def make_model(softmax=False, init=True, hidden=False):
    layers = [nn.Flatten(), nn.Linear(784, 10)] if not hidden else [nn.Flatten(), nn.Linear(784, 10),
                                                                        nn.Linear(10, 10)]
    net = nn.Sequential(*layers, *([nn.Softmax(dim=1)] if softmax else []))
    if init:
        with torch.no_grad():
            net[1].weight.normal_(0, 0.01)
            net[1].bias.zero_()
    return net


def test_ex05_q2_make_model():
    q2 = ex05.q2
    assert_correct(q2, make_model)
    assert_incorrect(q2, lambda: make_model(softmax=True), says="probabilities")
    assert_incorrect(q2, lambda: make_model(init=False), says="standard deviation")
    assert_incorrect(q2, lambda: make_model(hidden=True), says="7,960 parameters")
    assert_incorrect(q2, lambda: make_model().state_dict(), says="returned OrderedDict")

    def biased():
        net = make_model()
        with torch.no_grad():
            net[1].bias.fill_(0.1)
        return net

    assert_incorrect(q2, biased, says="biases are not all zero")


def test_ex05_q3_linear_from_scratch():
    q3 = ex05.q3

    def linear_right(W, b):
        layer = nn.Linear(*W.shape)
        with torch.no_grad():
            layer.weight.copy_(W.T)
            layer.bias.copy_(b)
        return layer

    def linear_new_parameters(W, b):  # right too: parameters replaced rather than filled
        layer = nn.Linear(*W.shape)
        layer.weight = nn.Parameter(W.T.clone())
        layer.bias = nn.Parameter(b.clone())
        return layer

    def linear_untransposed(W, b):
        layer = nn.Linear(W.shape[0], W.shape[1])
        layer.weight = nn.Parameter(W.clone())
        layer.bias = nn.Parameter(b.clone())
        return layer

    def linear_swapped(W, b):
        return nn.Linear(W.shape[1], W.shape[0])

    def linear_frozen(W, b):
        layer = linear_right(W, b)
        layer.requires_grad_(False)
        return layer

    def linear_in_place(W, b):
        layer = linear_right(W, b)
        W.zero_()
        return layer

    assert_correct(q3, linear_right)
    assert_correct(q3, linear_new_parameters)
    assert_incorrect(q3, linear_untransposed, says="(out_features, in_features)")
    assert_incorrect(q3, linear_swapped, says="nn.Linear(3, 5)")
    assert_incorrect(q3, linear_frozen, says="do not require gradients")
    assert_incorrect(q3, linear_in_place, says="changed W or b in place")
    assert_incorrect(q3, lambda W, b: nn.Sequential(linear_right(W, b)), says="returned Sequential")
    assert_incorrect(q3, lambda W, b: (lambda X: X @ W + b), says="returned function")


def test_ex05_q4_train_step():
    q4 = ex05.q4

    def step(net, loss_fn, optimizer, X, y, zero=True, item=True, before=True):
        if zero:
            optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        optimizer.step()
        if not before:
            loss = loss_fn(net(X), y)
        return loss.item() if item else loss

    assert_correct(q4, step)
    assert_incorrect(q4, lambda *a: step(*a, zero=False), says="second was not")
    assert_incorrect(q4, lambda *a: step(*a, item=False), says="returned a tensor")
    assert_incorrect(q4, lambda *a: step(*a, before=False), says="the loss before the update")
    assert_incorrect(q4, lambda net, loss_fn, optimizer, X, y: loss_fn(net(X), y).item(),
                     says="differ from one step of the optimiser")


def test_ex05_q5_predict_proba():
    q5 = ex05.q5

    def predict(net, X, eval_mode=True, restore=True, grad=False, probs=True):
        was = net.training
        if eval_mode:
            net.eval()
        with torch.set_grad_enabled(grad):
            out = net(X)
            out = torch.softmax(out, dim=1) if probs else out
        if restore:
            net.train(was)
        return out

    def always_train(net, X):
        out = predict(net, X)
        net.train()
        return out

    assert_correct(q5, predict)
    assert_incorrect(q5, lambda net, X: predict(net, X, eval_mode=False), says="dropout was active")
    assert_incorrect(q5, lambda net, X: predict(net, X, restore=False), says="left the model in evaluation mode")
    assert_incorrect(q5, lambda net, X: predict(net, X, grad=True), says="requires grad")
    assert_incorrect(q5, lambda net, X: predict(net, X, probs=False), says="return probabilities")
    assert_incorrect(q5, always_train, says="switched a model that was in evaluation mode")


# --- the objects a plan carries ----------------------------------------------------------------------------------

def test_models_optimisers_and_probes_cross_into_the_sandbox_as_the_same_objects(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.25), nn.Linear(3, 2)).eval()
    net[3].train()
    W, b = torch.randn(4, 2, requires_grad=True), torch.zeros(2, requires_grad=True)
    W.grad = torch.ones(4, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.5)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    f, recording = probes.Function("sum_of_exp"), probes.RecordingNet()
    cases = [protocol.Case(net, loss_fn, optimizer, probes.LinearModel(W, b), [W, b]),
             protocol.Case(net, f, recording)]

    class Q:
        id, forbidden = "q1", frozenset()

    protocol.write_plan(tmp_path / "q1", Q, cases)
    protocol.finish_plans(tmp_path)
    _, back = protocol.read_plan(tmp_path / "q1")
    net2, loss2, opt2, linear2, (W2, b2) = back[0].args
    assert back[1].args[0] is net2  # one object for both calls, as in self-study
    assert [type(m).__name__ for m in net2.modules()] == [type(m).__name__ for m in net.modules()]
    assert [m.training for m in net2.modules()] == [m.training for m in net.modules()]
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q) and q.requires_grad
    assert [id(p) for p in opt2.param_groups[0]["params"]] == [id(p) for p in net2.parameters()]
    assert opt2.param_groups[0]["lr"] == 0.3 and opt2.param_groups[0]["momentum"] == 0.5
    assert loss2.label_smoothing == 0.1
    assert linear2.W is W2 and linear2.b is b2 and torch.equal(W2.grad, W.grad) and W2.requires_grad
    X = torch.randn(5, 4)
    assert torch.equal(linear2(X), probes.LinearModel(W, b)(X))
    f2, recording2 = back[1].args[1:]
    x = torch.randn(3)
    assert torch.equal(f2(x), f(x)) and torch.equal(recording2.weight, recording.weight)


def test_a_plan_refuses_objects_it_cannot_rebuild(tmp_path):
    class Custom(nn.Module):
        def forward(self, X):
            return X

    class Q:
        id, forbidden = "q1", frozenset()

    with pytest.raises(TypeError, match="cannot carry a Custom module"):
        protocol.write_plan(tmp_path / "q1", Q, [protocol.Case(Custom())])
    lone = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match="module must come before it"):
        protocol.write_plan(tmp_path / "q2", Q, [protocol.Case(lone)])
    with pytest.raises(ValueError, match="no function"):
        probes.Function("os.system")


def test_a_probe_takes_only_plain_values_from_a_record():
    net = probes.RecordingNet()
    net.apply_state({"calls": "many", "grad_enabled": 1})
    assert net.calls == 0 and net.grad_enabled is False
    net.apply_state({"calls": 3, "grad_enabled": True})
    assert (net.calls, net.grad_enabled) == (3, True)


@pytest.mark.parametrize("forgery", ["zeros", "trained_longer"])
def test_a_forged_record_of_the_challenge_earns_nothing(tmp_path, forgery):
    """The sandbox hands back weights; the judge checks them against the same run of the model answer and
    scores them itself on labels it alone holds, so weights written into the record -- untrained, or trained
    past the budget of SGD steps -- fail, whatever else the record says."""
    from book import plain_data, replay

    q5 = ex04.q5
    cases = q5.planned_cases(protocol.rng_for(7, q5.exercise, q5.id))
    seed, val_size, split_seed, _ = cases[0].args
    if forgery == "zeros":
        W, b = torch.zeros(784, 10), torch.zeros(10)
    else:  # twice the epochs the record claims: 1,568 steps
        run = probes.train_linear_sgd([1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01], 256, ex04.reference_epoch, seed,
                                      val_size, split_seed, 10_000)
        W, b = run["W"], run["b"]
    plans, records = tmp_path / "plans", tmp_path / "records"
    protocol.write_plan(plans / "q5", q5, cases)
    protocol.finish_plans(plans)
    encoder = plain_data.Encoder()
    forged = {"question": "q5", "answers": [encoder.encode([1.0, 1.0, 0.1, 0.01]), encoder.encode(256),
                                            {"$": "function", "name": "train_epoch"}],
              "calls": [{"case": 0, "status": "returned", "forbidden": [],
                         "result": encoder.encode({"losses": [0.1] * 4, "W": W, "b": b}),
                         "args": encoder.encode(list(cases[0].args))}]}
    plain_data.write_payload(records / "q5", plain_data.Encoded(forged), encoder)
    answers = replay.answers_for_judge(replay.read_record(records / "q5", len(cases)), cases)
    v = q5.evaluate(*answers, cases=cases)
    assert v.status == INCORRECT and "what 4 epochs of minibatch SGD with these settings give" in v.message, v


# --- hostile answers, graded in the sandbox: an attack in the kernel earns nothing ---------------------------------

HOSTILE = {
    "05_autograd_concise": {
        # the question object rebound to one whose check prints "correct"
        "q1": "def grad_of(f, x):\n    raise NotImplementedError\n\n\nclass Fake:\n    def check(self, *a):\n"
              "        print('q1: correct (2 points).')\n\n\nq1 = Fake()",
        # a wrong model (it ends in a softmax), with the comparison that would catch it patched in the kernel
        "q2": "def make_model():\n    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(dim=1))\n"
              "    nn.init.normal_(net[1].weight, 0, 0.01)\n    nn.init.zeros_(net[1].bias)\n    return net\n\n\n"
              "torch.allclose = lambda *a, **k: False",
        # the check of this one question replaced
        "q3": "def linear_from_scratch(W, b):\n    return nn.Linear(W.shape[1], W.shape[0])\n\n\n"
              "q3.check = lambda *a: print('q3: correct (2 points).')",
        # a step that never zeroes the gradients, with every comparison made to agree
        "q4": "def train_step(net, loss_fn, optimizer, X, y):\n    loss = loss_fn(net(X), y)\n    loss.backward()\n"
              "    optimizer.step()\n    return loss.item()\n\n\ntorch.allclose = lambda *a, **k: True\n"
              "torch.equal = lambda *a, **k: True\ntorch.Tensor.__eq__ = lambda self, other: True",
        # predictions with dropout on, and the modes made unchangeable
        "q5": "def predict_proba(net, X):\n    with torch.no_grad():\n        return torch.softmax(net(X), dim=1)\n\n\n"
              "nn.Module.train = lambda self, mode=True: self\nnn.Module.eval = lambda self: self",
    },
    "03_data": {
        # the course's own conversion, under another name
        "q1": "from book.data import to_float as convert\n\n\ndef to_inputs(images):\n"
              "    if images.dtype != torch.uint8:\n        raise TypeError('expected uint8 images')\n"
              "    return convert(images)",
        "q2": "def class_counts(labels, num_classes):\n    return torch.bincount(labels)\n\n\n"
              "torch.equal = lambda *a, **k: True",
        "q3": "def standardise(train, test):\n    both = torch.cat([train, test])\n"
              "    return (train - both.mean()) / both.std(), (test - both.mean()) / both.std()\n\n\n"
              "torch.allclose = lambda *a, **k: True",
        # the borrowed DataLoader hidden from the watch: the check cannot see it, the flag withholds the points
        "q4": "import sys\nfrom torch.utils.data import DataLoader, TensorDataset\n\n\n"
              "def minibatches(X, y, batch_size, seed):\n    sys.setprofile(None)\n"
              "    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,\n"
              "                      generator=torch.Generator().manual_seed(seed))",
    },
}


@pytest.mark.parametrize("exercise", sorted(HOSTILE))
def test_attacks_in_the_kernel_earn_no_points_in_a_class_grading(exercise, tmp_path):
    import json

    from grader import grade as grading
    from grader import sandbox
    from grader.exercise_cells import ANSWER, notebook_text, read_notebook, role
    from grader.make_exercises import EXERCISES_DIR

    if not sandbox.mechanism():
        pytest.fail(f"class grading needs its sandbox: {sandbox.unavailable_reason()}")
    nb = json.loads(json.dumps(read_notebook(EXERCISES_DIR / f"{exercise}.ipynb")))
    for cell in nb["cells"]:
        kind, q = role(cell)
        if kind == ANSWER and q in HOSTILE[exercise]:
            cell["source"] = HOSTILE[exercise][q]
    path = tmp_path / f"{exercise}.ipynb"
    path.write_text(notebook_text(nb), encoding="utf-8")
    g = grading.grade(path, sandboxed=True, timeout=60)
    assert g.sandbox == "bubblewrap"
    got = {q.id: q for q in g.questions}
    assert {q: got[q].points for q in HOSTILE[exercise]} == {q: 0 for q in HOSTILE[exercise]}, g.questions
    assert all(got[q].judged == "outside" for q in got)
    # what the checks themselves said (flags withhold the points of a tampering notebook on top of that): every
    # attack fails by itself, except the one that switches the watch for borrowed functions off, which only the
    # flag catches (an in-process watch can be switched off; the flag names how)
    said = {q: got[q].verdict or got[q].status for q in HOSTILE[exercise]}
    watch_off = {"q4"} if exercise == "03_data" else set()
    assert all(said[q] in (INCORRECT, NOT_ATTEMPTED) for q in said if q not in watch_off), said
    kinds = {(f.question, f.kind) for f in g.flags}
    if exercise == "03_data":
        assert {("q1", "forbidden"), ("q4", "tampering")} <= kinds, g.flags
    else:
        assert ("q1", "tampering") in kinds, g.flags
