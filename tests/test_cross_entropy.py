"""book.cross_entropy: equal to PyTorch's, its gradient equal to autograd's, clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from book.cross_entropy import cross_entropy, cross_entropy_grad


def batch(n=32, q=5, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, q, generator=g, dtype=dtype) * 3, torch.randint(0, q, (n,), generator=g)


def test_equals_pytorch_cross_entropy():
    z, y = batch()
    assert torch.allclose(cross_entropy(z, y), F.cross_entropy(z, y), atol=1e-6)


def test_reduces_to_minus_log_of_the_true_class_probability():
    z, y = batch(4, 3)
    p = torch.softmax(z, 1)
    assert torch.allclose(cross_entropy(z, y), -torch.log(p[range(4), y]).mean(), atol=1e-6)


def test_stays_finite_for_extreme_logits():
    z, y = torch.tensor([[200.0, -200.0]]), torch.tensor([1])
    assert cross_entropy(z, y).item() == pytest.approx(400.0)


def test_gradient_is_softmax_minus_one_hot_over_n_and_equals_autograd():
    z, y = batch(16, 4, seed=3)
    z.requires_grad_(True)
    cross_entropy(z, y).backward()
    expected = (torch.softmax(z.detach(), 1) - F.one_hot(y, 4)) / 16
    assert torch.allclose(z.grad, expected, atol=1e-7)
    assert torch.allclose(cross_entropy_grad(z.detach(), y), z.grad, atol=1e-7)


def test_gradcheck_in_float64():
    z, y = batch(6, 4, seed=4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda logits: cross_entropy(logits, y), (z.requires_grad_(True),))


def test_clear_errors():
    z, y = batch(4, 3)
    with pytest.raises(ValueError, match=r"class indices in 0..2.*from 0 to 3"):
        cross_entropy(z, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels of shape \(4,\)"):
        cross_entropy(z, y[:3])
    with pytest.raises(ValueError, match="shape \\(N, q\\)"):
        cross_entropy(z[0], y[:1])
    with pytest.raises(ValueError, match=r"integer dtype \(int64\).*y\.long\(\) after checking.*0\.\.2"):
        cross_entropy(z, y.float())


# --- no silent wrong answer -------------------------------------------------------------------------------------

def test_fractional_labels_are_named_with_the_fix():
    z = torch.zeros(2, 10)
    with pytest.raises(ValueError, match=r"whole numbers 0\.\.9; got 0\.111111 \(torch\.float32\).*class indices"):
        cross_entropy(z, torch.tensor([0.0, 1.0]) / 9)
    with pytest.raises(ValueError, match="whole numbers 0..9; got nan"):
        cross_entropy(z, torch.tensor([0.0, math.nan]))


def test_integer_logits_are_exact():
    # on the code before, the logits were cast to float32 first: 2**30 + 1 and 2**30 tied, loss log 2 not 0.313
    z, y = torch.tensor([[0, 2 ** 30 + 1, 2 ** 30]]), torch.tensor([1])
    assert cross_entropy(z, y).item() == pytest.approx(math.log1p(math.exp(-1)), rel=1e-6)
    e = math.exp(-1)
    assert torch.allclose(cross_entropy_grad(z, y), torch.tensor([[0.0, 1 / (1 + e) - 1, e / (1 + e)]]), atol=1e-7)
    small = torch.tensor([[1, 2, 3], [0, 0, 5]])
    assert torch.allclose(cross_entropy(small, torch.tensor([0, 2])),
                          F.cross_entropy(small.float(), torch.tensor([0, 2])))


def test_labels_may_be_any_integer_dtype_and_keep_their_checks():
    z, y = batch(6, 4, seed=5)
    assert torch.allclose(cross_entropy(z, y.to(torch.uint8)), F.cross_entropy(z, y))
    assert torch.allclose(cross_entropy(z, y.tolist()), F.cross_entropy(z, y))
    with pytest.raises(ValueError, match="integer class labels"):
        cross_entropy(z, y.bool())
    with pytest.raises(ValueError, match="from -1 to"):
        cross_entropy(z, y - 1)
