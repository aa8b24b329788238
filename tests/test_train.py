"""book.train: the accumulator, accuracy, evaluation, both kinds of updater, a loss that diverges caught (NaN, or
finite and running away), and train()'s arguments checked before the first step."""

import math

import pytest
import torch
from torch import nn

from book.data import FastLoader
from book.train import (Accumulator, accuracy, confusion_matrix, correct, evaluate, predict, sgd, train,
                        train_epoch)
from book.monitor import TrainingMonitor


def toy(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()  # 3 classes, learnable by a linear model
    return FastLoader(X, y, batch_size=64, seed=seed, device="cpu")


def test_accumulator_and_accuracy():
    acc = Accumulator(2)
    acc.add(1, 2.5)
    acc.add(torch.tensor(2.0), 0.5)
    assert acc[0] == 3.0 and acc[1] == 3.0
    acc.reset()
    assert acc.data == [0.0, 0.0]
    with pytest.raises(ValueError, match="expected 2 values"):
        acc.add(1)
    y_hat = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert correct(y_hat, torch.tensor([1, 1, 1])) == 2
    assert accuracy(y_hat, torch.tensor([1, 0, 1])) == 1.0


def test_evaluate_restores_mode_and_averages():
    model = nn.Sequential(nn.Linear(5, 3), nn.Dropout(0.5))
    model.train()
    data = toy()
    result = evaluate(model, data, nn.CrossEntropyLoss(reduction="none"))
    assert model.training and 0 <= result["acc"] <= 1 and result["loss"] > 0
    total = sum(nn.functional.cross_entropy(model[0](X), y, reduction="sum").item() for X, y in data)
    assert result["loss"] == pytest.approx(total / 600, rel=1e-5)
    assert evaluate(model, data)["loss"] is None


def test_hand_sgd_and_optimizer_give_the_same_step():
    torch.manual_seed(0)
    a = nn.Linear(5, 3)
    b = nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    loss = nn.CrossEntropyLoss(reduction="none")
    train_epoch(a, toy(), loss, lambda n: sgd(a.parameters(), 0.1, n))  # the same batches for both
    train_epoch(b, toy(), loss, torch.optim.SGD(b.parameters(), lr=0.1))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_train_learns_and_records_history():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    history = train(model, toy(), toy(seed=1), nn.CrossEntropyLoss(), 10,
                    torch.optim.SGD(model.parameters(), lr=0.5), monitor=TrainingMonitor(mode="silent"))
    assert [r["epoch"] for r in history] == list(range(1, 11))
    assert history[-1]["test_acc"] > 0.7 and history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]


def test_a_diverging_loss_stops_with_the_fix():
    model = nn.Linear(5, 3)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"the loss became nan at minibatch 1.*lower it \(lr=0.1 now; "
                                                 r"try lr=0.01, 10 times smaller\), and check that the loss is given "
                                                 "logits"):
        train_epoch(model, toy(), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))


def test_predict_and_confusion_matrix():
    model = nn.Linear(5, 3)
    X = torch.randn(2500, 5)
    assert torch.equal(predict(model, X, batch_size=1000), model(X).argmax(1))
    cm = confusion_matrix(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    with pytest.raises(ValueError, match="class indices in 0..2"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)


# --- train() checks its arguments before the first step ------------------------------------------------------

def silent():
    return TrainingMonitor(mode="silent")


def train_args(model, **changes):
    args = {"net": model, "train_iter": toy(), "test_iter": toy(seed=1), "loss": nn.CrossEntropyLoss(),
            "num_epochs": 2, "updater": torch.optim.SGD(model.parameters(), lr=0.1), "monitor": silent()}
    args.update(changes)
    return args


def empty_batches():
    return iter([])


@pytest.mark.parametrize("changes, error, says", [
    ({"train_iter": []}, ValueError, r"train_iter yields no batches: it must hold at least one batch"),
    ({"train_iter": FastLoader(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), device="cpu")}, ValueError,
     "train_iter yields no batches"),
    ({"train_iter": empty_batches()}, TypeError, r"train_iter must yield \(X, y\) batches once per epoch.*"
                                                 "an iterator, used up after one pass"),
    ({"train_iter": 5}, TypeError, "train_iter must yield.*not iterable"),
    ({"test_iter": []}, ValueError, "test_iter yields no batches"),
    ({"test_iter": FastLoader(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), device="cpu")}, ValueError,
     "test_iter yields no batches"),
    ({"updater": 0.1}, TypeError, r"updater must be a torch.optim.Optimizer, e.g. torch.optim.SGD\(net.parameters"
                                  r"\(\), lr=0.1\), or a function updater\(batch_size\).*got 0.1 \(float\)"),
    ({"updater": torch.optim.SGD}, TypeError, "updater must be a torch.optim.Optimizer"),
    ({"num_epochs": 0}, ValueError, "num_epochs must be a positive integer, got 0"),
    ({"num_epochs": True}, ValueError, "num_epochs must be a positive integer, got True"),
    ({"num_epochs": 2.0}, ValueError, "num_epochs must be a positive integer, got 2.0"),
    ({"loss": "cross-entropy"}, TypeError, r"loss must be a function of \(logits, y\)"),
    ({"net": "linear"}, TypeError, "net must map a batch of inputs to logits"),
    ({"scheduler": 0.5}, TypeError, "scheduler must be a learning-rate scheduler with a step"),
])
def test_train_checks_its_arguments_before_the_first_step(changes, error, says):
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    before = [p.detach().clone() for p in model.parameters()]
    args = train_args(model, **changes)
    with pytest.raises(error, match=says):
        train(**args)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # not one step was taken
    assert args["monitor"].history == []


