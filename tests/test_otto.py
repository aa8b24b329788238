"""book.otto: the generated data has Otto's shape and shares, is reproducible, and its exact posterior is right --
checked against the negative-binomial pmf, against Monte-Carlo estimates, and against trained models."""

import math

import numpy as np
import pytest
import torch

from book.kaggle import CLASSES, FEATURES, log_loss
from book.otto import (OTTO_PERCENT, OTTO_SHARES, TEST_SIZE, TRAIN_SIZE, OttoModel, correct_priors, estimate_priors,
                       fit_softmax_regression, ladder, load_otto, main, make_model, predict_proba, prior_log_loss,
                       standardise, transform)


@pytest.fixture(scope="module")
def otto():
    return load_otto()


@pytest.fixture(scope="module")
def fresh(otto):
    """200,000 new rows from the same model: the Monte-Carlo sample."""
    return otto.model.sample(200_000, seed=12345)


def test_shapes_dtypes_and_names(otto):
    assert otto.train_features.shape == (TRAIN_SIZE, 93) == (61_878, 93)
    assert otto.test_features.shape == (TEST_SIZE, 93)
    for t in (otto.train_features, otto.test_features, otto.train_labels, otto.test_labels):
        assert t.dtype == torch.int64
    assert otto.train_labels.shape == (TRAIN_SIZE,) and otto.test_labels.shape == (TEST_SIZE,)
    assert otto.feature_names == FEATURES == tuple(f"feat_{j}" for j in range(1, 94))
    assert otto.classes == CLASSES == tuple(f"Class_{i}" for i in range(1, 10))
    assert otto.train_features.min() >= 0 and otto.test_features.min() >= 0
    assert set(otto.train_labels.unique().tolist()) == set(range(9))
    assert otto.train_ids.tolist()[:3] == [1, 2, 3] and len(otto.test_ids) == TEST_SIZE


def test_class_shares_within_half_a_point_of_ottos(otto):
    target = torch.tensor(OTTO_PERCENT, dtype=torch.float64) * 100 / sum(OTTO_PERCENT)
    shares = 100 * torch.bincount(otto.train_labels, minlength=9).double() / TRAIN_SIZE
    assert (shares - target).abs().max() < 0.5, shares.tolist()
    # labels are drawn independently, so a smaller split strays further: within 3 binomial standard errors
    shares = 100 * torch.bincount(otto.test_labels, minlength=9).double() / TEST_SIZE
    standard_error = (target * (100 - target) / TEST_SIZE).sqrt()
    assert ((shares - target).abs() < 3 * standard_error).all(), shares.tolist()


def test_counts_are_mostly_zeros_with_heavy_right_tails(otto):
    x = otto.train_features.double()
    assert 0.7 < (x == 0).double().mean() < 0.9
    # heavy tails: in most features the largest count is more than 20 times the mean count
    ratio = x.max(0).values / x.mean(0)
    assert (ratio > 20).double().mean() > 0.9
    assert x.max() > 100


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(otto):
    again = load_otto()
    assert torch.equal(again.train_features, otto.train_features)
    assert torch.equal(again.test_labels, otto.test_labels)
    other = load_otto(train_size=100, test_size=100, seed=1)
    assert not torch.equal(other.train_features, otto.train_features[:100])
    # the test rows come from their own stream: a smaller training set leaves them unchanged
    small = load_otto(train_size=1000)
    assert torch.equal(small.test_features, otto.test_features)


def test_likelihood_is_the_negative_binomial_pmf(otto):
    model = otto.model
    x = otto.test_features[:50]
    mine = model.log_likelihood(x)
    r, mu = model.shape, model.means
    # torch's NegativeBinomial counts failures before total_count successes: mean = r p / (1 - p)
    nb = torch.distributions.NegativeBinomial(total_count=r, probs=mu / (mu + r))
    reference = nb.log_prob(x.double()[:, None, :]).sum(-1)
    assert torch.allclose(mine, reference, rtol=1e-9, atol=1e-8)


