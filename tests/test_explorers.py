"""book.explorers without a browser: the reference computations, the seeded generator, the HTML output and its
weight. tests/test_explorers_browser.py runs the same explorers in Chromium against these functions."""

import base64
import gzip
import json
import math
import re
import shutil
import subprocess
import sys

import pytest
import torch

from book import explorers
from book.cross_entropy import cross_entropy
from book.explorers import (SeededRandom, cross_entropy_explorer, decision_boundary_explorer, decision_grid,
                            explorer_html, fit_2d, learning_rate_explorer, make_2d_model, plot_cross_entropy,
                            plot_decision_boundaries, plot_learning_curves, plot_softmax, softmax_explorer,
                            standalone_page, toy_2d, train_softmax_regression)
from book.explorers.page import asset
from book.explorers.training import (LEVELS, SIDE, downsample, fashion_subset, initial_weights, pack_levels)

BUDGET_GZIP_BYTES = 300 * 1024  # an explorer's own code and data in the page (issue: page weight)


@pytest.fixture(scope="module")
def subset():
    return fashion_subset()


# --- the seeded generator shared with the page ----------------------------------------------------------------

def test_seeded_random_is_mulberry32():
    rng = SeededRandom(0)
    # mulberry32's published first outputs for seed 0 (the JavaScript one-liner gives the same)
    assert [rng.next_uint32() for _ in range(3)] == [1144304738, 1416247, 958946056]
    u = [SeededRandom(7).uniform() for _ in range(2)]
    assert u[0] == u[1] and 0 <= u[0] < 1
    rng = SeededRandom(5)
    normals = [rng.normal() for _ in range(20_000)]
    mean = sum(normals) / len(normals)
    var = sum((x - mean) ** 2 for x in normals) / len(normals)
    assert abs(mean) < 4 / math.sqrt(len(normals)) and abs(var - 1) < 0.05
    order = SeededRandom(3).permutation(1000)
    assert sorted(order) == list(range(1000)) and order != list(range(1000))
    assert order == SeededRandom(3).permutation(1000) != SeededRandom(4).permutation(1000)


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 1.5, "0", True])
def test_seeded_random_refuses_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be a whole number"):
        SeededRandom(seed)


# --- the HTML output ---------------------------------------------------------------------------------------

def test_an_explorer_is_one_self_contained_html_output():
    html = explorer_html(softmax_explorer(), element_id="sx-test")
    assert html.count('class="sx-root"') == 1 and 'id="sx-test"' in html
    assert "src=" not in html and "fetch(" not in html and "import(" not in html  # nothing to fetch
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)
    config = re.search(r'<script type="application/json" id="sx-test-config">(.*?)</script>', html, re.S).group(1)
    assert json.loads(config)["settings"]["o"] == [2.0, 1.0, 0.1, -1.0]
    module = re.search(r'<script type="module">(.*?)</script>', html, re.S).group(1)
    assert asset("core.js") in module and asset("softmax.js") in module
    assert html.count("<script") == 2  # the JSON and the module, nothing else
    assert 'class="sx-fallback"' in html  # what a viewer without scripts shows


def test_json_in_the_page_cannot_end_its_script():
    explorer = softmax_explorer()
    explorer.settings["note"] = "</script><script>alert(1)</script>"
    html = explorer_html(explorer)
    config = html.split('type="application/json"')[1].split("</script>")[0]
    assert "<" not in config.split(">", 1)[1]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_page_scripts_are_valid_javascript(tmp_path):
    for kind, explorer in (("softmax", softmax_explorer()), ("xent", cross_entropy_explorer()),
                           ("boundary", decision_boundary_explorer())):
        module = re.search(r'<script type="module">(.*?)</script>', explorer._repr_html_(), re.S).group(1)
        path = tmp_path / f"{kind}.mjs"
        path.write_text(module)
        result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_each_explorer_fits_its_page_budget(capsys):
    sizes = {}
    for explorer in (softmax_explorer(), cross_entropy_explorer(), learning_rate_explorer(),
                     decision_boundary_explorer()):
        sizes[explorer.kind] = len(gzip.compress(explorer._repr_html_().encode(), compresslevel=6, mtime=0))
    with capsys.disabled():
        print("\nexplorers, gzipped:", ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in sizes.items()))
    assert all(size <= BUDGET_GZIP_BYTES for size in sizes.values()), sizes


