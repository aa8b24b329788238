"""Property-based tests (hypothesis) of the public numeric API and of the Otto CSV files.

softmax, log_softmax, cross_entropy, its gradient and entropy are held to torch on logits drawn anywhere in
[-1e4, 1e4], in float32 and float64 (the dtype is kept), with rows of +-inf and NaN giving what torch gives;
integer logits to an exact reference. The Otto readers give back exactly what the writers wrote, and a count
that is not plain ASCII digits is refused, never read as some number.

Derandomised, with a modest number of examples each: the same command tests the same cases, in seconds, on CI;
``COURSE_HYPOTHESIS_PROFILE=fuzz`` searches far longer, at random.
"""

import csv
import io
import math
import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from book.cross_entropy import cross_entropy, cross_entropy_grad
from book.kaggle import (CLASSES, FEATURES, OttoFormatError, load_otto_csv, read_submission, write_otto_csv,
                         write_submission)
from book.softmax import entropy, log_softmax, softmax

settings.register_profile("course", max_examples=25, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
# a longer, random search when looking for new failures: COURSE_HYPOTHESIS_PROFILE=fuzz pytest tests/test_properties.py
settings.register_profile("fuzz", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("COURSE_HYPOTHESIS_PROFILE", "course"))

DTYPES = {"float32": (np.float32, torch.float32, 32), "float64": (np.float64, torch.float64, 64)}
# the tolerances of one dtype: softmax's rows are compared entry by entry, absolute and relative
TOLERANCE = {torch.float32: dict(rtol=2e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-14)}


@st.composite
def logit_batches(draw, low=-1e4, high=1e4, non_finite=False):
    """A float tensor (n, q) of logits in [low, high] (and +-inf / NaN if asked), float32 or float64."""
    name = draw(st.sampled_from(sorted(DTYPES)))
    np_dtype, dtype, width = DTYPES[name]
    n, q = draw(st.integers(1, 6)), draw(st.integers(1, 12))
    finite = st.floats(low, high, width=width)
    elements = st.one_of(finite, st.sampled_from([math.inf, -math.inf, math.nan])) if non_finite else finite
    return torch.from_numpy(draw(arrays(np_dtype, (n, q), elements=elements))).to(dtype)


def labels_for(draw, z):
    return torch.tensor(draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z), max_size=len(z))))


def close(actual, expected, **tolerance):
    torch.testing.assert_close(actual, expected, equal_nan=True, **(tolerance or TOLERANCE[expected.dtype]))


# --- softmax and log-softmax --------------------------------------------------------------------------------

@given(logit_batches(), st.sampled_from([0, 1, -1]))
def test_softmax_equals_torch_and_keeps_the_dtype(z, dim):
    p = softmax(z, dim=dim)
    assert p.dtype == z.dtype
    close(p, torch.softmax(z, dim=dim))
    sums = p.sum(dim)
    close(sums, torch.ones_like(sums), rtol=0, atol=1e-5)


@given(logit_batches(), st.floats(1e-3, 1e3))
def test_softmax_with_a_temperature_equals_the_float64_reference(z, temperature):
    # the reference divides first (as torch.softmax(z / T) does), in float64, where that loses nothing that counts
    expected = torch.softmax(z.double() / temperature, dim=-1).to(z.dtype)
    close(softmax(z, temperature), expected, **(dict(rtol=1e-4, atol=1e-6) if z.dtype == torch.float32 else {}))


@given(logit_batches(), st.sampled_from([5e-324, 1e-300, 1e-40, 1e40, 1e300]))
def test_extreme_temperatures_give_their_limits_not_nan(z, temperature):
    # dividing first would give inf - inf = NaN, and float32 cannot hold these temperatures at all
    p = softmax(z, temperature)
    assert p.dtype == z.dtype and torch.isfinite(p).all()
    shifted = z.double() - z.double().amax(dim=1, keepdim=True)
    close(p, torch.softmax(shifted / temperature, dim=1).to(z.dtype))
    if temperature > 1:  # uniform over the classes
        close(p, torch.full_like(p, 1 / z.shape[1]), rtol=1e-6, atol=1e-6)


