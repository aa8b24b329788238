"""book.explorers: the computations behind each widget, and the widgets themselves without a frontend."""

import math

import pytest
import torch

from book import explorers
from book.explorers import (decision_grid, fashion_subset, fit_2d, plot_cross_entropy, plot_decision_boundaries,
                            plot_learning_curves, plot_softmax, toy_2d, train_softmax_regression)


@pytest.fixture(scope="module")
def subset():
    return fashion_subset(n_train=2000, n_test=500, seed=0)


def test_fashion_subset_shapes_and_cache(subset):
    X, y, X_test, y_test = subset
    assert X.shape == (2000, 784) and X.dtype == torch.float32 and 0 <= X.min() and X.max() <= 1
    assert y.shape == (2000,) and X_test.shape == (500, 784) and y_test.dtype == torch.int64
    assert fashion_subset(n_train=2000, n_test=500, seed=0)[0] is X
    with pytest.raises(ValueError, match="n_train must be in 1..60000"):
        fashion_subset(n_train=0)


def test_training_is_seeded_and_learns(subset):
    a = train_softmax_regression(*subset, lr=0.1, batch_size=64, epochs=5, seed=0)
    b = train_softmax_regression(*subset, lr=0.1, batch_size=64, epochs=5, seed=0)
    assert a == b
    assert [r["epoch"] for r in a] == [1, 2, 3, 4, 5]
    assert a[-1]["train_loss"] < a[0]["train_loss"] < math.log(10)
    assert a[-1]["test_acc"] > 0.7 and not a[-1]["diverged"]


def test_analytic_gradient_step_matches_autograd(subset):
    X, y = subset[0][:64], subset[1][:64]
    history = train_softmax_regression(X, y, X, y, lr=0.5, batch_size=64, epochs=1, seed=0)
    g = torch.Generator().manual_seed(0)  # the same initial weights and single full-batch step, by autograd
    W = (torch.randn(784, 10, generator=g) * 0.01).requires_grad_(True)
    b = torch.zeros(10, requires_grad=True)
    torch.nn.functional.cross_entropy(X @ W + b, y).backward()
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(X @ (W - 0.5 * W.grad) + (b - 0.5 * b.grad), y).item()
    assert history[0]["train_loss"] == pytest.approx(loss, rel=1e-4)


def test_a_huge_learning_rate_is_flagged_not_raised(subset):
    history = train_softmax_regression(*subset, lr=1e4, batch_size=64, epochs=10)
    assert history[-1]["diverged"] and len(history) < 10


