"""book.evaluation: standard errors, intervals that cover as often as they claim, splits, paired comparisons and
early stopping -- and clear errors for every kind of bad input."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from book.data import ImageDataset
from book.evaluation import (EarlyStopping, Interval, accuracy_interval, binomial_se, mcnemar_p_value,
                             paired_difference, split_loaders, validation_split, z_value)


def binomial_pmf(n: int, p: float) -> torch.Tensor:
    """P(K = k) for k = 0..n, K ~ Binomial(n, p), in float64 (log space, so large n does not overflow)."""
    k = torch.arange(n + 1, dtype=torch.float64)
    log_pmf = (math.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
               + k * math.log(p) + (n - k) * math.log1p(-p))
    return log_pmf.exp()


def exact_coverage(n: int, p: float, level: float) -> float:
    """Probability that accuracy_interval(K, n, level) contains p, summed exactly over every possible K."""
    pmf = binomial_pmf(n, p)
    likely = torch.nonzero(pmf > 1e-15).flatten().tolist()  # the other counts add less than n * 1e-15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # counts far in the tails may warn; they carry almost no probability
        return sum(pmf[k].item() for k in likely if accuracy_interval(k, n, level).contains(p))


# --- the standard error and z --------------------------------------------------------------------------------

def test_binomial_se_is_the_formula():
    assert binomial_se(0.83, 10_000) == pytest.approx(math.sqrt(0.83 * 0.17 / 10_000))
    assert 100 * binomial_se(0.83, 10_000) == pytest.approx(0.3756, abs=1e-4)  # the "0.38 points" of chapter 08
    assert binomial_se(0.0, 5) == 0.0 and binomial_se(1.0, 5) == 0.0
    assert binomial_se(0.5, 100) == pytest.approx(0.05)
    assert binomial_se(np.float64(0.5), np.int64(100)) == pytest.approx(0.05)


@given(p=st.floats(0.0, 1.0), n=st.integers(1, 10 ** 9))
def test_binomial_se_properties(p, n):
    se = binomial_se(p, n)
    assert se == pytest.approx(math.sqrt(p * (1 - p) / n), rel=1e-12, abs=1e-300)
    assert 0.0 <= se <= 0.5 / math.sqrt(n) * (1 + 1e-12)  # largest at p = 1/2


@given(k=st.integers(0, 10 ** 6), n=st.integers(1, 10 ** 9))
def test_binomial_se_is_symmetric(k, n):
    p = k / 10 ** 6  # a proportion whose complement 1 - p is exact to rounding
    assert binomial_se(1 - p, n) == pytest.approx(binomial_se(p, n), rel=1e-9)


@pytest.mark.parametrize("p, n, says", [
    (0.5, 0, "positive whole number"), (0.5, -3, "positive whole number"), (0.5, 10.0, "positive whole number"),
    (0.5, True, "positive whole number"), (83, 100, "0.83, not 83"), (-0.1, 100, "between 0 and 1"),
    (float("nan"), 100, "between 0 and 1"), ("0.5", 100, "between 0 and 1"), (True, 100, "between 0 and 1"),
])
def test_binomial_se_rejects_bad_input(p, n, says):
    with pytest.raises(ValueError, match=says):
        binomial_se(p, n)


def test_z_value_is_the_normal_quantile():
    assert z_value(0.95) == pytest.approx(1.959963984540054, rel=1e-12)
    assert z_value(0.99) == pytest.approx(2.5758293035489004, rel=1e-12)
    assert z_value(0.90) == pytest.approx(1.6448536269514722, rel=1e-12)
    assert z_value() == z_value(0.95)


@pytest.mark.parametrize("level", [0, 1, 95, 1.5, -0.95, float("nan"), "0.95", True, None])
def test_unknown_levels_are_refused(level):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        z_value(level)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        accuracy_interval(8_312, 10_000, level=level)


# --- the interval --------------------------------------------------------------------------------------------

def test_interval_of_the_docstring_example():
    acc = accuracy_interval(correct=8_312, n=10_000)
    assert isinstance(acc, Interval)
    assert acc.estimate == 0.8312 and acc.n == 10_000 and acc.level == 0.95
    assert acc.se == pytest.approx(binomial_se(0.8312, 10_000))
    assert acc.high - acc.estimate == pytest.approx(acc.estimate - acc.low)
    assert acc.high - acc.low == pytest.approx(2 * 1.959963984540054 * acc.se)
    assert str(acc) == "83.12 % ± 0.73 (95 %: 82.39–83.85 %, n = 10,000)"
    assert acc.contains(0.83) and not acc.contains(0.85)


def test_interval_accepts_counts_as_torch_and_numpy_integers():
    y = torch.tensor([0, 1, 1, 2] * 25)
    pred = torch.tensor([0, 1, 2, 2] * 25)
    from_tensor = accuracy_interval((pred == y).sum(), len(y))
    assert from_tensor == accuracy_interval(75, 100)
    assert accuracy_interval(np.int64(75), np.int64(100)) == from_tensor
    assert accuracy_interval(75, torch.tensor(100)) == from_tensor


def test_interval_is_clipped_to_0_and_1():
    with pytest.warns(UserWarning, match="at least 10"):
        perfect = accuracy_interval(100, 100)
    assert perfect.low == perfect.high == 1.0
    near_one = accuracy_interval(990, 1_000)
    assert near_one.high <= 1.0 and near_one.low < near_one.estimate


@pytest.mark.parametrize("correct, n", [(5, 1_000), (995, 1_000), (0, 50), (3, 3)])
def test_interval_warns_when_the_normal_approximation_does_not_hold(correct, n):
    with pytest.warns(UserWarning, match="understates the uncertainty"):
        accuracy_interval(correct, n)


def test_interval_does_not_warn_on_ordinary_counts():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accuracy_interval(8_312, 10_000)
        accuracy_interval(10, 20)


@pytest.mark.parametrize("correct, n, error, says", [
    (8312.0, 10_000, TypeError, "whole number"),
    (0.8312, 10_000, TypeError, "whole number"),
    (torch.tensor(83.0), 100, TypeError, "integer tensor"),
    (torch.tensor([True, False]), 2, TypeError, "one-element"),
    (torch.tensor([80, 3]), 100, TypeError, "one-element"),
    (True, 1, TypeError, "whole number"),
    ("83", 100, TypeError, "whole number"),
    (83, 100.0, TypeError, "whole number"),
    (5, 0, ValueError, "positive"),
    (0, -10, ValueError, "positive"),
    (101, 100, ValueError, "between 0 and n = 100"),
    (-1, 100, ValueError, "between 0 and n = 100"),
])
def test_interval_rejects_bad_input(correct, n, error, says):
    with pytest.raises(error, match=says):
        accuracy_interval(correct, n)


@pytest.mark.parametrize("n, p", [(10_000, 0.83), (10_000, 0.5), (1_000, 0.9), (2_000, 0.97)])
@pytest.mark.parametrize("level", [0.90, 0.95, 0.99])
def test_exact_coverage_is_close_to_the_level(n, p, level):
    """Summed over every possible count, the normal interval covers p about as often as it says, when n*p and
    n*(1-p) are large (here at least 60). The Wald interval's coverage oscillates around the level; 1 point
    is a generous bound for these n."""
    assert exact_coverage(n, p, level) == pytest.approx(level, abs=0.01)


def test_coverage_by_simulation():
    """Draw many test sets' correct counts; about 95 % of their intervals contain the true accuracy.

    The fraction covered among S independent draws has standard deviation sqrt(c (1 - c) / S) around the true
    coverage c (computed exactly above); allow 4 of them, a chance of a false failure below 1e-4."""
    n, p, sims = 10_000, 0.83, 20_000
    gen = torch.Generator().manual_seed(0)
    counts = torch.binomial(torch.full((sims,), float(n)), torch.full((sims,), p), generator=gen).long()
    covered = sum(accuracy_interval(int(k), n).contains(p) for k in counts)
    c = exact_coverage(n, p, 0.95)
    tolerance = 4 * math.sqrt(c * (1 - c) / sims)
    assert covered / sims == pytest.approx(c, abs=tolerance)
    assert covered / sims == pytest.approx(0.95, abs=tolerance + 0.01)


def test_a_wrong_interval_would_fail_the_coverage_test():
    """The coverage check has teeth: an interval half as wide covers far less than 95 %."""
    n, p = 10_000, 0.83
    pmf = binomial_pmf(n, p)
    k = torch.arange(n + 1, dtype=torch.float64)
    p_hat = k / n
    half = 0.5 * 1.96 * torch.sqrt(p_hat * (1 - p_hat) / n)
    narrow = float(pmf[(p_hat - half <= p) & (p <= p_hat + half)].sum())
    assert narrow < 0.75


# --- the validation split ------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 5_000), data=st.data(), seed=st.integers(0, 2 ** 31))
def test_split_is_disjoint_covering_sorted_and_seeded(n, data, seed):
    val_size = data.draw(st.integers(1, n - 1))
    train_idx, val_idx = validation_split(n, val_size, seed)
    assert len(val_idx) == val_size and len(train_idx) == n - val_size
    assert torch.equal(torch.cat([train_idx, val_idx]).sort().values, torch.arange(n))  # disjoint and covering
    assert bool((train_idx[1:] > train_idx[:-1]).all()) and bool((val_idx[1:] > val_idx[:-1]).all())
    again = validation_split(n, val_size, seed)
    assert torch.equal(again[0], train_idx) and torch.equal(again[1], val_idx)
    assert train_idx.dtype == val_idx.dtype == torch.int64


def test_split_depends_on_the_seed_and_is_random():
    a = validation_split(60_000, 10_000, seed=0)[1]
    b = validation_split(60_000, 10_000, seed=1)[1]
    assert not torch.equal(a, b)
    assert len(set(a.tolist()) & set(b.tolist())) == pytest.approx(10_000 * 10_000 / 60_000, rel=0.1)
    # not the first or last 10,000: spread over the whole range
    assert 0.45 < a.float().mean().item() / 60_000 < 0.55


@pytest.mark.parametrize("n, val_size, seed, error, says", [
    (100, 0, 0, ValueError, "strictly between 0 and n = 100"),
    (100, 100, 0, ValueError, "strictly between"),
    (100, 150, 0, ValueError, "strictly between"),
    (100, -5, 0, ValueError, "strictly between"),
    (100, 10.0, 0, TypeError, "val_size must be a whole number"),
    (100.0, 10, 0, TypeError, "n must be a whole number"),
    (100, True, 0, TypeError, "val_size must be a whole number"),
    (100, 10, 0.5, TypeError, "seed must be a whole number"),
])
def test_split_rejects_bad_input(n, val_size, seed, error, says):
    with pytest.raises(error, match=says):
        validation_split(n, val_size, seed)


def fake_dataset(n_train=300, n_test=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(
        name="fake", classes=tuple("abc"), source=None,
        train_images=torch.randint(0, 256, (n_train, 28, 28), generator=g, dtype=torch.uint8),
        train_labels=torch.randint(0, 3, (n_train,), generator=g),
        test_images=torch.randint(0, 256, (n_test, 28, 28), generator=g, dtype=torch.uint8),
        test_labels=torch.randint(0, 3, (n_test,), generator=g))


def test_split_loaders_carve_validation_out_of_training():
    data = fake_dataset()
    splits = split_loaders(data, val_size=100, seed=3, batch_size=32, eval_batch_size=64, device="cpu")
    train_idx, val_idx = validation_split(300, 100, seed=3)
    assert torch.equal(splits.train_idx, train_idx) and torch.equal(splits.val_idx, val_idx)
    assert torch.equal(splits.val.y, data.train_labels[val_idx])
    assert torch.equal(splits.val.X, data.train_images[val_idx].unsqueeze(1).float() / 255)
    assert torch.equal(splits.train.y, data.train_labels[train_idx])
    assert torch.equal(splits.test.y, data.test_labels)
    assert splits.train.shuffle and not splits.val.shuffle and not splits.test.shuffle
    assert splits.train.batch_size == 32 and splits.val.batch_size == 64
    seen = torch.cat([y for _, y in splits.val])
    assert torch.equal(seen, data.train_labels[val_idx])  # in order, every example once


def test_split_loaders_rejects_what_is_not_a_dataset():
    with pytest.raises(TypeError, match="ImageDataset from book.data.load_dataset"):
        split_loaders((torch.zeros(10, 28, 28), torch.zeros(10)))


# --- two models on the same examples -------------------------------------------------------------------------

def outcomes(both, a_only, b_only, neither):
    a = torch.tensor([True] * both + [True] * a_only + [False] * b_only + [False] * neither)
    b = torch.tensor([True] * both + [False] * a_only + [True] * b_only + [False] * neither)
    return a, b


def test_paired_difference_by_hand():
    a, b = outcomes(both=50, a_only=30, b_only=10, neither=10)
    cmp = paired_difference(a, b)
    d = a.double() - b.double()
    assert cmp.n == 100 and cmp.a_only == 30 and cmp.b_only == 10
    assert cmp.difference == pytest.approx(a.double().mean() - b.double().mean())
    assert cmp.se == pytest.approx(d.std(unbiased=False).item() / math.sqrt(100))
    assert cmp.high - cmp.low == pytest.approx(2 * 1.959963984540054 * cmp.se)
    assert cmp.z == pytest.approx(20 / math.sqrt(40))
    assert cmp.p_value == pytest.approx(mcnemar_p_value(30, 10))
    assert "+20.00 points" in str(cmp) and "McNemar p" in str(cmp)
    reverse = paired_difference(b, a)
    assert reverse.difference == -cmp.difference and reverse.p_value == cmp.p_value


def test_paired_is_tighter_than_unpaired_when_models_agree():
    a, b = outcomes(both=8_000, a_only=150, b_only=100, neither=1_750)
    cmp = paired_difference(a, b)
    unpaired = math.hypot(binomial_se(a.float().mean().item(), 10_000), binomial_se(b.float().mean().item(), 10_000))
    assert cmp.se < unpaired / 2


def test_identical_models_do_not_differ():
    a = torch.tensor([True, False, True, True])
    cmp = paired_difference(a, a.clone())
    assert cmp.difference == 0.0 and cmp.se == 0.0 and cmp.p_value == 1.0 and cmp.z == 0.0


def test_paired_difference_accepts_0_1_integers_and_lists():
    a, b = outcomes(both=5, a_only=3, b_only=1, neither=2)
    assert paired_difference(a.long(), b.int()) == paired_difference(a, b)
    assert paired_difference(a.tolist(), b.tolist()) == paired_difference(a, b)


@pytest.mark.parametrize("a, b, error, says", [
    (torch.ones(5, dtype=torch.bool), torch.ones(4, dtype=torch.bool), ValueError, "same examples"),
    (torch.ones(0, dtype=torch.bool), torch.ones(0, dtype=torch.bool), ValueError, "non-empty 1-D"),
    (torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 3, dtype=torch.bool), ValueError, "non-empty 1-D"),
    (torch.tensor([0.9, 0.1]), torch.tensor([1, 0]), TypeError, "booleans"),
    (torch.tensor([2, 0]), torch.tensor([1, 0]), TypeError, "booleans"),
])
def test_paired_difference_rejects_bad_input(a, b, error, says):
    with pytest.raises(error, match=says):
        paired_difference(a, b)


def test_mcnemar_exact_values():
    assert mcnemar_p_value(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_p_value(1, 9) == pytest.approx(2 * (1 + 10) / 1024)  # C(10, 0) + C(10, 1)
    assert mcnemar_p_value(3, 3) == 1.0 and mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(2_000, 2_300) < 1e-4  # large counts: no overflow
    assert mcnemar_p_value(500_000, 500_000) == 1.0 and 0 < mcnemar_p_value(10 ** 6, 10 ** 6 + 3_000) < 0.05
    with pytest.raises(ValueError, match="negative"):
        mcnemar_p_value(-1, 3)


@given(a_only=st.integers(0, 300), b_only=st.integers(0, 300))
def test_mcnemar_is_a_probability_and_symmetric(a_only, b_only):
    p = mcnemar_p_value(a_only, b_only)
    assert 0.0 < p <= 1.0 and p == mcnemar_p_value(b_only, a_only)


def test_mcnemar_holds_its_level_under_the_null():
    """Under "equally accurate" the exact test rejects at most 5 % of the time (it is conservative)."""
    m = 40
    pmf = binomial_pmf(m, 0.5)
    rejected = sum(pmf[k].item() for k in range(m + 1) if mcnemar_p_value(k, m - k) <= 0.05)
    assert 0.02 < rejected <= 0.05


# --- early stopping ------------------------------------------------------------------------------------------

def test_early_stopping_keeps_the_best_epoch_and_its_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    decisions = []
    for epoch, loss in enumerate([3.0, 2.0, 2.5, 2.4, 1.0], start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)  # so each epoch's weights are recognisable
        decisions.append(stopper.step(loss, model))
        if decisions[-1]:
            break
    assert decisions == [False, False, False, True]
    assert stopper.best_epoch == 2 and stopper.best == 2.0 and stopper.epochs == 4
    assert stopper.history == [3.0, 2.0, 2.5, 2.4]
    assert model.weight[0, 0].item() == 4.0
    stopper.restore(model)
    assert torch.equal(model.weight, torch.full((1, 2), 2.0))


def test_early_stopping_state_is_a_copy():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=3)
    stopper.step(1.0, model)
    kept = stopper.best_state["weight"].clone()
    with torch.no_grad():
        model.weight.add_(5.0)
    assert torch.equal(stopper.best_state["weight"], kept)


def test_early_stopping_for_accuracy_and_min_delta():
    stopper = EarlyStopping(patience=2, mode="max", min_delta=0.01)
    assert not stopper.step(0.80)
    assert not stopper.step(0.805)  # better, but not by more than min_delta
    assert stopper.step(torch.tensor(0.809))
    assert stopper.best_epoch == 1 and stopper.should_stop


@pytest.mark.parametrize("kwargs, says", [
    (dict(patience=0), "patience"), (dict(patience=2.5), "patience"), (dict(patience=True), "patience"),
    (dict(mode="minimum"), "'min' \\(for a loss\\) or 'max'"), (dict(min_delta=-0.1), "min_delta"),
])
def test_early_stopping_rejects_bad_settings(kwargs, says):
    with pytest.raises(ValueError, match=says):
        EarlyStopping(**kwargs)


def test_early_stopping_rejects_bad_values():
    stopper = EarlyStopping()
    with pytest.raises(ValueError, match="diverged; lower the learning rate"):
        stopper.step(float("nan"))
    with pytest.raises(TypeError, match="validation number"):
        stopper.step("0.5")
    with pytest.raises(TypeError, match="nn.Module"):
        stopper.step(0.5, model={"weight": torch.zeros(1)})
    assert stopper.epochs == 0  # rejected values are not counted
    with pytest.raises(RuntimeError, match="pass the model"):
        stopper.restore(nn.Linear(2, 1))
