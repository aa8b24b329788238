"""book.train: the accumulator, accuracy, evaluation, both kinds of updater, and a NaN loss caught."""

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
    with pytest.raises(FloatingPointError, match="Lower the learning rate"):
        train_epoch(model, toy(), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))


def test_predict_and_confusion_matrix():
    model = nn.Linear(5, 3)
    X = torch.randn(2500, 5)
    assert torch.equal(predict(model, X, batch_size=1000), model(X).argmax(1))
    cm = confusion_matrix(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    with pytest.raises(ValueError, match="class indices in 0..2"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)