def test_a_page_of_explorers():
    page = standalone_page(softmax_explorer(), cross_entropy_explorer(), theme="dark")
    assert page.startswith("<!doctype html>") and 'data-theme="dark"' in page and page.count('class="sx-root"') == 2
    with pytest.raises(ValueError, match="theme must be"):
        standalone_page(softmax_explorer(), theme="sepia")
    with pytest.raises(ValueError, match="one or more explorers"):
        standalone_page()


def test_explorers_print_their_numbers_in_a_terminal():
    assert "probabilities (0.638, 0.235, 0.095, 0.032)" in repr(softmax_explorer())
    assert "loss 1.4644" in repr(cross_entropy_explorer())
    assert "lr 0.1, batch size 256, 10 epochs" in repr(learning_rate_explorer())
    assert "spiral data" in repr(decision_boundary_explorer())


# --- softmax and cross-entropy explorers ---------------------------------------------------------------------

@pytest.mark.parametrize("logits, message", [
    ([[1.0, 2.0]], "1-D vector of 2 to 10"), ([1.0], "1-D vector of 2 to 10"), (list(range(11)), "2 to 10"),
    ([1.0, math.nan], "finite"), (["a", "b"], "sequence of numbers")])
def test_softmax_explorer_refuses_bad_logits(logits, message):
    with pytest.raises(ValueError, match=message):
        softmax_explorer(logits)


def test_softmax_explorer_settings_hold_every_given_value():
    explorer = softmax_explorer(logits=(7.2, -0.5), temperature=50)
    assert explorer.settings["logit_range"] == [-5, 8] and explorer.settings["temperature_range"] == [0.05, 50]
    assert softmax_explorer(logits=torch.tensor([0.1, 0.2])).settings["o"] == [0.10000000149011612, 0.20000000298023224]
    with pytest.raises(ValueError, match="temperature must be a positive"):
        softmax_explorer(temperature=0)


def test_cross_entropy_explorer_checks_the_true_class():
    for bad in (3, -1, True, 1.0):
        with pytest.raises(ValueError, match=r"true class must be a whole number in 0..2"):
            cross_entropy_explorer(logits=(1.0, 2.0, 0.5), true_class=bad)


def test_the_explorers_figures_are_drawn_from_the_reference():
    assert len(softmax_explorer().figure().get_axes()) == 2
    assert len(cross_entropy_explorer().figure().get_axes()) == 2
    assert len(plot_softmax([2.0, 1.0, 0.1], 1.0).get_axes()) == 2
    with pytest.raises(ValueError, match="true class must be a whole number in 0..2"):
        plot_cross_entropy([1.0, 2.0, 0.5], 3)


# --- training in the page: the data and the reference run ------------------------------------------------------

def test_the_embedded_subset(subset):
    X, y, X_val, y_val = subset.tensors()
    assert X.shape == (2000, SIDE * SIDE) and X_val.shape == (500, SIDE * SIDE) and X.dtype == torch.float64
    assert subset.train_levels.max() <= LEVELS - 1 and 0 <= X.min() and X.max() <= 1
    assert torch.bincount(y, minlength=10).min() > 150  # a random draw from balanced classes
    assert fashion_subset() is subset  # kept in memory
    payload = subset.payload()
    packed = base64.b64decode(payload["train_pixels"])
    assert len(packed) == 2000 * SIDE * SIDE // 2
    levels = torch.tensor([[byte >> 4, byte & 15] for byte in packed[:98]]).flatten()
    assert torch.equal(levels, subset.train_levels[0].long())  # the page decodes the same pixels
    assert list(base64.b64decode(payload["val_labels"])) == y_val.tolist()
    with pytest.raises(ValueError, match="at most 60,000"):
        fashion_subset(n_train=59_999, n_val=2)


def test_downsampling_averages_2x2_blocks_into_16_levels():
    images = torch.zeros(1, 28, 28, dtype=torch.uint8)
    images[0, :2, :2] = 255  # one full block
    images[0, 2:4, :2] = torch.tensor([[255, 255], [0, 0]], dtype=torch.uint8)  # half a block
    levels = downsample(images)
    assert levels.shape == (1, 196) and levels[0, 0] == 15 and levels[0, SIDE] == 8 and levels[0, 1] == 0
    assert pack_levels(torch.tensor([15, 1, 0, 9])) == bytes([0xF1, 0x09])
    with pytest.raises(ValueError, match="uint8 images of shape"):
        downsample(images.float())