def test_posterior_sums_to_one_and_follows_bayes_rule(otto):
    model = otto.model
    x = otto.test_features[:200]
    post = model.posterior(x)
    assert post.shape == (200, 9) and post.dtype == torch.float64
    assert torch.allclose(post.sum(1), torch.ones(200, dtype=torch.float64), atol=1e-12)
    # Bayes' rule spelled out with probabilities, not logs: prior * sum_c w * p(x|c), normalised
    likelihood = model.log_likelihood(x)
    shift = likelihood.max(1, keepdim=True).values  # a common factor per row cancels in the ratio
    joint = model.prior * ((likelihood - shift).exp() @ model.weights.T)
    assert torch.allclose(post, joint / joint.sum(1, keepdim=True), rtol=1e-9, atol=1e-12)


def tiny_model():
    """Two classes, two features, three components (one shared): small enough to count every x."""
    return OttoModel(prior=torch.tensor([0.3, 0.7], dtype=torch.float64),
                     weights=torch.tensor([[0.6, 0.4, 0.0], [0.0, 0.5, 0.5]], dtype=torch.float64),
                     means=torch.tensor([[2.0, 0.3], [1.0, 1.0], [0.2, 1.5]], dtype=torch.float64),
                     shape=torch.tensor([0.5, 1.5], dtype=torch.float64))


def test_posterior_matches_monte_carlo_frequencies_on_a_tiny_model():
    model = tiny_model()
    x, y = model.sample(400_000, seed=7)
    values, inverse, counts = torch.unique(x, dim=0, return_inverse=True, return_counts=True)
    frequent = counts >= 2000
    empirical = torch.zeros(len(values), dtype=torch.float64).index_add_(0, inverse, (y == 1).double()) / counts
    exact = model.posterior(values)[:, 1]
    standard_error = (exact * (1 - exact) / counts).sqrt()
    z = ((empirical - exact) / standard_error)[frequent]
    assert frequent.sum() >= 10
    assert z.abs().max() < 4.5, z  # each cell: binomial noise only; no cell off by more than 4.5 standard errors


def test_exact_bayes_log_loss_agrees_with_monte_carlo(otto, fresh):
    model = otto.model
    x, y = fresh
    lp = model.log_posterior(x)
    loss = -lp.gather(1, y.unsqueeze(1)).squeeze(1)  # -log p(y|x): the labels are the random part
    entropy = -(lp.exp() * lp).sum(1)  # its expectation given x, computed without the labels
    # if the posterior is right, the two agree on average; their difference has mean zero
    diff = loss - entropy
    assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(len(diff))
    # the exact Bayes log loss of the held-out split lies within the Monte-Carlo estimate's noise
    split_loss = otto.bayes_log_loss("test")
    noise = math.sqrt(loss.var() / len(loss) + loss.var() / TEST_SIZE)
    assert abs(split_loss - loss.mean()) < 4 * noise
    assert 0.38 < split_loss < 0.42


def test_the_monte_carlo_check_catches_a_wrong_posterior(otto, fresh):
    """The same check on a model whose class weights are not the ones that made the data fails loudly."""
    model = otto.model
    used = (model.weights > 0).double()  # each class: equal weights on the components it uses
    wrong = OttoModel(prior=model.prior, weights=used / used.sum(1, keepdim=True), means=model.means, shape=model.shape)
    x, y = fresh[0][:50_000], fresh[1][:50_000]
    lp = wrong.log_posterior(x)
    diff = -lp.gather(1, y.unsqueeze(1)).squeeze(1) + (lp.exp() * lp).sum(1)
    assert abs(diff.mean()) > 6 * diff.std() / math.sqrt(len(diff))


def test_bayes_beats_trained_models_and_tempered_posteriors(otto, fresh):
    model = otto.model
    Xtr, Xte = standardise(transform(otto.train_features), transform(otto.test_features))
    softmax = fit_softmax_regression(Xtr, otto.train_labels, max_iter=100)
    trained = log_loss(predict_proba(softmax, Xte), otto.test_labels)
    assert otto.bayes_log_loss("test") < trained - 0.1
    # the log loss is a proper score: sharpening or flattening the exact posterior only makes it worse
    x, y = fresh[0][:50_000], fresh[1][:50_000]
    lp = model.log_posterior(x)
    exact = log_loss(lp.exp(), y)
    for temperature in (0.8, 0.9, 1.1, 1.25):
        assert log_loss(torch.softmax(lp / temperature, dim=1), y) > exact


