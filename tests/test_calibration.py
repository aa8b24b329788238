"""book.calibration: reliability bins, the expected calibration error, temperature scaling, clear errors.

Sampling tolerances: a calibrated predictor's bin b shows a gap |accuracy − confidence| of about
sqrt(c_b (1 − c_b) / n_b) <= 1 / (2 sqrt(n_b)), so its ECE = Σ_b (n_b / n) |gap_b| is at most about
Σ_b sqrt(n_b) / (2 n) <= sqrt(B / n) / 2 for B bins (Cauchy–Schwarz). The tests allow twice that.
"""

import math

import pytest
import torch

from book.calibration import (ReliabilityBins, confidence_and_correct, expected_calibration_error,
                              fit_temperature, plot_reliability, reliability_bins, temperature_nll)

Q = 10


def synthetic(n, accuracy_of, seed=0, low=0.1):
    """Predictions with confidence c ~ U(low, 1) on a random class, the rest spread evenly over the other
    classes; the label is the predicted class with probability accuracy_of(c), otherwise another class."""
    g = torch.Generator().manual_seed(seed)
    confidence = low + (1 - low) * torch.rand(n, generator=g, dtype=torch.float64)
    predicted = torch.randint(0, Q, (n,), generator=g)
    probs = ((1 - confidence) / (Q - 1))[:, None].repeat(1, Q)
    probs[torch.arange(n), predicted] = confidence
    right = torch.rand(n, generator=g, dtype=torch.float64) < accuracy_of(confidence)
    other = (predicted + torch.randint(1, Q, (n,), generator=g)) % Q  # any class but the predicted one
    labels = torch.where(right, predicted, other)
    return probs, labels


def sampling_bound(n_bins, n):
    return math.sqrt(n_bins / n) / 2


def test_a_calibrated_predictor_has_ece_near_zero():
    n, n_bins = 200_000, 15
    probs, labels = synthetic(n, lambda c: c)
    ece = expected_calibration_error(probs, labels, n_bins)
    assert 0 <= ece < 2 * sampling_bound(n_bins, n)
    bins = reliability_bins(probs, labels, n_bins)
    filled = bins.count > 0
    se = (bins.confidence * (1 - bins.confidence) / bins.count.clamp(min=1)).sqrt()
    assert (bins.gap[filled].abs() < 5 * se[filled]).all()  # every bin within 5 standard errors


def test_a_predictor_over_confident_by_a_tenth_has_ece_a_tenth():
    n, n_bins = 200_000, 10
    probs, labels = synthetic(n, lambda c: c - 0.1, low=0.3)
    ece = expected_calibration_error(probs, labels, n_bins)
    assert abs(ece - 0.1) < 2 * sampling_bound(n_bins, n)
    bins = reliability_bins(probs, labels, n_bins)
    assert (bins.gap[bins.count > 0] < 0).all()  # over-confident in every bin


def test_ece_equals_the_analytic_value_on_a_constructed_predictor():
    # 1,000 predictions at confidence 0.9 of which 600 are right (gap 0.3), and 1,000 at confidence 0.55 of
    # which 550 are right (gap 0): ECE = 0.5 * 0.3 + 0.5 * 0 = 0.15 exactly.
    sure = torch.tensor([0.9, 0.1] + [0.0] * (Q - 2), dtype=torch.float64).repeat(1000, 1)
    unsure = torch.tensor([0.55, 0.45] + [0.0] * (Q - 2), dtype=torch.float64).repeat(1000, 1)
    probs = torch.cat([sure, unsure])
    labels = torch.cat([torch.tensor([0] * 600 + [1] * 400), torch.tensor([0] * 550 + [1] * 450)])
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.15, abs=1e-12)
    bins = reliability_bins(probs, labels, n_bins=10)
    assert bins.count.tolist() == [0, 0, 0, 0, 0, 1000, 0, 0, 1000, 0]  # 0.55 in (0.5, 0.6], 0.9 in (0.8, 0.9]
    assert bins.accuracy[8].item() == pytest.approx(0.6) and bins.confidence[8].item() == pytest.approx(0.9)
    assert torch.isnan(bins.accuracy[0]) and torch.isnan(bins.confidence[0])  # empty bins are NaN, not 0


def test_bins_are_closed_on_the_right_and_cover_zero_to_one():
    probs = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.75, 0.25], [0.5000001, 0.4999999]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 0])
    bins = reliability_bins(probs, labels, n_bins=4)
    assert torch.allclose(bins.edges, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64))
    # 0.5 -> (0.25, 0.5]; 0.75 -> (0.5, 0.75]; 0.5000001 -> (0.5, 0.75]; 1.0 -> (0.75, 1]
    assert bins.count.tolist() == [0, 1, 2, 1]
    assert bins.n == 4 and int(bins.count.sum()) == 4
    assert bins.accuracy[2].item() == pytest.approx(0.5)  # one of the two in (0.5, 0.75] is right


def test_confidence_and_correct_read_the_argmax():
    probs = torch.softmax(torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 0.0]]), dim=1)
    confidence, correct = confidence_and_correct(probs, torch.tensor([0, 2]))
    assert torch.allclose(confidence, probs.max(dim=1).values.double())
    assert correct.tolist() == [True, False]


def test_ece_is_the_same_for_float32_inputs_from_softmax():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5000, Q, generator=g) * 2
    labels = torch.randint(0, Q, (5000,), generator=g)
    e32 = expected_calibration_error(torch.softmax(logits, 1), labels)
    e64 = expected_calibration_error(torch.softmax(logits.double(), 1), labels)
    assert e32 == pytest.approx(e64, abs=1e-6)