def test_train_epoch_names_a_loader_that_ran_dry():
    model = nn.Linear(5, 3)
    batches = iter(list(toy()))  # an iterator: the first pass uses it up
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_epoch(model, batches, nn.CrossEntropyLoss(), optimizer, epoch=1)
    with pytest.raises(ValueError, match="train_iter yielded no examples.*epoch 2.*used up after one pass"):
        train_epoch(model, batches, nn.CrossEntropyLoss(), optimizer, epoch=2)
    with pytest.raises(TypeError, match="updater must be"):
        train_epoch(model, toy(), nn.CrossEntropyLoss(), 0.1)


def test_train_without_a_second_loader_and_with_a_scheduler_stepped_every_minibatch():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    steps = []
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: steps.append(step) or 1.0)
    history = train(model, toy(), None, nn.CrossEntropyLoss(), 3, optimizer, monitor=silent(), scheduler=schedule)
    assert [sorted(k for k in row if k != "time") for row in history] == [["epoch", "train_acc", "train_loss"]] * 3
    assert steps == list(range(3 * len(toy()) + 1))  # step 0 when made, then one per minibatch
    assert history[-1]["train_loss"] < history[0]["train_loss"]


# --- divergence of the stable loss ----------------------------------------------------------------------------

def test_a_run_that_diverges_stops_after_its_first_epoch_naming_the_learning_rate():
    """At lr 1e3 the stable loss stays finite while it runs away: the run must stop, not train to the end."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    monitor = silent()
    with pytest.raises(FloatingPointError, match=r"training diverged: the mean training loss of epoch 1 is .*more "
                                                 r"than 10 times .*log q = log 3 = 1.1.*lower it \(lr=1000 now; try "
                                                 r"lr=100, 10 times smaller\)"):
        train(model, toy(), toy(seed=1), nn.CrossEntropyLoss(), 10, torch.optim.SGD(model.parameters(), lr=1e3),
              monitor=monitor)
    assert monitor.history == []  # it stopped at once, not after ten epochs


def test_divergence_with_a_hand_written_updater():
    from book.train import TrainingDiverged

    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    params = list(model.parameters())
    with pytest.raises(TrainingDiverged, match="The learning rate your updater uses is too large"):
        train(model, toy(), toy(seed=1), nn.CrossEntropyLoss(reduction="none"), 5,
              lambda n: sgd(params, 1e3, n), monitor=silent())


def test_a_poor_start_that_learns_is_no_divergence():
    """Weights 60 times too large start the loss at ~28, far above log 3; it falls from there, so training goes
    on: the reference is the first minibatch's loss when that is above log q."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    with torch.no_grad():
        model.weight.mul_(60)
    history = train(model, toy(), toy(seed=1), nn.CrossEntropyLoss(), 3, torch.optim.SGD(model.parameters(), lr=0.1),
                    monitor=silent())
    assert history[0]["train_loss"] > 10 * math.log(3) and len(history) == 3


def test_the_divergence_rules():
    from book.train import DivergenceCheck

    rising = DivergenceCheck()
    rising.first_minibatch(2.0, 10)  # reference log 10 = 2.30
    verdicts = [rising.end_of_epoch(loss, epoch) for epoch, loss in enumerate([2.1, 2.4, 2.9, 3.5], 1)]
    assert verdicts[:3] == [None] * 3
    assert verdicts[3].startswith("the mean training loss rose 3 epochs in a row, to 3.5 at epoch 4, above 2.3")
    jump = DivergenceCheck()
    jump.first_minibatch(2.3, 10)
    assert "more than 10 times 2.3" in jump.end_of_epoch(23.1, 1)
    learning = DivergenceCheck()  # learning, then a plateau whose noise rises three times: below log q, no alarm
    learning.first_minibatch(2.35, 10)
    assert all(learning.end_of_epoch(loss, epoch) is None
               for epoch, loss in enumerate([0.9, 0.6, 0.5, 0.45, 0.451, 0.452, 0.453, 0.454, 2.2], 1))
    poor_start = DivergenceCheck()
    poor_start.first_minibatch(40.0, 10)
    assert poor_start.end_of_epoch(300.0, 1) is None and "more than 10 times 40" in poor_start.end_of_epoch(401, 2)
    for bad in ({"factor": 1}, {"factor": "10"}, {"rises": 0}, {"rises": True}):
        with pytest.raises(ValueError):
            DivergenceCheck(**bad)