def test_training_is_seeded_and_learns(subset):
    a = train_softmax_regression(*subset.tensors(), lr=0.1, batch_size=64, epochs=5, seed=0)
    b = train_softmax_regression(*subset.tensors(), lr=0.1, batch_size=64, epochs=5, seed=0)
    c = train_softmax_regression(*subset.tensors(), lr=0.1, batch_size=64, epochs=5, seed=1)
    assert a.history == b.history and a.step_losses == b.step_losses and a.history != c.history
    assert [r["epoch"] for r in a.history] == [0, 1, 2, 3, 4, 5] and len(a.step_losses) == 5 * 32
    assert a.history[0]["val_loss"] == pytest.approx(math.log(10), abs=0.05)  # small weights: a uniform guess
    assert a.history[-1]["train_loss"] < a.history[1]["train_loss"] and a.history[-1]["val_acc"] > 0.65


def test_the_reference_run_is_plain_minibatch_sgd(subset):
    """An independent loop (analytic gradient, no book.train) with the same weights and order, step by step."""
    X, y, X_val, y_val = subset.tensors()
    run = train_softmax_regression(X, y, X_val, y_val, lr=0.5, batch_size=100, epochs=2, seed=3)
    rng = SeededRandom(3)
    W, b = initial_weights(X.shape[1], 10, rng)
    losses = []
    for _ in range(2):
        order = torch.tensor(rng.permutation(len(y)))
        for start in range(0, len(y), 100):
            xb, yb = X[order[start:start + 100]], y[order[start:start + 100]]
            logits = xb @ W + b
            losses.append(torch.nn.functional.cross_entropy(logits, yb).item())
            grad = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(yb, 10)) / len(yb)
            W, b = W - 0.5 * xb.T @ grad, b - 0.5 * grad.sum(0)
    assert run.step_losses == pytest.approx(losses, abs=1e-12)
    assert torch.allclose(run.W, W, atol=1e-12) and torch.allclose(run.b, b, atol=1e-12)
    final = torch.nn.functional.cross_entropy(X_val @ W + b, y_val).item()
    assert run.history[-1]["val_loss"] == pytest.approx(final, abs=1e-12)


def test_a_nan_stops_training_where_the_page_stops(subset):
    X, y, X_val, y_val = subset.tensors()
    X = X.clone()
    X[:, 0] = math.nan
    with pytest.raises(FloatingPointError, match="epoch 1, minibatch 1"):
        train_softmax_regression(X, y, X_val, y_val, lr=0.1, batch_size=256, epochs=2)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0}, "lr must be a positive"), ({"lr": math.inf}, "lr must be a positive"),
    ({"batch_size": 0}, r"batch_size must be a whole number 1..2000"),
    ({"batch_size": 2001}, r"batch_size must be a whole number 1..2000"),
    ({"epochs": 1.0}, "epochs must be a whole number"), ({"seed": -1}, "seed must be a whole number")])