# --- label shift ---------------------------------------------------------------------------------------------

UNIFORM = torch.full((9,), 1 / 9, dtype=torch.float64)
REVERSED = torch.tensor(OTTO_SHARES[::-1], dtype=torch.float64)


@pytest.fixture(scope="module")
def balanced():
    """The test rows drawn in equal class shares; the training rows as always."""
    return load_otto(test_priors=UNIFORM)


@pytest.mark.parametrize("priors", [UNIFORM, REVERSED, (0.5, 0.5, 0, 0, 0, 0, 0, 0, 0)],
                         ids=["uniform", "reversed", "two classes"])
def test_a_shifted_test_split_has_the_requested_shares_and_the_same_training_rows(priors):
    plain = load_otto(train_size=1000)
    shifted = load_otto(train_size=1000, test_priors=priors)
    q = torch.as_tensor(priors, dtype=torch.float64)
    assert torch.equal(shifted.test_prior, q / q.sum()) and torch.equal(shifted.train_prior, plain.train_prior)
    assert torch.equal(shifted.train_features, plain.train_features)
    assert torch.equal(shifted.train_labels, plain.train_labels)
    assert not torch.equal(shifted.test_labels, plain.test_labels)
    assert len(shifted.test_labels) == TEST_SIZE
    shares = torch.bincount(shifted.test_labels, minlength=9).double() / TEST_SIZE
    # labels are independent draws from q: each share within 4 binomial standard errors (0 exactly where q is 0)
    standard_error = (q * (1 - q) / TEST_SIZE).sqrt()
    assert ((shares - q).abs() <= 4 * standard_error).all(), shares.tolist()
    assert "other class shares" in repr(shifted) and "other" not in repr(plain)
    again = load_otto(train_size=1000, test_priors=priors)  # seeded: the same rows again
    assert torch.equal(again.test_features, shifted.test_features)


def test_the_bayes_floor_under_shift_is_computed_with_the_shifted_priors(otto, balanced):
    x, y = balanced.split("test")
    shifted_model = otto.model.with_prior(UNIFORM)
    assert balanced.model_of("test") is balanced.test_model and balanced.model_of("train") is balanced.model
    assert torch.equal(balanced.model.prior, otto.model.prior)  # the training rows keep Otto's shares
    new_lp, old_lp = shifted_model.log_posterior(x), otto.model.log_posterior(x)
    new = -new_lp.gather(1, y.unsqueeze(1)).squeeze(1)
    old = -old_lp.gather(1, y.unsqueeze(1)).squeeze(1)
    assert balanced.bayes_log_loss("test") == pytest.approx(new.mean().item(), rel=1e-12)
    assert torch.allclose(balanced.bayes_posterior("test"), new_lp.exp(), rtol=1e-12, atol=0)
    # the posterior of the training shares is no longer the best on these rows: it scores clearly worse...
    diff = old - new
    assert diff.mean() > 10 * diff.std() / math.sqrt(len(diff))
    # ...and only the shifted posterior passes the check that its expected loss (its entropy) matches the
    # labels' actual loss on average; the unshifted one fails it loudly
    for lp, loss, consistent in ((new_lp, new, True), (old_lp, old, False)):
        gap = loss + (lp.exp() * lp).sum(1)
        z = abs(gap.mean()) / (gap.std() / math.sqrt(len(gap)))
        assert (z < 4) if consistent else (z > 10), z


def test_correcting_the_exact_posterior_gives_the_exact_shifted_posterior(otto):
    x = otto.test_features[:2000]
    exact = otto.model.posterior(x)
    for q in (UNIFORM, REVERSED):
        corrected = correct_priors(exact, otto.model.prior, q)
        assert corrected.dtype == torch.float64
        assert torch.allclose(corrected, otto.model.with_prior(q).posterior(x), rtol=1e-9, atol=1e-12)
        back = correct_priors(corrected, q, otto.model.prior)  # and back again
        assert torch.allclose(back, exact, rtol=1e-9, atol=1e-12)
    assert torch.allclose(correct_priors(exact, otto.model.prior, otto.model.prior), exact, atol=1e-15)
    # on the tiny model too, with Bayes' rule written out in probabilities
    tiny, q = tiny_model(), torch.tensor([0.9, 0.1], dtype=torch.float64)
    values = torch.tensor([[0, 0], [3, 1], [0, 4], [7, 2]])
    likelihood = tiny.log_likelihood(values).exp() @ tiny.weights.T  # p(x | k), (4, 2)
    expected = q * likelihood / (q * likelihood).sum(1, keepdim=True)
    assert torch.allclose(correct_priors(tiny.posterior(values), tiny.prior, q), expected, atol=1e-12)


