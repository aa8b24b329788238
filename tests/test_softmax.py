"""book.softmax: a probability distribution, order kept, stable, row-wise, temperature limits."""

import math

import numpy
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


# --- no silent wrong answer: each of these failed on the code before it --------------------------------------

def test_integer_logits_are_exact_not_rounded_to_float32_first():
    # float32 holds 2**30 + 1 as 2**30: a cast before the shift turned the logits 1 apart into a tie
    z = torch.tensor([0, 2 ** 30 + 1, 2 ** 30])
    e = math.exp(-1)
    expected = torch.tensor([0.0, 1 / (1 + e), e / (1 + e)])
    assert torch.allclose(softmax(z), expected, rtol=1e-6, atol=0)
    assert torch.allclose(log_softmax(z)[1:], expected[1:].log(), rtol=1e-6)
    assert log_softmax(z)[0].item() == pytest.approx(-(2 ** 30 + 1) - math.log1p(e), rel=1e-7)
    # the extremes of int64: a difference beyond int64 must not wrap round to a large positive number
    extremes = torch.tensor([-2 ** 63, 2 ** 63 - 1, 2 ** 63 - 2])
    assert torch.allclose(softmax(extremes), torch.tensor([0.0, 1 / (1 + e), e / (1 + e)]), rtol=1e-6, atol=0)
    assert log_softmax(extremes)[0].item() == pytest.approx(-(2.0 ** 64), rel=1e-6)
    assert softmax([1, 2, 3]).dtype == torch.get_default_dtype()
    small = torch.tensor([1, 2, 3], dtype=torch.uint8)
    assert torch.allclose(softmax(small), torch.softmax(torch.tensor([1.0, 2.0, 3.0]), 0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("temperature", [1e-40, 1e-300, 5e-324])
def test_a_tiny_temperature_gives_the_one_hot_limit_not_nan(dtype, temperature):
    z = torch.tensor([[1.0, 3.0, 2.0, -math.inf], [0.5, -1.0, 0.5, 0.0]], dtype=dtype)
    p = softmax(z, temperature)
    assert p.dtype == dtype
    assert torch.equal(p, torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0]], dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_huge_temperature_gives_the_uniform_limit_and_keeps_minus_inf_at_zero(dtype):
    z = torch.tensor([[1.0, 3.0, 2.0, -math.inf]], dtype=dtype)
    assert torch.allclose(softmax(z, 1e300), torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0.0]], dtype=dtype))


@pytest.mark.parametrize("bad", ["2", True, [2.0], None, 2j])
def test_a_temperature_that_is_not_a_number_is_refused(bad):
    with pytest.raises(TypeError, match="temperature must be a number"):
        softmax(torch.zeros(3), bad)


def test_a_temperature_may_be_any_real_number_type():
    z = torch.tensor([2.0, 1.0, 0.1])
    expected = torch.softmax(z / 2, 0)
    for t in (2, 2.0, torch.tensor(2.0), torch.tensor([2]), numpy.float32(2)):
        assert torch.allclose(softmax(z, t), expected)


@pytest.mark.parametrize("probs, message", [
    (torch.tensor([-0.1, 1.1]), r"must be >= 0, got a smallest entry of -0\.1.*softmax\(logits\)"),
    (torch.tensor([0.3, 0.3, 0.3]), r"must sum to 1, got a sum of 0\.9.*divide by the sum"),
    (torch.tensor([[0.5, 0.5], [2.0, 3.0]]), "got a sum of 5"),
    (torch.tensor([math.inf, 0.0]), "sum to 1"),
    (torch.tensor([[2.0, -1.0]]), ">= 0"),
    (torch.empty(3, 0), "no classes"),
])
def test_entropy_refuses_what_is_no_probability_distribution(probs, message):
    with pytest.raises(ValueError, match=message):
        entropy(probs)


def test_entropy_passes_nan_rows_through_and_checks_along_dim():
    h = entropy(torch.tensor([[math.nan, 1.0], [0.5, 0.5]]))
    assert math.isnan(h[0]) and h[1].item() == pytest.approx(math.log(2))
    columns = torch.tensor([[0.25, 1.0], [0.75, 0.0]])
    assert torch.allclose(entropy(columns, dim=0), torch.tensor([entropy(torch.tensor([0.25, 0.75])).item(), 0.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(columns)  # along rows they are no distributions


def test_softmax_of_no_classes_is_empty_as_in_torch():
    for f in (softmax, log_softmax):
        out = f(torch.empty(4, 0))
        assert out.shape == (4, 0) and out.dtype == torch.float32
    assert softmax(torch.empty(0, 3)).shape == (0, 3)


def test_complex_or_boolean_logits_are_refused():
    with pytest.raises(TypeError, match="real numbers"):
        softmax(torch.tensor([1 + 1j, 0j]))
    with pytest.raises(TypeError, match="real numbers"):
        log_softmax(torch.tensor([True, False]))
