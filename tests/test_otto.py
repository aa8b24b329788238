"""book.otto: the generated data has Otto's shape and shares, is reproducible, and its exact posterior is right --
checked against the negative-binomial pmf, against Monte-Carlo estimates, and against trained models."""

import math

import numpy as np
import pytest
import torch

from book.kaggle import CLASSES, FEATURES, log_loss
from book.otto import (OTTO_PERCENT, TEST_SIZE, TRAIN_SIZE, OttoModel, fit_softmax_regression, ladder, load_otto,
                       main, make_model, predict_proba, prior_log_loss, standardise, transform)


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
