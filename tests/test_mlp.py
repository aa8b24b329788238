"""book.mlp: shapes, the parameter count formula, logits, saving and loading, dropout only in train mode, and
fit: training measured on validation data, the best epoch kept, early stopping."""

import pytest
import torch
from torch import nn

from book.data import FastLoader
from book.mlp import DEFAULT_SIZES, MLP, FitResult, count_parameters, fit, load_state, save_state
from book.monitor import TrainingMonitor
from book.train import evaluate


def formula(sizes):
    """Σ (d_in · d_out + d_out): a weight matrix and a bias vector per Linear layer."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def images(n=8, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sizes", [DEFAULT_SIZES, (784, 10), (784, 256, 10), (12, 5, 7, 3)])
def test_output_shape_and_parameter_count(sizes):
    torch.manual_seed(0)
    net = MLP(sizes)
    x = torch.randn(4, sizes[0]) if sizes[0] != 784 else images(4)
    assert net(x).shape == (4, sizes[-1])
    assert count_parameters(net) == formula(sizes)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == list(zip(sizes[:-1], sizes[1:]))


def test_default_is_the_chapter_network():
    net = MLP()
    assert net.sizes == (784, 512, 256, 128, 64, 10)
    assert count_parameters(net) == 575_050
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 4  # one per hidden layer, none after the output layer
    assert isinstance(list(net.layers)[-1], nn.Linear)


def test_outputs_are_logits_not_probabilities():
    torch.manual_seed(0)
    out = MLP()(images(16))
    sums = out.sum(dim=1)
    assert not torch.allclose(sums, torch.ones_like(sums), atol=1e-3)
    assert (out < 0).any()  # a probability is never negative; a logit may be
    probs = out.softmax(dim=1)
    assert torch.allclose(probs.sum(dim=1), torch.ones(16), atol=1e-6)


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    net = MLP((784, 64, 32, 10)).eval()
    x = images(10)
    path = save_state(net, tmp_path / "sub" / "mlp.pt")
    assert path.is_file()
    loaded = load_state(path, sizes=(784, 64, 32, 10))
    assert not loaded.training
    assert torch.equal(net(x), loaded(x))
    fresh = MLP((784, 64, 32, 10))
    assert not torch.equal(fresh(x), loaded(x))  # the weights really came from the file
    assert next(load_state(path, sizes=(784, 64, 32, 10), device="cpu").parameters()).device.type == "cpu"


def test_loading_onto_a_device_this_machine_lacks_says_so(tmp_path, monkeypatch):
    path = save_state(MLP((12, 3)), tmp_path / "mlp.pt")
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        load_state(path, sizes=(12, 3), device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without a GPU, wherever this runs
    with pytest.raises(RuntimeError, match="device='cuda' but torch sees no CUDA device"):
        load_state(path, sizes=(12, 3), device="cuda")


def test_dropout_weights_load_into_a_model_without_dropout(tmp_path):
    torch.manual_seed(2)
    trained = MLP((784, 32, 10), dropout=0.5).eval()
    path = save_state(trained, tmp_path / "d.pt")
    plain = load_state(path, sizes=(784, 32, 10))
    x = images(5)
    assert torch.equal(trained(x), plain(x))


def test_mismatched_sizes_give_a_clear_error(tmp_path):
    path = save_state(MLP((784, 256, 10)), tmp_path / "small.pt")
    with pytest.raises(ValueError) as info:
        load_state(path, sizes=DEFAULT_SIZES)
    message = str(info.value)
    assert "(784, 256, 10)" in message and str(DEFAULT_SIZES) in message
    assert "load_state(path, sizes=(784, 256, 10))" in message
    with pytest.raises(ValueError, match=r"sizes \(784, 128, 10\)"):
        load_state(path, sizes=(784, 128, 10))  # same depth, different width


def test_a_file_that_is_not_an_mlp_state_dict(tmp_path):
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "linear.pt")
    with pytest.raises(ValueError, match="not hold the weights of a book.mlp.MLP"):
        load_state(tmp_path / "linear.pt", sizes=(3, 2))
    with pytest.raises(FileNotFoundError, match="save_state"):
        load_state(tmp_path / "missing.pt")


def test_dropout_only_in_train_mode():
    torch.manual_seed(3)
    net = MLP((784, 512, 10), dropout=0.5)
    x = images(4)
    net.train()
    a, b = net(x), net(x)
    assert not torch.equal(a, b)  # a fresh random mask on every call
    net.eval()
    c, d = net(x), net(x)
    assert torch.equal(c, d)
    no_dropout = MLP((784, 512, 10))
    no_dropout.load_state_dict(net.state_dict())
    no_dropout.train()
    assert torch.equal(no_dropout(x), c)  # eval mode with dropout = no dropout at all
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 1
    assert not any(isinstance(m, nn.Dropout) for m in no_dropout.modules())


@pytest.mark.parametrize("sizes, dropout", [((784,), 0.0), ((784, 0, 10), 0.0), ((784, 2.5, 10), 0.0),
                                            ((784, 10), 1.0), ((784, 10), -0.1)])
def test_bad_arguments(sizes, dropout):
    with pytest.raises(ValueError):
        MLP(sizes, dropout)


# --- fit: training with a validation set, choosing the epoch on it, early stopping ----------------------------


def blobs(n, seed, noise_labels=False):
    """Three Gaussian blobs in 12 dimensions; with noise_labels the labels are random (nothing to learn)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.randn(3, 12, generator=torch.Generator().manual_seed(99)) * 1.5
    X = centres[y] + torch.randn(n, 12, generator=g)
    if noise_labels:
        y = torch.randint(0, 3, (n,), generator=g)
    return X, y