def test_training_input_errors(subset):
    X, y, X_test, y_test = subset
    with pytest.raises(ValueError, match="float tensor \\(N, d\\)"):
        train_softmax_regression(X.reshape(-1, 28, 28), y, X_test, y_test, lr=0.1, batch_size=64, epochs=1)
    with pytest.raises(ValueError, match="lr must be a positive"):
        train_softmax_regression(X, y, X_test, y_test, lr=0, batch_size=64, epochs=1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train_softmax_regression(X, y, X_test, y_test, lr=0.1, batch_size=0, epochs=1)


@pytest.mark.parametrize("kind, classes", [("spiral", 3), ("blobs", 3), ("moons", 2)])
def test_toy_2d_is_seeded(kind, classes):
    X, y = toy_2d(kind, n_per_class=50, seed=1)
    assert X.shape == (50 * classes, 2) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [50] * classes
    X2, _ = toy_2d(kind, n_per_class=50, seed=1)
    assert torch.equal(X, X2) and not torch.equal(X, toy_2d(kind, n_per_class=50, seed=2)[0])
    with pytest.raises(ValueError, match="kind must be one of"):
        toy_2d("circles")


def test_linear_suffices_for_blobs_but_not_for_the_spiral():
    X, y = toy_2d("blobs")
    assert fit_2d(X, y, "softmax")[1] > 0.95
    X, y = toy_2d("spiral")
    linear, mlp = fit_2d(X, y, "softmax")[1], fit_2d(X, y, "mlp")[1]
    assert linear < 0.8 and mlp > 0.95 and mlp > linear


def test_decision_grid_covers_the_points():
    X, y = toy_2d("blobs", n_per_class=20)
    model, _ = fit_2d(X, y, "softmax", steps=100)
    xx, yy, classes = decision_grid(model, X, resolution=50)
    assert xx.shape == yy.shape == classes.shape == (50, 50)
    assert xx.min() <= X[:, 0].min() and xx.max() >= X[:, 0].max()
    assert set(classes.unique().tolist()) <= {0, 1, 2}
    with pytest.raises(ValueError, match="must map points"):
        decision_grid(lambda p: p[:, 0], X, resolution=10)


def test_plots_return_figures_with_their_panels(subset):
    assert len(plot_softmax([2.0, 1.0, 0.1], 1.0).get_axes()) == 2
    assert len(plot_cross_entropy([1.0, 2.0, 0.5], 0).get_axes()) == 2
    history = train_softmax_regression(*subset, lr=0.1, batch_size=256, epochs=2)
    assert len(plot_learning_curves(history).get_axes()) == 2
    X, y = toy_2d("blobs", n_per_class=20)
    models = {"a": fit_2d(X, y, "softmax", steps=50)[0], "b": fit_2d(X, y, "mlp", steps=50)[0]}
    assert len(plot_decision_boundaries(X, y, models, resolution=30).get_axes()) == 2
    with pytest.raises(ValueError, match="true class must be in 0..2"):
        plot_cross_entropy([1.0, 2.0, 0.5], 3)


def test_outside_a_kernel_explorers_return_static_figures():
    from matplotlib.figure import Figure

    assert not explorers.in_kernel()
    assert isinstance(explorers.softmax_explorer(), Figure)
    assert isinstance(explorers.cross_entropy_explorer(), Figure)


def image_of(box):
    import ipywidgets

    return next(w for w in box.children if isinstance(w, ipywidgets.Image))


def test_in_a_kernel_explorers_are_widgets_that_redraw(monkeypatch):
    import ipywidgets

    monkeypatch.setattr(explorers, "in_kernel", lambda: True)
    box = explorers.softmax_explorer(logits=(2.0, 1.0, 0.1, -1.0))
    assert isinstance(box, ipywidgets.VBox)
    before = image_of(box).value
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    temperature = next(w for w in box.children if isinstance(w, ipywidgets.FloatLogSlider))
    temperature.value = 5.0
    assert image_of(box).value != before

    box = explorers.cross_entropy_explorer()
    before = image_of(box).value
    next(w for w in box.children if isinstance(w, ipywidgets.Dropdown)).value = 2
    assert image_of(box).value != before


def test_learning_rate_and_boundary_explorers_retrain_on_change(monkeypatch):
    import ipywidgets

    monkeypatch.setattr(explorers, "in_kernel", lambda: True)
    box = explorers.learning_rate_explorer(lr=0.1, batch_size=1024, epochs=2)
    status = next(w for w in box.children if isinstance(w, ipywidgets.HTML))
    assert "final test accuracy" in status.value
    next(w for w in box.children if isinstance(w, ipywidgets.FloatLogSlider)).value = 10.0 ** 0.9
    next(w for w in box.children if isinstance(w, ipywidgets.IntSlider)).value = 3
    assert "after 3 epochs" in status.value or "diverged" in status.value

    box = explorers.decision_boundary_explorer(kind="blobs", hidden=4)
    before = image_of(box).value
    next(w for w in box.children if isinstance(w, ipywidgets.Dropdown)).value = "moons"
    assert image_of(box).value != before


def test_in_kernel_needs_a_shell_with_a_kernel(monkeypatch):
    import IPython

    class Shell:  # terminal IPython: a shell, but no kernel to talk to a frontend
        pass

    kernel_shell = Shell()
    kernel_shell.kernel = object()
    for shell, expected in ((None, False), (Shell(), False), (kernel_shell, True)):
        monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
        assert explorers.in_kernel() is expected


def test_without_ipywidgets_a_kernel_still_gets_a_figure(monkeypatch):
    import sys

    from matplotlib.figure import Figure

    monkeypatch.setattr(explorers, "in_kernel", lambda: True)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` raise ImportError
    assert isinstance(explorers.softmax_explorer(), Figure)


def test_slow_explorers_outside_a_kernel_return_static_figures():
    from matplotlib.figure import Figure

    fig = explorers.learning_rate_explorer(lr=0.1, batch_size=1024, epochs=1)
    assert isinstance(fig, Figure) and len(fig.get_axes()) == 2
    fig = explorers.decision_boundary_explorer(kind="blobs", hidden=4)
    assert isinstance(fig, Figure) and len(fig.get_axes()) == 2


def test_learning_rate_explorer_redraws_its_image(monkeypatch):
    import ipywidgets

    monkeypatch.setattr(explorers, "in_kernel", lambda: True)
    box = explorers.learning_rate_explorer(lr=0.1, batch_size=1024, epochs=1)
    before = image_of(box).value
    next(w for w in box.children if isinstance(w, ipywidgets.Dropdown)).value = 256
    assert image_of(box).value != before and image_of(box).value[:4] == b"\x89PNG"


def test_a_nan_loss_stops_training_without_raising(subset):
    X, y, X_test, y_test = subset
    X = X.clone()
    X[0, 0] = math.nan  # one bad pixel poisons the weights at the first step that sees it
    history = train_softmax_regression(X, y, X_test, y_test, lr=0.1, batch_size=256, epochs=5)
    assert len(history) == 1 and history[0]["diverged"] and math.isnan(history[0]["train_loss"])
    assert len(plot_learning_curves(history).get_axes()) == 2


def test_learning_curves_mark_divergence_and_count_epochs_in_whole_numbers(subset):
    history = train_softmax_regression(*subset, lr=1e4, batch_size=256, epochs=3)
    fig = plot_learning_curves(history)
    loss_panel = fig.get_axes()[0]
    assert any("diverged" in text.get_text() for text in loss_panel.texts)
    fig.canvas.draw()
    ticks = [t for t in loss_panel.get_xticks() if loss_panel.get_xlim()[0] <= t <= loss_panel.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_training_refuses_labels_that_are_not_class_indices(subset):
    X, y, X_test, y_test = subset
    with pytest.raises(ValueError, match="class indices"):
        train_softmax_regression(X, -y - 1, X_test, y_test, lr=0.1, batch_size=64, epochs=1)


def test_importing_the_module_loads_neither_matplotlib_nor_ipywidgets():
    import subprocess
    import sys

    code = "import sys, book.explorers; print('matplotlib' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