def logits_with_known_temperature(temperature, n=20_000, seed=0):
    """Logits o and labels drawn from softmax(o / temperature): the best temperature for o is ``temperature``."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, Q, generator=g, dtype=torch.float64) * 3
    labels = torch.multinomial(torch.softmax(logits / temperature, 1), 1, generator=g).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    logits, labels = logits_with_known_temperature(true_t)
    t = fit_temperature(logits, labels)
    # the fitted T varies by about 1 % of T from sample to sample at n = 20,000 (0.0235 for T = 2.5 over 20
    # seeds); 4 % is a margin of about four standard deviations
    assert t == pytest.approx(true_t, rel=0.04)
    nll = temperature_nll(logits, labels, t)
    assert nll <= temperature_nll(logits, labels, t * 1.02) and nll <= temperature_nll(logits, labels, t / 1.02)


def test_fitted_temperature_scales_with_the_logits_and_improves_calibration():
    logits, labels = logits_with_known_temperature(2.5, seed=3)
    t = fit_temperature(logits, labels)
    assert fit_temperature(3 * logits, labels) == pytest.approx(3 * t, rel=1e-5)
    before = expected_calibration_error(torch.softmax(logits, 1), labels)
    after = expected_calibration_error(torch.softmax(logits / t, 1), labels)
    assert before > 0.1 and after < 2 * sampling_bound(15, len(labels))
    # temperature scaling never changes a prediction
    assert torch.equal(logits.argmax(1), (logits / t).argmax(1))


def test_fit_temperature_accepts_float32_logits_on_any_device():
    logits, labels = logits_with_known_temperature(2.0, seed=4)
    assert fit_temperature(logits.float(), labels) == pytest.approx(fit_temperature(logits, labels), rel=1e-4)


def test_fit_temperature_refuses_when_no_finite_temperature_is_best():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [4.0, 1.0]])
    with pytest.raises(ValueError, match="every prediction right"):
        fit_temperature(logits, torch.tensor([0, 1, 0]))  # all right: the NLL falls as T -> 0
    with pytest.raises(ValueError, match="no better than uniform"):
        fit_temperature(logits, torch.tensor([1, 0, 1]))  # all wrong: the NLL falls as T -> infinity


@pytest.mark.parametrize("probs, labels, match", [
    (torch.tensor([[2.0, -1.0], [0.5, 0.5]]), torch.tensor([0, 1]), "look like logits"),
    (torch.tensor([[0.2, 0.2], [0.5, 0.5]]), torch.tensor([0, 1]), "sum to 1"),
    (torch.tensor([0.5, 0.5]), torch.tensor([0]), r"shape \(n, q\)"),
    (torch.tensor([[1.0]]), torch.tensor([0]), "q >= 2"),
    (torch.tensor([[0.5, 0.5], [float("nan"), 1.0]]), torch.tensor([0, 1]), "NaN"),
    (torch.tensor([[0.5, 0.5]]), torch.tensor([2]), r"0\.\.1"),
    (torch.tensor([[0.5, 0.5]]), torch.tensor([0, 1]), "one class index per row"),
])
def test_bad_probabilities_or_labels_give_clear_errors(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(probs, labels)


def test_bad_types_give_clear_errors():
    probs = torch.tensor([[0.5, 0.5]])
    with pytest.raises(TypeError, match="integer class indices"):
        expected_calibration_error(probs, torch.tensor([0.0]))
    with pytest.raises(TypeError, match="tensor of class indices"):
        expected_calibration_error(probs, [0])
    with pytest.raises(TypeError, match="floating point"):
        expected_calibration_error(torch.tensor([[1, 0]]), torch.tensor([0]))
    for n_bins in (0, 2.5, True, "15"):
        with pytest.raises(ValueError, match="n_bins"):
            reliability_bins(probs, torch.tensor([0]), n_bins)
    logits, labels = logits_with_known_temperature(1.0, n=100)
    for kwargs in ({"t_min": 0}, {"t_min": 5, "t_max": 2}, {"tol": -1}):
        with pytest.raises(ValueError, match="t_m|tol"):
            fit_temperature(logits, labels, **kwargs)
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        temperature_nll(logits, labels, 0)


def test_reliability_diagram_draws_one_bar_and_one_gap_per_filled_bin():
    probs, labels = synthetic(2000, lambda c: c - 0.1, low=0.3)
    bins = reliability_bins(probs, labels, n_bins=10)
    assert isinstance(bins, ReliabilityBins)
    ax = plot_reliability(bins)
    filled = bins.count > 0
    assert len(ax.patches) == 2 * int(filled.sum())
    assert ax.get_title() == f"ECE {100 * bins.ece():.2f} %"
    n = int(filled.sum())
    bars, gaps = ax.patches[:n], ax.patches[n:]
    assert [b.get_height() for b in bars] == pytest.approx(bins.accuracy[filled].tolist())
    # each gap box runs from the bin's accuracy to its mean confidence
    for gap, acc, conf in zip(gaps, bins.accuracy[filled].tolist(), bins.confidence[filled].tolist()):
        assert gap.get_y() == pytest.approx(acc) and gap.get_y() + gap.get_height() == pytest.approx(conf)
    share_ax = [a for a in ax.figure.axes if a is not ax][0]
    assert [b.get_height() for b in share_ax.patches] == pytest.approx(bins.share[filled].tolist())
    assert len(plot_reliability(bins, show_share=False).figure.axes) == 1
