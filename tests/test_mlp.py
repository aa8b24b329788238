"""book.mlp: shapes, the parameter count formula, logits, saving and loading, dropout only in train mode."""

import pytest
import torch
from torch import nn

from book.mlp import DEFAULT_SIZES, MLP, count_parameters, load_state, save_state


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