@given(logit_batches())
def test_log_softmax_equals_torch(z):
    got = log_softmax(z)
    assert got.dtype == z.dtype
    # log-probabilities reach -2e4: the two may round the last step differently, by an ulp of that size
    close(got, torch.log_softmax(z, dim=-1), **(dict(rtol=1e-6, atol=1e-5) if z.dtype == torch.float32 else {}))
    close(got.exp(), softmax(z))


@given(logit_batches(non_finite=True))
def test_rows_with_inf_or_nan_give_what_torch_gives(z):
    close(softmax(z), torch.softmax(z, dim=-1))
    close(log_softmax(z), torch.log_softmax(z, dim=-1))


def near_one_another(base_and_offsets):
    base, offsets = base_and_offsets
    return [base + offset for offset in offsets]


INTEGER_LOGITS = st.one_of(
    st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), min_size=1, max_size=8),
    # large logits a few apart: float32 (24 bits) cannot tell them apart, the int64 shift can
    st.tuples(st.integers(-2 ** 62, 2 ** 62), st.lists(st.integers(-40, 40), min_size=1, max_size=8)).map(
        near_one_another),
)


@given(INTEGER_LOGITS)
def test_integer_logits_are_exact(values):
    # the reference shifts by the maximum in Python's exact integers, then works in float64
    top = max(values)
    shifted = torch.tensor([float(v - top) for v in values], dtype=torch.float64)
    expected = torch.softmax(shifted, 0)
    got = softmax(torch.tensor(values))
    assert got.dtype == torch.get_default_dtype()
    close(got.double(), expected, rtol=1e-6, atol=1e-7)
    close(log_softmax(torch.tensor(values)).double(), torch.log_softmax(shifted, 0), rtol=1e-6, atol=1e-5)


# --- cross-entropy and its gradient ---------------------------------------------------------------------------

@given(st.data())
def test_cross_entropy_equals_torch(data):
    z = data.draw(logit_batches())
    y = labels_for(data.draw, z)
    loss = cross_entropy(z, y)
    assert loss.dtype == z.dtype and loss.shape == ()
    expected = F.cross_entropy(z, y)
    close(loss, expected, **(dict(rtol=1e-5, atol=1e-5) if z.dtype == torch.float32 else {}))


@given(st.data())
def test_the_gradient_equals_torch_autograd(data):
    z = data.draw(logit_batches())
    y = labels_for(data.draw, z)
    theirs = z.clone().requires_grad_(True)
    F.cross_entropy(theirs, y).backward()
    ours = z.clone().requires_grad_(True)
    cross_entropy(ours, y).backward()
    analytic = cross_entropy_grad(z, y)
    assert analytic.dtype == z.dtype
    tolerance = dict(rtol=1e-5, atol=1e-6) if z.dtype == torch.float32 else {}
    close(analytic, theirs.grad, **tolerance)
    close(ours.grad, theirs.grad, **tolerance)


@given(st.data())
def test_non_finite_rows_in_the_loss_and_its_gradient_as_torch(data):
    z = data.draw(logit_batches(non_finite=True))
    y = labels_for(data.draw, z)
    close(cross_entropy(z, y), F.cross_entropy(z, y))
    theirs = z.clone().requires_grad_(True)
    F.cross_entropy(theirs, y).backward()
    close(cross_entropy_grad(z, y), theirs.grad)
    ours = z.clone().requires_grad_(True)
    cross_entropy(ours, y).backward()
    close(ours.grad, theirs.grad)


# --- entropy ----------------------------------------------------------------------------------------------------

@given(logit_batches(low=-50, high=50))
def test_entropy_of_softmax_equals_torch_and_lies_in_its_bounds(z):
    p = softmax(z)
    h = entropy(p)
    assert h.dtype == z.dtype and h.shape == (len(z),)
    expected = torch.distributions.Categorical(logits=z.double()).entropy().to(z.dtype)
    close(h, expected, **(dict(rtol=1e-4, atol=1e-5) if z.dtype == torch.float32 else dict(rtol=1e-9, atol=1e-12)))
    assert (h >= -1e-6).all() and (h <= math.log(z.shape[1]) + 1e-5).all()


