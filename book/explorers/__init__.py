"""Four explorers that compute in the reader's browser: softmax and temperature, cross-entropy and its
gradient, training in the page (the learning rate), and decision boundaries in 2-D.

    >>> from book.explorers import softmax_explorer
    >>> softmax_explorer(logits=(2.0, 1.0, 0.1, -1.0), temperature=1.0)   # the last line of a cell

Each ``*_explorer(...)`` returns an object that Jupyter, the built book and Colab show as one HTML output with
its own JavaScript (``book/explorers/web/``): the controls work with no kernel and no network, the settings
live in the page's URL hash, so a link reproduces a scenario, and everything is computed in float64 in the
page. The Python functions beside them are the tested reference the page is held to (tests/
test_explorers_browser.py): ``book.softmax``, ``book.cross_entropy``, ``book.train`` through
:func:`train_softmax_regression`, and :func:`toy_2d` / :func:`fit_2d` for the decision boundaries; the seeded
generator they share is :mod:`book.explorers.prng`. Outside a browser, an explorer prints a line of its
numbers, and ``explorer.figure()`` draws them with matplotlib.

Modules: ``page`` (the HTML output), ``prng``, ``probabilities`` (softmax), ``loss`` (cross-entropy),
``training`` (the embedded Fashion-MNIST subset and the reference run), ``boundaries`` (2-D toy data and models).
"""

from book.explorers.boundaries import (TOY_KINDS, decision_boundary_explorer, decision_grid, fit_2d,
                                       make_2d_model, model_accuracy, plot_decision_boundaries, toy_2d)
from book.explorers.loss import cross_entropy_explorer, plot_cross_entropy
from book.explorers.page import Explorer, explorer_html, standalone_page
from book.explorers.prng import SeededRandom
from book.explorers.probabilities import plot_softmax, softmax_explorer
from book.explorers.training import (TrainingRun, fashion_subset, learning_rate_explorer, plot_learning_curves,
                                     train_softmax_regression)

__all__ = [
    "TOY_KINDS", "Explorer", "SeededRandom", "TrainingRun", "cross_entropy_explorer", "model_accuracy",
    "decision_boundary_explorer", "decision_grid", "explorer_html", "fashion_subset", "fit_2d",
    "learning_rate_explorer", "make_2d_model", "plot_cross_entropy", "plot_decision_boundaries",
    "plot_learning_curves", "plot_softmax", "softmax_explorer", "standalone_page", "toy_2d",
    "train_softmax_regression",
]
