"""book.softmax: a probability distribution, order kept, stable, row-wise, temperature limits."""

import math

import pytest
import torch

from book.softmax import entropy, log_softmax, softmax


def test_rows_are_probability_distributions_with_the_argmax_kept():
    z = torch.randn(64, 10, generator=torch.Generator().manual_seed(0)) * 3
    p = softmax(z)
    assert (p >= 0).all()
    assert torch.allclose(p.sum(1), torch.ones(64))
    assert torch.equal(p.argmax(1), z.argmax(1))
    assert torch.allclose(p, torch.softmax(z, 1), atol=1e-7)


def test_any_dim_and_shift_invariance():
    z = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(softmax(z, dim=1), torch.softmax(z, 1), atol=1e-7)
    assert torch.allclose(softmax(z + 100.0, dim=1), softmax(z, dim=1), atol=1e-6)


def test_large_logits_do_not_overflow():
    z = torch.tensor([[1000.0, 999.0, -1000.0]])
    naive = z.exp() / z.exp().sum(1, keepdim=True)
    assert torch.isnan(naive).any()  # the pitfall this guards against, in float32
    p = softmax(z)
    assert torch.isfinite(p).all()
    assert p[0, 0].item() == pytest.approx(1 / (1 + math.exp(-1)))


def test_the_maximum_is_per_row_not_global():
    z = torch.tensor([[1000.0, 999.0], [0.0, 1.0]])
    global_max = (z - z.max()).exp()
    assert torch.isnan(global_max / global_max.sum(1, keepdim=True)).any()  # row 2 underflows to 0/0
    p = softmax(z)
    assert torch.allclose(p[1], torch.softmax(torch.tensor([0.0, 1.0]), 0))


def test_temperature_limits():
    z = torch.tensor([2.0, 1.0, 0.1, -1.0])
    hot = softmax(z, temperature=1000.0)
    cold = softmax(z, temperature=0.01)
    assert torch.allclose(hot, torch.full((4,), 0.25), atol=1e-3)
    assert torch.allclose(cold, torch.tensor([1.0, 0.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(softmax(z, 2.0), torch.softmax(z / 2, 0))
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a positive"):
            softmax(z, bad)


def test_entropy_bounds():
    assert entropy(torch.full((5,), 0.2)).item() == pytest.approx(math.log(5))
    assert entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0
    p = softmax(torch.randn(8, 6))
    assert ((entropy(p) >= 0) & (entropy(p) <= math.log(6) + 1e-6)).all()


def test_log_softmax_is_finite_where_softmax_underflows():
    z = torch.tensor([[0.0, -200.0]])
    assert torch.log(softmax(z))[0, 1].item() == -math.inf
    assert log_softmax(z)[0, 1].item() == pytest.approx(-200.0)
    z = torch.randn(4, 7, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(log_softmax(z), torch.log_softmax(z, 1), atol=1e-6)