def loaders(n_train=300, noise_labels=False):
    X, y = blobs(n_train, seed=1, noise_labels=noise_labels)
    Xv, yv = blobs(500, seed=2, noise_labels=noise_labels)
    return (FastLoader(X, y, batch_size=32, seed=0, device="cpu"),
            FastLoader(Xv, yv, batch_size=250, shuffle=False, device="cpu"))


def run_fit(num_epochs=12, seed=0, noise_labels=False, monitor=None, lr=0.1, **kwargs):
    torch.manual_seed(seed)
    net = MLP((12, 64, 3))
    train_iter, val_iter = loaders(noise_labels=noise_labels)
    result = fit(net, train_iter, val_iter, nn.CrossEntropyLoss(), num_epochs,
                 torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9),
                 monitor=monitor or TrainingMonitor(mode="silent"), **kwargs)
    return net, val_iter, result


def test_fit_measures_on_validation_and_restores_the_best_epoch():
    net, val_iter, result = run_fit(restore_best=True)
    assert isinstance(result, FitResult)
    assert [row["epoch"] for row in result.history] == list(range(1, 13))
    assert set(result.history[0]) >= {"train_loss", "train_acc", "val_loss", "val_acc"}
    losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses)) and result.best["val_loss"] == min(losses)
    after = evaluate(net, val_iter, nn.CrossEntropyLoss())
    assert after["loss"] == pytest.approx(result.best["val_loss"], rel=1e-5)  # the best epoch's weights are back
    assert after["acc"] == pytest.approx(result.best["val_acc"])
    assert result.restored == (result.best_epoch != 12) and not result.stopped_early


def test_fit_without_restoring_keeps_the_last_epoch_and_hands_back_the_best_state():
    net, val_iter, result = run_fit(noise_labels=True, lr=0.3, restore_best=False)
    assert not result.restored
    last = evaluate(net, val_iter, nn.CrossEntropyLoss())
    assert last["loss"] == pytest.approx(result.history[-1]["val_loss"], rel=1e-5)
    assert result.best_epoch < len(result.history)  # on noise the validation loss gets worse with training
    best = MLP((12, 64, 3))
    best.load_state_dict(result.best_state)
    assert evaluate(best, val_iter, nn.CrossEntropyLoss())["loss"] == pytest.approx(result.best["val_loss"],
                                                                                  rel=1e-5)


