"""An Otto-style tabular data set whose best possible log loss is known exactly.

    >>> from book.otto import load_otto
    >>> otto = load_otto()                         # 61,878 training rows, 20,000 held-out test rows
    >>> otto.train_features.shape, otto.train_features.dtype
    (torch.Size([61878, 93]), torch.int64)
    >>> otto.classes[otto.train_labels[0]], otto.feature_names[:2]
    ('Class_9', ('feat_1', 'feat_2'))
    >>> otto.bayes_log_loss("test")                # the Bayes-optimal log loss of this very split
    0.4022...

Kaggle's Otto Group Product Classification Challenge (2015) asked for the category of 61,878 products from 93
anonymous count features, scored by multi-class log loss. Its data cannot be shipped (the competition's rules),
so the course generates its own, with the same shape: ``feat_1 ... feat_93`` non-negative integer counts, mostly
zeros with heavy right tails, nine classes ``Class_1 ... Class_9`` in Otto's shares (3.1 / 26.1 / 12.9 / 4.3 /
4.4 / 22.8 / 4.6 / 13.7 / 8.0 %), and a few groups of classes that are easy to confuse (Class_2/3/4 above all).

**The generative model** (the constants are the fields of :class:`Settings`; the parameters are drawn once,
from the fixed seed ``MODEL_SEED``):

1. every feature ``j`` has a *shape* ``r_j`` (small = bursty: mostly zeros, now and then a large count) and a
   small *background* mean, the count it has in products that do not really use it;
2. every class has a *signature*: 15 features it uses, with larger mean counts. Class_3 and Class_4 have noisy
   copies of Class_2's signature, Class_9 one of Class_1's, Class_7 and Class_8 of Class_6's;
3. every class is a mixture of 8 *sub-types* (mixture components), like the sub-categories of a product range:
   each perturbs the class's mean counts, uses a few extra features of its own, borrows a few signature
   features of another class, and has its own overall intensity;
4. a fixed share of each confusable class's products is drawn from a sub-type of its partner (42% of Class_3
   looks exactly like Class_2, ...): no model can tell those apart, which sets the floor of the loss;
5. given the sub-type ``c``, the 93 counts are independent negative-binomial (gamma-Poisson) draws with mean
   ``mu[c, j]`` and shape ``r_j``.

Because of 5, the class posterior is exact and cheap:

    p(k | x) = prior[k] * sum_c weights[k, c] * prod_j NB(x_j; mu[c, j], r_j) / p(x),

computed in log space (``lgamma``, ``logsumexp``). The Bayes-optimal log loss of a split is then the mean of
``-log p(y | x)`` over its rows -- computed, not estimated. No model, however good, can beat it on average.

**Label shift.** ``load_otto(test_priors=q)`` draws the test rows with other class shares ``q`` (the training
rows keep Otto's): each class's products look exactly as before (the same ``p(x | k)``), only how many of each
class arrive changes. The exact posterior of those rows is the same model with prior ``q``
(:meth:`OttoModel.with_prior`), so the Bayes floor under shift is exact too. A model trained on the old shares
``p`` is moved to the new ones by Bayes' rule, ``p'(k | x) ∝ p(k | x) q(k) / p(k)`` (:func:`correct_priors`);
when ``q`` is unknown, :func:`estimate_priors` estimates it from the unlabelled test rows by EM (Saerens,
Latinne and Decaestecker, "Adjusting the outputs of a classifier to new a priori probabilities: a simple
procedure", Neural Computation 14(1), 2002).

``python -m book.otto ladder`` trains the baselines and prints the ladder: prior, softmax regression, MLP, Bayes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from book.kaggle import CLASSES, FEATURES, log_loss

# Otto's class shares, in percent as published (they sum to 99.9 through rounding; normalised below).
OTTO_PERCENT = (3.1, 26.1, 12.9, 4.3, 4.4, 22.8, 4.6, 13.7, 8.0)
OTTO_SHARES = tuple(p / sum(OTTO_PERCENT) for p in OTTO_PERCENT)
TRAIN_SIZE = 61_878  # Otto's training set
TEST_SIZE = 20_000  # held out, labels kept for scoring (Otto's own test labels were never published)
MODEL_SEED = 2  # draws the model's parameters: change it and you get another (differently hard) problem
DATA_SEED = 0  # draws the rows


@dataclass(frozen=True)
class Settings:
    """The constants of the generative model (see the module docstring), chosen so that the baselines land where
    they did on Kaggle: class prior 1.95, softmax regression about 0.64, a tuned MLP about 0.48, optimum 0.40."""

    num_features: int = 93
    shape_range: tuple[float, float] = (0.15, 0.6)  # NB shape r_j, uniform in this range
    background_mean: float = 0.1  # median mean count of an unused feature...
    background_spread: float = 0.7  # ...and the standard deviation of its log across features
    signature_size: int = 15  # features a class uses
    active_mean: float = 1.5  # median mean count of a used feature...
    active_spread: float = 0.8  # ...and the standard deviation of its log
    # (leader, followers, noise): the followers' signatures are the leader's log-means plus N(0, noise^2)
    confusable: tuple = (("Class_2", ("Class_3", "Class_4"), 0.4),
                         ("Class_1", ("Class_9",), 0.8),
                         ("Class_6", ("Class_7", "Class_8"), 0.8))
    subtypes_per_class: int = 8
    subtype_noise: float = 0.5  # standard deviation added to every log-mean of a sub-type
    subtype_extra: int = 6  # extra features a sub-type uses
    borrowed: int = 8  # signature features a sub-type borrows from another class
    intensity_range: tuple[float, float] = (0.5, 2.0)  # a sub-type's overall factor on its means
    weight_concentration: float = 2.0  # Dirichlet concentration of the sub-type weights within a class
    # (class, partner, share): that share of the class's rows is drawn from the partner's sub-types
    crossover: tuple = (("Class_3", "Class_2", 0.42), ("Class_4", "Class_2", 0.36), ("Class_2", "Class_3", 0.12),
                        ("Class_1", "Class_9", 0.18), ("Class_9", "Class_1", 0.06),
                        ("Class_7", "Class_6", 0.12), ("Class_8", "Class_6", 0.06))


@dataclass(frozen=True)
class OttoModel:
    """A mixture of negative-binomial count vectors: sampling, and the exact class posterior.

    ``prior`` (K,): class probabilities. ``weights`` (K, C): row k is class k's mixture over the C components
    (rows sum to 1; a component may serve several classes). ``means`` (C, D) and ``shape`` (D,): given component
    c, feature j is NB with mean ``means[c, j]`` and shape ``shape[j]``, independently of the other features.
    All float64.
    """

    prior: torch.Tensor
    weights: torch.Tensor
    means: torch.Tensor
    shape: torch.Tensor

    def __post_init__(self):
        k, c, d = len(self.prior), len(self.means), len(self.shape)
        for name, tensor, expected in (("prior", self.prior, (k,)), ("weights", self.weights, (k, c)),
                                       ("means", self.means, (c, d)), ("shape", self.shape, (d,))):
            if tuple(tensor.shape) != expected or tensor.dtype != torch.float64:
                raise ValueError(f"{name}: expected float64 of shape {expected}, got {tensor.dtype} "
                                 f"{tuple(tensor.shape)}")
            if not torch.isfinite(tensor).all() or (tensor < 0).any():
                raise ValueError(f"{name}: every entry must be finite and >= 0")
        if (self.means <= 0).any() or (self.shape <= 0).any():
            raise ValueError("means and shape must be > 0")
        for name, p in (("prior", self.prior), ("each row of weights", self.weights)):
            if not torch.allclose(p.sum(-1), torch.ones(()).double(), atol=1e-9):
                raise ValueError(f"{name} must sum to 1")

    @property
    def num_classes(self) -> int:
        return len(self.prior)

    def with_prior(self, prior) -> "OttoModel":
        """The same classes -- the same ``p(x | k)`` -- in other shares: the model of data under label shift.

        ``prior``: one share per class (a sequence or tensor), non-negative, summing to 1.
        """
        return dataclasses.replace(self, prior=_check_prior(prior, self.num_classes, "prior"))

    @property
    def num_features(self) -> int:
        return len(self.shape)

    def sample(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` rows: counts int64 (n, D) and labels int64 (n,); the same seed gives the same rows."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        rng = np.random.default_rng(seed)
        labels = rng.choice(self.num_classes, size=n, p=self.prior.numpy())
        components = np.empty(n, dtype=np.int64)
        for k in range(self.num_classes):
            rows = np.flatnonzero(labels == k)
            components[rows] = rng.choice(len(self.means), size=len(rows), p=self.weights[k].numpy())
        shape, means = self.shape.numpy(), self.means.numpy()[components]
        # gamma-Poisson: a gamma-distributed rate with mean mu and shape r, then a Poisson count at that rate
        counts = rng.poisson(rng.gamma(shape, means / shape))
        return torch.from_numpy(counts.astype(np.int64)), torch.from_numpy(labels.astype(np.int64))

    def log_likelihood(self, features: torch.Tensor) -> torch.Tensor:
        """``log p(x | component c)`` for every row and component, (N, C) float64: the sum over features of

        ``lgamma(x + r) - lgamma(r) - lgamma(x + 1) + r log(r / (r + mu)) + x log(mu / (r + mu))``.
        """
        x = _check_counts(features, self.num_features).double()
        r, mu = self.shape, self.means
        per_row = (torch.lgamma(x + r) - torch.lgamma(r) - torch.lgamma(x + 1)).sum(1, keepdim=True)
        return x @ torch.log(mu / (mu + r)).T + (r * torch.log(r / (r + mu))).sum(1) + per_row

    def log_joint(self, features: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """``log p(x, k) = log prior[k] + logsumexp_c(log weights[k, c] + log p(x | c))``, (N, K) float64."""
        log_weights = torch.log(self.weights)  # log 0 = -inf: components a class never uses drop out
        out = []
        for start in range(0, len(features), chunk):
            ll = self.log_likelihood(features[start:start + chunk])
            out.append(torch.logsumexp(ll[:, None, :] + log_weights[None], dim=2))
        return torch.cat(out) + torch.log(self.prior)

    def log_posterior(self, features: torch.Tensor) -> torch.Tensor:
        """``log p(k | x)`` for every row, (N, K) float64: exact, up to floating-point rounding."""
        joint = self.log_joint(features)
        return joint - torch.logsumexp(joint, dim=1, keepdim=True)

    def posterior(self, features: torch.Tensor) -> torch.Tensor:
        """The Bayes-optimal prediction ``p(k | x)``, (N, K) float64; rows sum to 1."""
        return self.log_posterior(features).exp()

    def bayes_log_loss(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        """The log loss of the exact posterior on these rows: the best any model can do here, on average."""
        labels = torch.as_tensor(labels)
        if labels.shape != (len(features),):
            raise ValueError(f"expected one label per row ({len(features)},), got shape {tuple(labels.shape)}")
        return -self.log_posterior(features).gather(1, labels.long().unsqueeze(1)).mean().item()

    def expected_log_loss(self, features: torch.Tensor) -> float:
        """The mean entropy of the posterior, ``-sum_k p(k|x) log p(k|x)``, over these rows: the Bayes log loss
        expected for them *without looking at their labels*. Equal to :meth:`bayes_log_loss` on average only
        if the posterior is right -- which makes it a check of the posterior."""
        lp = self.log_posterior(features)
        return -(lp.exp() * lp).sum(1).mean().item()


def _check_counts(features: torch.Tensor, num_features: int) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"expected a tensor of counts, got {type(features).__name__}")
    if features.dim() != 2 or features.shape[1] != num_features:
        raise ValueError(f"expected counts of shape (N, {num_features}), got {tuple(features.shape)}")
    if features.is_floating_point() and not torch.equal(features, features.round()):
        raise ValueError("expected integer counts, got fractions: pass the raw counts, not transformed features")
    if len(features) and features.min() < 0:
        raise ValueError("expected non-negative counts")
    return features


def make_model(settings: Settings = Settings(), seed: int = MODEL_SEED) -> OttoModel:
    """Draw the parameters of the generative model (see the module docstring) from ``seed``."""
    s = settings
    rng = np.random.default_rng(seed)
    index = {name: k for k, name in enumerate(CLASSES)}
    d, num_classes = s.num_features, len(CLASSES)
    shape = rng.uniform(*s.shape_range, size=d)
    log_background = rng.normal(math.log(s.background_mean), s.background_spread, size=d)

    signature_features, signature = [], []  # per class: the features it uses, and its log-means
    for _ in range(num_classes):
        used = rng.choice(d, size=s.signature_size, replace=False)
        log_means = log_background.copy()
        log_means[used] = rng.normal(math.log(s.active_mean), s.active_spread, size=len(used))
        signature_features.append(used)
        signature.append(log_means)
    for leader, followers, noise in s.confusable:
        for follower in followers:
            signature[index[follower]] = signature[index[leader]] + rng.normal(0, noise, size=d)
            signature_features[index[follower]] = signature_features[index[leader]]

    means, weights = [], np.zeros((num_classes, num_classes * s.subtypes_per_class))
    for k in range(num_classes):
        weights[k, k * s.subtypes_per_class:(k + 1) * s.subtypes_per_class] = rng.dirichlet(
            np.full(s.subtypes_per_class, s.weight_concentration))
        for _ in range(s.subtypes_per_class):
            log_means = signature[k] + rng.normal(0, s.subtype_noise, size=d)
            extra = rng.choice(d, size=s.subtype_extra, replace=False)
            log_means[extra] = np.maximum(log_means[extra], rng.normal(math.log(s.active_mean), s.active_spread,
                                                                       size=len(extra)))
            other = rng.choice([j for j in range(num_classes) if j != k])
            borrowed = rng.choice(signature_features[other], size=s.borrowed, replace=False)
            log_means[borrowed] = np.maximum(log_means[borrowed], signature[other][borrowed])
            log_means += math.log(rng.uniform(*s.intensity_range))
            means.append(np.exp(log_means))
    own = weights.copy()
    for name, partner, share in s.crossover:
        k, j = index[name], index[partner]
        weights[k] = (1 - share) * weights[k] + share * own[j]
    return OttoModel(prior=torch.tensor(OTTO_SHARES, dtype=torch.float64), weights=torch.from_numpy(weights),
                     means=torch.from_numpy(np.stack(means)), shape=torch.from_numpy(shape))


@dataclass(frozen=True)
class OttoData:
    """A generated Otto-style data set: counts int64 (N, 93), labels int64 in 0..8, ids int64 from 1 (like
    Kaggle's files), the class and feature names, and the model that generated it (for the exact optimum).

    ``model`` generated the training rows; ``test_model`` the test rows when they were drawn with other class
    shares (label shift, ``load_otto(test_priors=...)``), else it is None and ``model`` generated both.
    """

    train_features: torch.Tensor
    train_labels: torch.Tensor
    test_features: torch.Tensor
    test_labels: torch.Tensor
    model: OttoModel = field(repr=False)
    seed: int = DATA_SEED
    classes: tuple[str, ...] = CLASSES
    feature_names: tuple[str, ...] = FEATURES
    test_model: OttoModel | None = field(default=None, repr=False)

    @property
    def train_ids(self) -> torch.Tensor:
        return torch.arange(1, len(self.train_labels) + 1)

    @property
    def test_ids(self) -> torch.Tensor:
        return torch.arange(1, len(self.test_labels) + 1)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {name!r}")
        return getattr(self, f"{name}_features"), getattr(self, f"{name}_labels")

    def model_of(self, split: str) -> OttoModel:
        """The model that generated the split's rows: the test split's own under label shift."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return self.test_model if split == "test" and self.test_model is not None else self.model

    @property
    def train_prior(self) -> torch.Tensor:
        """The class probabilities the training rows were drawn with, float64 (9,)."""
        return self.model.prior

    @property
    def test_prior(self) -> torch.Tensor:
        """The class probabilities the test rows were drawn with: the training ones unless shifted."""
        return self.model_of("test").prior

    def bayes_log_loss(self, split: str = "test") -> float:
        """The exact Bayes-optimal log loss of the split: no model can beat it on average. Under label shift,
        the test split's floor is that of the posterior under the test split's own class shares."""
        return self.model_of(split).bayes_log_loss(*self.split(split))

    def bayes_posterior(self, split: str = "test") -> torch.Tensor:
        """The exact ``p(k | x)`` of every row of the split (under its own class shares), (N, 9) float64."""
        return self.model_of(split).posterior(self.split(split)[0])

    def __repr__(self) -> str:
        shift = ", test rows in other class shares" if self.test_model is not None else ""
        return (f"OttoData({len(self.train_labels):,} train / {len(self.test_labels):,} test rows of "
                f"{len(self.feature_names)} counts, {len(self.classes)} classes, seed {self.seed}{shift})")


def load_otto(train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE, seed: int = DATA_SEED,
              settings: Settings = Settings(), test_priors=None) -> OttoData:
    """Generate the Otto-style data set (about a second). The same arguments always give the same rows; train and
    test rows come from separate random streams, so the test set does not change with ``train_size``.

    ``test_priors``: None (the test rows in Otto's class shares, like the training rows) or nine class shares
    (non-negative, summing to 1) to draw the test rows with -- *label shift*: the same classes, in other
    proportions. The training rows stay the same; the test rows come from the same seeded stream, drawn with
    the new shares, and ``bayes_posterior("test")`` / ``bayes_log_loss("test")`` use them, so the floor is
    exact under the shift.
    """
    model = make_model(settings)
    test_model = None if test_priors is None else model.with_prior(
        _check_prior(test_priors, model.num_classes, "test_priors"))
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    train_x, train_y = model.sample(train_size, train_seed)
    test_x, test_y = (model if test_model is None else test_model).sample(test_size, test_seed)
    return OttoData(train_x, train_y, test_x, test_y, model=model, seed=seed, test_model=test_model)


# --- label shift ---------------------------------------------------------------------------------------------

def _check_prior(prior, num_classes: int, name: str = "prior") -> torch.Tensor:
    """``prior`` as a float64 tensor of ``num_classes`` class probabilities, or ValueError saying what is wrong.

    Shares that sum to 1 within 1e-6 are renormalised exactly (so that rounded inputs such as 1/9 work).
    """
    try:
        q = torch.as_tensor(prior, dtype=torch.float64).detach().cpu().clone()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be {num_classes} class shares (a sequence or tensor of numbers), "
                         f"got {type(prior).__name__}") from None
    if q.shape != (num_classes,):
        raise ValueError(f"{name} must hold one share per class, i.e. shape ({num_classes},), "
                         f"got shape {tuple(q.shape)}")
    if not torch.isfinite(q).all() or (q < 0).any():
        raise ValueError(f"{name} must be finite shares >= 0, got {q.tolist()}")
    total = q.sum().item()
    if abs(total - 1) > 1e-6:
        raise ValueError(f"{name} must sum to 1 (they are probabilities), got a sum of {total:.6g}; "
                         f"divide them by their sum (percentages by 100)")
    return q / q.sum()