def test_em_recovers_unknown_test_shares_from_unlabelled_rows(otto, balanced):
    x, y = balanced.split("test")
    predictions = otto.model.posterior(x)  # what a perfect model of the training shares would say
    estimate = estimate_priors(predictions, otto.model.prior)
    assert estimate.shape == (9,) and estimate.sum().item() == pytest.approx(1.0, abs=1e-12)
    # close to the shares the rows were drawn with, far from the training shares it started from
    assert (estimate - UNIFORM).abs().max() < 0.02
    assert (otto.model.prior - UNIFORM).abs().max() > 0.14
    corrected = correct_priors(predictions, otto.model.prior, estimate)
    assert log_loss(corrected, y) < balanced.bayes_log_loss("test") + 0.003
    # with no shift, EM stays near the training shares
    unshifted = estimate_priors(otto.bayes_posterior("test"), otto.model.prior)
    assert (unshifted - otto.model.prior).abs().max() < 0.01


@pytest.mark.parametrize("priors, message", [
    ((0.5, 0.5), r"shape \(9,\)"),
    (OTTO_PERCENT, "sum to 1.*by 100"),
    ((-0.1, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2), ">= 0"),
    ((float("nan"),) * 9, "finite"),
    ("uniform", "class shares"),
])
def test_test_priors_are_checked(priors, message):
    with pytest.raises(ValueError, match=message):
        load_otto(train_size=10, test_size=10, test_priors=priors)


def test_prior_correction_rejects_bad_input(otto):
    p = otto.model.posterior(otto.test_features[:5])
    prior = otto.model.prior
    with pytest.raises(ValueError, match="logits"):
        correct_priors(torch.randn(5, 9), prior, UNIFORM)
    with pytest.raises(ValueError, match="sum to 1"):
        correct_priors(p * 2, prior, UNIFORM)
    with pytest.raises(ValueError, match="shape"):
        correct_priors(p, prior[:8] / prior[:8].sum(), UNIFORM[:8] * 9 / 8)
    with pytest.raises(TypeError, match="tensor"):
        correct_priors(p.tolist(), prior, UNIFORM)
    never_seen = torch.tensor([0.5, 0.5] + [0.0] * 7, dtype=torch.float64)
    with pytest.raises(ValueError, match="never saw"):
        correct_priors(p, never_seen, UNIFORM)
    certain = torch.nn.functional.one_hot(torch.tensor([4]), 9).double()
    with pytest.raises(ValueError, match="row 0"):
        correct_priors(certain, prior, never_seen)
    with pytest.raises(RuntimeError, match="max_iter"):
        estimate_priors(otto.model.posterior(load_otto(train_size=10, test_size=2000,
                                                       test_priors=UNIFORM).test_features), prior, max_iter=2)


def test_the_prior_guess_scores_the_entropy_of_the_shares(otto):
    shares = torch.tensor(OTTO_PERCENT, dtype=torch.float64) / sum(OTTO_PERCENT)
    entropy = -(shares * shares.log()).sum().item()
    assert prior_log_loss(otto.train_labels, otto.test_labels) == pytest.approx(entropy, abs=0.01)
    assert entropy == pytest.approx(1.95, abs=0.005)