def test_early_stopping_is_the_same_run_cut_short():
    _, _, full = run_fit(num_epochs=20, noise_labels=True, lr=0.3)
    _, _, stopped = run_fit(num_epochs=20, noise_labels=True, lr=0.3, patience=3)
    assert stopped.stopped_early
    n = len(stopped.history)
    assert n == stopped.best_epoch + 3 < 20  # three epochs in a row without a new best, then stop
    # same seed, same batches: the stopped run is the first n epochs of the full run
    for a, b in zip(stopped.history, full.history[:n]):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)
    best_so_far = [min(r["val_loss"] for r in full.history[:i + 1]) for i in range(n)]
    assert stopped.best["val_loss"] == pytest.approx(best_so_far[-1], rel=1e-6)


def test_best_by_validation_accuracy():
    _, _, result = run_fit(best="val_acc")
    accs = [row["val_acc"] for row in result.history]
    assert result.best_epoch == 1 + accs.index(max(accs))


def test_the_monitor_keeps_counting_across_calls_and_eval_loss_is_used_on_validation():
    monitor = TrainingMonitor(mode="silent")
    torch.manual_seed(0)
    net = MLP((12, 16, 3))
    train_iter, val_iter = loaders()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    smoothed = nn.CrossEntropyLoss(label_smoothing=0.2)
    fit(net, train_iter, val_iter, smoothed, 2, optimizer, monitor=monitor)
    second = fit(net, train_iter, val_iter, smoothed, 2, optimizer, monitor=monitor, eval_loss=nn.CrossEntropyLoss(),
                 restore_best=False)
    assert [row["epoch"] for row in second.history] == [3, 4] and len(monitor.history) == 4
    plain = evaluate(net, val_iter, nn.CrossEntropyLoss())["loss"]
    assert second.history[-1]["val_loss"] == pytest.approx(plain, rel=1e-5)
    assert evaluate(net, val_iter, smoothed)["loss"] > plain  # the smoothed loss would have been different


@pytest.mark.parametrize("kwargs, error, match", [
    ({"optimizer": 0.1}, TypeError, "torch.optim.Optimizer"),
    ({"num_epochs": 0}, ValueError, "num_epochs"),
    ({"patience": 0}, ValueError, "patience"),
    ({"best": "test_acc"}, ValueError, "val_acc"),
    ({"eval_loss": "nll"}, TypeError, "eval_loss"),
    ({"net": lambda X: X}, TypeError, "nn.Module"),
    ({"val_iter": FastLoader(torch.zeros(0, 12), torch.zeros(0, dtype=torch.long), device="cpu")}, ValueError,
     "val_iter yields no batches"),
    ({"train_iter": []}, ValueError, "train_iter yields no batches"),
    ({"train_iter": iter([(torch.zeros(2, 12), torch.zeros(2, dtype=torch.long))])}, TypeError,
     "train_iter must yield .* once per epoch.*an iterator, used up after one pass"),
])
def test_fit_checks_its_arguments_before_training(kwargs, error, match):
    torch.manual_seed(0)
    net = MLP((12, 8, 3))
    train_iter, val_iter = loaders()
    args = {"net": net, "train_iter": train_iter, "val_iter": val_iter, "loss": nn.CrossEntropyLoss(),
            "num_epochs": 3, "optimizer": torch.optim.SGD(net.parameters(), lr=0.1),
            "monitor": TrainingMonitor(mode="silent")}
    args.update(kwargs)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(error, match=match):
        fit(**args)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # nothing was trained


def test_fit_stops_a_run_that_diverges_naming_the_learning_rate():
    """At lr 100 (momentum 0.9) the stable loss reaches 1e30 but stays finite: fit stops after the first epoch, not
    choosing a "best" epoch among diverged ones."""
    monitor = TrainingMonitor(mode="silent")
    with pytest.raises(FloatingPointError, match=r"training diverged: the mean training loss of epoch 1 .*lower it "
                                                 r"\(lr=100 now; try lr=10, 10 times smaller\)"):
        run_fit(num_epochs=12, lr=100, monitor=monitor)
    assert monitor.history == []