def correct_priors(probabilities: torch.Tensor, train_prior, test_prior) -> torch.Tensor:
    """Move predicted probabilities from the class shares a model was trained on to new ones (label shift).

    Bayes' rule with the same ``p(x | k)`` gives ``p'(k | x) = p(k | x) w_k / sum_j p(j | x) w_j`` with
    ``w_k = test_prior[k] / train_prior[k]``. ``probabilities``: (N, K), rows summing to 1 (softmax outputs);
    the priors: K shares each. Returns float64 (N, K), rows summing to 1. Exact for the exact posterior; for a
    trained model it is as good as the model's probabilities are calibrated.
    """
    if not isinstance(probabilities, torch.Tensor):
        raise TypeError(f"expected a tensor of probabilities (N, K), got {type(probabilities).__name__}")
    p = probabilities.detach().to("cpu", torch.float64)
    if p.dim() != 2 or p.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (N, K) with K >= 2, got shape {tuple(p.shape)}")
    k = p.shape[1]
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ValueError("expected probabilities (finite, >= 0): pass softmax outputs, not logits")
    if len(p) and not torch.allclose(p.sum(1), torch.ones(len(p), dtype=torch.float64), atol=1e-4):
        raise ValueError("each row of probabilities must sum to 1: pass softmax outputs (torch.softmax)")
    old, new = _check_prior(train_prior, k, "train_prior"), _check_prior(test_prior, k, "test_prior")
    if (old == 0).any():
        missing = torch.nonzero(old == 0).flatten().tolist()
        raise ValueError(f"train_prior gives classes {missing} a share of 0: a model that never saw a class "
                         "cannot be corrected towards it")
    weighted = p * (new / old)
    total = weighted.sum(1, keepdim=True)
    if (total == 0).any():
        row = int(torch.nonzero(total.flatten() == 0)[0])
        raise ValueError(f"row {row} gives probability 0 to every class that test_prior allows: it cannot be "
                         "moved to those shares")
    return weighted / total