@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-2, 2)),
       st.booleans())
def test_entropy_refuses_anything_but_distributions(values, normalise):
    p = torch.from_numpy(values)
    if normalise:
        p = p.abs() / p.abs().sum(1, keepdim=True)  # a distribution, unless a row was all zeros (then NaN)
    checked = ~p.isnan().any(1)
    tolerance = math.sqrt(torch.finfo(torch.float64).eps)
    ok = ((p >= 0).all(1) & ((p.sum(1) - 1).abs() <= tolerance)) | ~checked
    if ok.all():
        h = entropy(p)
        assert torch.equal(h.isnan(), ~checked) and (h[checked] >= 0).all()
    else:
        with pytest.raises(ValueError, match=">= 0|sum to 1"):
            entropy(p)


# --- the Otto CSV files -----------------------------------------------------------------------------------------

INT64_MAX = 2 ** 63 - 1


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for the files of every example (a test's own tmp_path would be shared by its examples too)."""
    return tmp_path_factory.mktemp("otto")


@st.composite
def otto_tables(draw):
    n = draw(st.integers(1, 4))
    ids = draw(arrays(np.int64, n, elements=st.integers(0, INT64_MAX), unique=True))
    counts = draw(arrays(np.int64, (n, len(FEATURES)), elements=st.one_of(st.integers(0, 30),
                                                                         st.integers(0, INT64_MAX))))
    labels = draw(st.one_of(st.none(), arrays(np.int64, n, elements=st.integers(0, len(CLASSES) - 1))))
    return (torch.from_numpy(ids), torch.from_numpy(counts), None if labels is None else torch.from_numpy(labels))


@given(otto_tables())
def test_the_otto_csv_round_trip(folder, table):
    ids, counts, labels = table
    back = load_otto_csv(write_otto_csv(folder / "train.csv", ids, counts, labels),
                         require_target=labels is not None)
    assert torch.equal(back.ids, ids) and torch.equal(back.features, counts)
    assert back.labels is None if labels is None else torch.equal(back.labels, labels)


@given(st.data())
def test_the_submission_round_trip(folder, data):
    n = data.draw(st.integers(1, 5))
    ids = torch.from_numpy(data.draw(arrays(np.int64, n, elements=st.integers(0, INT64_MAX), unique=True)))
    p = torch.from_numpy(data.draw(arrays(np.float64, (n, len(CLASSES)), elements=st.one_of(
        st.floats(0, 1), st.floats(0, 1e300), st.sampled_from([0.0, 5e-324, 1e-300])))))
    back_ids, back_p = read_submission(write_submission(folder / "submission.csv", ids, p))
    assert torch.equal(back_ids, ids)
    close(back_p, p, rtol=5e-9, atol=0)  # 9 significant digits


HEADER = ",".join(["id", *FEATURES, "target"])


# what int() takes besides ASCII digits: underscores, signs, spaces and tabs, other scripts' digits
NUMBER_LIKE = st.text(alphabet="0123456789_+- .e\t\u00a0\u0661\u0662\u06f3\uff14\u0968", max_size=6)


INT_ACCEPTS = st.from_regex(r"\A\s*[+-]?\d(_?\d){0,4}\s*\Z")  # everything int() reads, in any script


@given(st.one_of(INT_ACCEPTS, NUMBER_LIKE, st.text(max_size=8)))
def test_a_count_is_read_only_when_it_is_ascii_digits(folder, text):
    row = [1, *[0] * 93, "Class_1"]
    row[5] = text  # feat_5
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)  # quoted as needed: the field may hold any text at all
    path = folder / "train.csv"
    path.write_text(HEADER + "\r\n" + buffer.getvalue(), encoding="utf-8", newline="")
    if re.fullmatch(r" *[0-9]+ *", text) and int(text) <= INT64_MAX:
        assert load_otto_csv(path).features[0, 4].item() == int(text)
    else:  # '1_000', '١٢', '+5', '' ...: int() would take some of them
        with pytest.raises(OttoFormatError, match="line 2, column 'feat_5'|NUL bytes"):
            load_otto_csv(path)