def test_training_settings_are_checked(subset, kwargs, message):
    settings = {"lr": 0.1, "batch_size": 64, "epochs": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        train_softmax_regression(*subset.tensors(), **settings)
    with pytest.raises(ValueError, match=message):
        learning_rate_explorer(**settings)


def test_training_refuses_bad_features_and_labels(subset):
    X, y, X_val, y_val = subset.tensors()
    with pytest.raises(ValueError, match="float tensor \\(n, d\\)"):
        train_softmax_regression(X.reshape(-1, 14, 14), y, X_val, y_val, lr=0.1, batch_size=64, epochs=1)
    with pytest.raises(ValueError, match="class indices"):
        train_softmax_regression(X, -y - 1, X_val, y_val, lr=0.1, batch_size=64, epochs=1)


def test_learning_rate_explorer_settings_and_figure():
    explorer = learning_rate_explorer(lr=0.3, batch_size=100, epochs=2, seed=4)
    s = explorer.settings
    assert 0.3 in s["lr_values"] and 100 in s["batch_values"] and 2000 in s["batch_values"]
    assert s["lr_values"] == sorted(s["lr_values"]) and explorer.data["n_train"] == 2000
    run = explorer.run()
    assert len(run.history) == 3 and len(plot_learning_curves(run.history).get_axes()) == 2
    assert len(explorer.figure().get_axes()) == 2
    with pytest.raises(ValueError, match="at most 100 epochs"):
        learning_rate_explorer(epochs=101)


# --- decision boundaries ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, classes", [("spiral", 3), ("blobs", 3), ("moons", 2)])
def test_toy_2d_is_seeded(kind, classes):
    X, y = toy_2d(kind, n_per_class=50, seed=1)
    assert X.shape == (50 * classes, 2) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [50] * classes
    X2, _ = toy_2d(kind, n_per_class=50, seed=1)
    assert torch.equal(X, X2) and not torch.equal(X, toy_2d(kind, n_per_class=50, seed=2)[0])
    X64, _ = toy_2d(kind, n_per_class=50, seed=1, dtype=torch.float64)
    assert X64.dtype == torch.float64 and torch.allclose(X64.float(), X)
    with pytest.raises(ValueError, match="kind must be one of"):
        toy_2d("circles")
    with pytest.raises(ValueError, match="noise must be"):
        toy_2d(kind, noise=-1)


def test_blob_centres_and_noise():
    X, y = toy_2d("blobs", n_per_class=2000, noise=0.5, seed=3, dtype=torch.float64)
    for k in range(3):
        angle = 2 * math.pi * k / 3
        centre = X[y == k].mean(0)
        assert torch.allclose(centre, torch.tensor([4 * math.cos(angle), 4 * math.sin(angle)], dtype=torch.float64),
                              atol=0.05)
        assert X[y == k].std(0).tolist() == pytest.approx([0.5, 0.5], abs=0.03)


def test_linear_suffices_for_blobs_but_not_for_the_spiral():
    X, y = toy_2d("blobs")
    assert fit_2d(X, y, "softmax")[1] > 0.95
    X, y = toy_2d("spiral")
    linear, mlp = fit_2d(X, y, "softmax")[1], fit_2d(X, y, "mlp")[1]
    assert linear < 0.8 and mlp > 0.95


def test_seeded_models_start_from_the_pages_weights_and_leave_torch_alone():
    state = torch.random.get_rng_state()
    net = make_2d_model("mlp", 3, hidden=8, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    rng = SeededRandom(5)
    first = net.layers.fc1.weight.detach().flatten().tolist()
    assert first == pytest.approx([(2 * rng.uniform() - 1) / math.sqrt(2) for _ in range(16)], abs=1e-7)
    again = make_2d_model("mlp", 3, hidden=8, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))
    assert isinstance(net, explorers.boundaries.MLP) and net.sizes == (2, 8, 8, 3)
    assert make_2d_model("softmax", 2).sizes == (2, 2)
    with pytest.raises(ValueError, match="model must be 'softmax' or 'mlp'"):
        make_2d_model("tree", 3)


def test_fit_2d_computes_in_the_points_dtype():
    X, y = toy_2d("moons", n_per_class=30, dtype=torch.float64)
    net, acc = fit_2d(X, y, "mlp", hidden=4, steps=20)
    assert next(net.parameters()).dtype == torch.float64 and 0 <= acc <= 1
    assert cross_entropy(net(X), y).dtype == torch.float64
    with pytest.raises(ValueError, match="steps must be"):
        fit_2d(X, y, steps=-1)


def test_decision_grid_covers_the_points():
    X, y = toy_2d("blobs", n_per_class=20)
    model, _ = fit_2d(X, y, "softmax", steps=100)
    xx, yy, classes = decision_grid(model, X, resolution=50)
    assert xx.shape == yy.shape == classes.shape == (50, 50)
    assert xx.min() <= X[:, 0].min() and xx.max() >= X[:, 0].max()
    assert set(classes.unique().tolist()) <= {0, 1, 2}
    with pytest.raises(ValueError, match="must map points"):
        decision_grid(lambda p: p[:, 0], X, resolution=10)


def test_decision_boundary_explorer_settings_and_figure():
    explorer = decision_boundary_explorer(kind="blobs", hidden=10, steps=50, lr=0.05, seed=2)
    s = explorer.settings
    assert s["noise"] == 0.6 and 10 in s["hidden_values"] and 50 in s["steps_values"] and 0.05 in s["lr_values"]
    fitted = explorer.fit()
    assert set(fitted) == {"softmax", "mlp"} and fitted["softmax"][1] > 0.9
    assert len(explorer.figure().get_axes()) == 2
    X, y = toy_2d("blobs", n_per_class=20)
    models = {"a": fit_2d(X, y, "softmax", steps=50)[0], "b": fit_2d(X, y, "mlp", steps=50)[0]}
    assert len(plot_decision_boundaries(X, y, models, resolution=30).get_axes()) == 2
    for kwargs, message in (({"kind": "circles"}, "kind must be one of"), ({"hidden": 0}, "hidden must be"),
                            ({"noise": -0.1}, "noise must be"), ({"steps": 0}, "steps must be"),
                            ({"seed": 10 ** 7}, "seed must be"), ({"lr": 2}, "lr must be")):
        with pytest.raises(ValueError, match=message):
            decision_boundary_explorer(**kwargs)


def test_importing_the_package_loads_neither_matplotlib_nor_ipywidgets():
    code = "import sys, book.explorers; print('matplotlib' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