def estimate_priors(probabilities: torch.Tensor, train_prior, max_iter: int = 1000,
                    tol: float = 1e-8) -> torch.Tensor:
    """Estimate the class shares of unlabelled rows from a model's predictions, by EM (Saerens et al., 2002).

    Start from ``train_prior``; then repeat: correct the predictions to the current estimate
    (:func:`correct_priors`), and take the mean corrected probability of each class as the next estimate. It
    converges to the maximum-likelihood shares of the rows, given the model. Returns float64 (K,). Raises
    ``RuntimeError`` if the estimate still moves by more than ``tol`` after ``max_iter`` rounds.
    """
    if not isinstance(probabilities, torch.Tensor):
        raise TypeError(f"expected a tensor of probabilities (N, K), got {type(probabilities).__name__}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if len(probabilities) == 0:
        raise ValueError("no rows to estimate the class shares from")
    estimate = _check_prior(train_prior, probabilities.shape[-1], "train_prior")
    for _ in range(max_iter):
        new = correct_priors(probabilities, train_prior, estimate).mean(0)
        step = (new - estimate).abs().max().item()
        estimate = new
        if step < tol:
            return estimate
    raise RuntimeError(f"EM did not converge in {max_iter} rounds (the shares still moved by {step:.2g} in the "
                       "last one); pass a larger max_iter")


# --- features and baselines ----------------------------------------------------------------------------------

def transform(counts: torch.Tensor, kind: str = "log1p") -> torch.Tensor:
    """Counts -> float32 features: ``log1p`` (log(1 + x)), ``anscombe`` (2 sqrt(x + 3/8)) or ``raw``.

    Both transforms squeeze the long right tail, so that a count of 300 is not 300 times a count of 1.
    """
    x = counts.float()
    if kind == "log1p":
        return torch.log1p(x)
    if kind == "anscombe":
        return 2 * torch.sqrt(x + 3 / 8)
    if kind == "raw":
        return x
    raise ValueError(f"kind must be 'log1p', 'anscombe' or 'raw', got {kind!r}")


def standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Shift and scale every column to mean 0 and standard deviation 1 *on the training rows*, and apply the same
    shift and scale to the other tensors (statistics from test data would leak it into training)."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays 0 rather than NaN
    return [(t - mean) / std for t in (train, *others)]


def prior_log_loss(train_labels: torch.Tensor, test_labels: torch.Tensor) -> float:
    """The log loss of predicting the training set's class shares for every test row: the baseline to beat."""
    shares = torch.bincount(train_labels, minlength=len(CLASSES)).double() / len(train_labels)
    return log_loss(shares.expand(len(test_labels), -1), test_labels)


def fit_softmax_regression(X: torch.Tensor, y: torch.Tensor, weight_decay: float = 1e-4,
                           max_iter: int = 300) -> torch.nn.Linear:
    """Multinomial logistic regression fitted to convergence: full-batch L-BFGS on the mean cross-entropy plus
    ``weight_decay * ||W||^2``. The loss is convex, so this is *the* optimum, not one training run of many."""
    torch.manual_seed(0)
    model = torch.nn.Linear(X.shape[1], int(y.max()) + 1).double()
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    X, y = X.double(), y.long()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y) + weight_decay * model.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return model.float()