def test_transforms_and_standardise():
    counts = torch.tensor([[0, 3], [8, 3], [1, 3]])
    assert torch.allclose(transform(counts, "log1p"), torch.log1p(counts.float()))
    assert torch.allclose(transform(counts, "anscombe"), 2 * torch.sqrt(counts.float() + 0.375))
    assert torch.equal(transform(counts, "raw"), counts.float())
    with pytest.raises(ValueError, match="log1p"):
        transform(counts, "sqrt")
    train, test = standardise(transform(counts), transform(torch.tensor([[8, 0]])))
    assert torch.allclose(train[:, 0].mean(), torch.tensor(0.0), atol=1e-6)
    assert train[:, 0].std().item() == pytest.approx(1.0)
    assert torch.equal(train[:, 1], torch.zeros(3))  # a constant column gives zeros, not NaN
    assert test[0, 0].item() == pytest.approx(train[1, 0].item())  # the training rows' mean and scale


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(4, 92, dtype=torch.long), r"\(N, 93\)"),
    (-torch.ones(4, 93, dtype=torch.long), "non-negative"),
    (torch.full((4, 93), 0.5), "fractions"),
    (np.zeros((4, 93)), "tensor"),
])
def test_posterior_rejects_bad_counts(otto, bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        otto.model.posterior(bad)


def test_model_checks_its_parameters():
    good = tiny_model()
    with pytest.raises(ValueError, match="sum to 1"):
        OttoModel(prior=good.prior, weights=good.weights * 2, means=good.means, shape=good.shape)
    with pytest.raises(ValueError, match="shape"):
        OttoModel(prior=good.prior, weights=good.weights, means=good.means[:, :1], shape=good.shape)
    with pytest.raises(ValueError, match="positive integer"):
        good.sample(0, seed=0)


def test_make_model_is_deterministic():
    a, b = make_model(), make_model()
    assert torch.equal(a.means, b.means) and torch.equal(a.weights, b.weights)
    assert not torch.equal(make_model(seed=1).means, a.means)


def test_ladder_orders_the_rungs_on_a_small_split():
    data = load_otto(train_size=4000, test_size=2000)
    rows = {row["name"].split(" (")[0]: row["log_loss"] for row in ladder(data, mlp_epochs=3, verbose=False)}
    assert rows["class prior"] > rows["softmax regression"] > rows["Bayes-optimal"]
    assert rows["MLP 93-512-256-9"] > rows["Bayes-optimal"]


def test_cli_describes_the_data(capsys):
    assert main(["describe"]) == 0
    out = capsys.readouterr().out
    assert "61,878 train" in out and "Class_9" in out and "zeros" in out


def small_problem(n=1200, seed=0):
    data = load_otto(train_size=n, test_size=400, seed=seed)
    X, Xt = standardise(transform(data.train_features), transform(data.test_features))
    return X, data.train_labels, Xt, data.test_labels


def test_fit_mlp_is_the_recipe_written_out():
    """fit_mlp trains through book.train.train; the same recipe as an explicit loop (AdamW, the cosine schedule
    stepped per minibatch, dropout) must end at the same weights."""
    from book.data import FastLoader
    from book.mlp import MLP
    from book.monitor import TrainingMonitor
    from book.otto import fit_mlp

    X, y, Xt, yt = small_problem()
    monitor = TrainingMonitor(mode="silent")
    net = fit_mlp(X, y, hidden=(32, 16), epochs=3, seed=1, monitor=monitor, test=(Xt, yt))
    torch.manual_seed(1)
    loader = FastLoader(X, y, batch_size=256, seed=1, device="cpu")
    by_hand = MLP((93, 32, 16, 9), dropout=0.3)
    optimizer = torch.optim.AdamW(by_hand.parameters(), lr=1e-3, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=3 * len(loader))
    for _ in range(3):
        by_hand.train()
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(by_hand(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0, abs=1e-12)  # annealed to 0 at the end
    for a, b in zip(net.parameters(), by_hand.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not net.training and [row["epoch"] for row in monitor.history] == [1, 2, 3]
    assert monitor.history[-1]["test_loss"] == pytest.approx(log_loss(predict_proba(net, Xt), yt), rel=1e-4)


def test_fit_mlp_stops_when_it_diverges():
    from book.otto import fit_mlp
    from book.train import TrainingDiverged

    X, y, _, _ = small_problem()
    with pytest.raises(TrainingDiverged, match=r"lr=1000 at the start of the schedule; try lr=100, 10 times smaller"):
        fit_mlp(X, y, hidden=(32, 16), epochs=3, lr=1e3)