def fit_mlp(X: torch.Tensor, y: torch.Tensor, hidden: tuple[int, ...] = (512, 256), dropout: float = 0.3,
            epochs: int = 20, lr: float = 1e-3, weight_decay: float = 1e-2, batch_size: int = 256, seed: int = 0,
            monitor=None, test: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.nn.Module:
    """The ladder's MLP recipe: ``book.mlp.MLP`` with dropout, AdamW, the learning rate annealed to 0 along a
    cosine over ``epochs``. With a ``monitor`` (and ``test``), the log losses are shown after every epoch.

    The training itself is :func:`book.train.train`, the loop of every chapter, with the cosine schedule stepped
    after each minibatch; it stops with ``book.train.TrainingDiverged`` if the run diverges."""
    from book.data import FastLoader
    from book.mlp import MLP
    from book.monitor import TrainingMonitor
    from book.train import train

    torch.manual_seed(seed)
    loader = FastLoader(X, y, batch_size=batch_size, seed=seed, device="cpu")
    net = MLP((X.shape[1], *hidden, int(y.max()) + 1), dropout=dropout)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    # the test rows are only for showing: without a monitor nobody would see them
    shown = test is not None and monitor is not None
    test_iter = FastLoader(*test, batch_size=4096, shuffle=False, device="cpu") if shown else None
    train(net, loader, test_iter, torch.nn.CrossEntropyLoss(), epochs, optimizer,
          monitor=monitor if monitor is not None else TrainingMonitor(mode="silent"), scheduler=schedule)
    return net.eval()


def predict_proba(model: torch.nn.Module, X: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Class probabilities (softmax of the logits) for every row, without a graph, the model in eval mode."""
    model.eval()
    with torch.no_grad():
        return torch.cat([torch.softmax(model(X[i:i + batch_size]), dim=1) for i in range(0, len(X), batch_size)])


def ladder(data: OttoData | None = None, transform_kind: str = "log1p", mlp_epochs: int = 20,
           verbose: bool = True) -> list[dict]:
    """Train the baselines and measure every rung on the test split: class prior, softmax regression, MLP, Bayes.

    Returns one dict per rung: name, test log loss (Kaggle's metric), test accuracy, seconds.
    """
    data = data if data is not None else load_otto()
    Xtr, Xte = standardise(transform(data.train_features, transform_kind), transform(data.test_features,
                                                                                     transform_kind))
    ytr, yte = data.train_labels, data.test_labels
    rows = []

    def rung(name, probabilities, seconds):
        rows.append({"name": name, "log_loss": log_loss(probabilities, yte),
                     "accuracy": (probabilities.argmax(1) == yte).double().mean().item(), "seconds": seconds})
        if verbose:
            print(f"  {name:40s} {rows[-1]['log_loss']:.4f}", flush=True)

    start = time.perf_counter()
    shares = torch.bincount(ytr, minlength=len(CLASSES)).double() / len(ytr)
    rung("class prior (training shares)", shares.expand(len(yte), -1), time.perf_counter() - start)
    start = time.perf_counter()
    softmax = fit_softmax_regression(Xtr, ytr)
    rung(f"softmax regression ({transform_kind}, standardised)", predict_proba(softmax, Xte),
         time.perf_counter() - start)
    start = time.perf_counter()
    mlp = fit_mlp(Xtr, ytr, epochs=mlp_epochs)
    rung("MLP 93-512-256-9 (dropout 0.3, AdamW)", predict_proba(mlp, Xte), time.perf_counter() - start)
    start = time.perf_counter()
    rung("Bayes-optimal (exact posterior)", data.bayes_posterior("test"), time.perf_counter() - start)
    return rows


def describe(data: OttoData) -> str:
    """Shape, class shares against Otto's, sparsity and tails of the counts."""
    x = data.train_features
    shares = torch.bincount(data.train_labels, minlength=len(CLASSES)).double() / len(data.train_labels)
    lines = [repr(data), f"{'class':8s} {'share':>7s} {'Otto':>7s}"]
    lines += [f"{name:8s} {100 * s:6.2f}% {p:6.1f}%" for name, s, p in zip(CLASSES, shares.tolist(), OTTO_PERCENT)]
    per_feature_max = x.max(0).values.double()
    lines.append(f"zeros: {(x == 0).double().mean().item():.1%} of all counts; mean count "
                 f"{x.double().mean().item():.2f}; per-feature maximum from {int(per_feature_max.min())} to "
                 f"{int(per_feature_max.max())} (median {per_feature_max.median().item():.0f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m book.otto", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", default="describe", choices=("describe", "ladder"),
                        help="describe the data (default) or train the baselines and print the ladder")
    parser.add_argument("--seed", type=int, default=DATA_SEED, help="the data seed (default %(default)s)")
    parser.add_argument("--transform", default="log1p", choices=("log1p", "anscombe", "raw"))
    parser.add_argument("--mlp-epochs", type=int, default=20)
    args = parser.parse_args(argv)
    data = load_otto(seed=args.seed)
    print(describe(data))
    if args.command == "ladder":
        print(f"\nTest log loss on {len(data.test_labels):,} held-out rows (trained on "
              f"{len(data.train_labels):,}):")
        rows = ladder(data, args.transform, args.mlp_epochs, verbose=False)
        print(f"  {'rung':44s} {'log loss':>8s} {'accuracy':>9s} {'seconds':>8s}")
        for row in rows:
            print(f"  {row['name']:44s} {row['log_loss']:8.4f} {row['accuracy']:9.2%} {row['seconds']:8.1f}")
        print(f"  expected Bayes log loss (mean posterior entropy of the test rows): "
              f"{data.model.expected_log_loss(data.test_features):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
