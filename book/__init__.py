"""``book``: the tested code of the course *Softmax regression with PyTorch*.

Each module is one idea, taught in its chapter and imported from here by the chapters after it:

- ``book.device``   -- where tensors live (CUDA when present, else CPU), chosen in one place;
- ``book.data``     -- MNIST and Fashion-MNIST as checked tensors, the fast loader, the standard DataLoader;
- ``book.torchvision_compat`` -- ``import torchvision`` that also works beside a CPU-only torch;
- ``book.softmax``  -- softmax (stable, row-wise, with temperature), log-softmax, entropy;
- ``book.cross_entropy`` -- the cross-entropy loss from logits and its gradient softmax - one-hot;
- ``book.monitor``  -- the training monitor: live curves in Jupyter, a static figure in the book, text in scripts;
- ``book.explorers`` -- the explorers (softmax, cross-entropy, training in the page, decision boundaries): their
  computation runs in the browser (``book/explorers/web/``), so they work in the static book with no kernel;
- ``book.quiz``     -- "Check yourself": each chapter's quiz, checked in the page (questions in ``chapters/quizzes/``);
- ``book.plots``    -- small plotting helpers (image grids, figures as PNG);
- ``book.web_page`` -- the course's front-end files inlined into a page (explorers, quizzes, the monitor);
- ``book.train``    -- the training loop of chapter 06, tested: Accumulator, evaluate, sgd, train, predict;
- ``book.evaluation`` -- honest evaluation (chapter 08): a validation split, an accuracy with its interval;
- ``book.mlp``      -- the multilayer perceptron of chapter 09, saving and loading its state;
- ``book.calibration`` -- calibration (chapter 10): reliability bins, expected calibration error, temperature;
- ``book.otto``     -- the Otto-style tabular data set of chapter 11, with its exact Bayes-optimal log loss
  (and label shift: other class shares in the test split);
- ``book.kaggle``   -- Kaggle's multi-class log loss, Otto CSV files, submissions and their scoring;
- ``book.figure_language`` -- each figure shown in Jupyter drawn in English and in Chinese (the Chinese edition
  shows the second), in the language a learner chose (``BOOK_LANGUAGE``);
- ``book.bench``    -- the data-pipeline benchmark of the Performance page (``python -m book.bench``): pipelines,
  timing, report (the whole-book build and the grader are timed by ``benchmarks/``, in the repository);

Exercises (``exercises/``): what runs in the learner's kernel, and the records a grading judges:

- ``book.questions`` -- the learner's side: ``q1.check(answer)``, ``q1.hint()``, ``q1.solution()``;
- ``book.checks``   -- one module of checkers per exercise (``book/checks/catalog.json`` is generated);
- ``book.protocol`` -- checks whose verdict is decided outside the learner's process: cases and records;
- ``book.plain_data`` -- values as plain data (JSON and ``.npy``, never pickle), read strictly;
- ``book.probes``   -- objects a checker hands the learner's code, carried as data;
- ``book.replay``   -- the judging side: a checker, unchanged, run on what was recorded;
- ``book.drivers_ex06_08`` -- trusted drivers of exercises 06-08's classes and functions;
- ``book.nbval_outcomes`` -- a pytest plugin recording each cell's outcome under nbval.

The grader (``python -m grader NOTEBOOK|FOLDER``) and the generator of the learner notebooks
(``python -m grader.make_exercises``) are the repository's tooling, the package ``grader`` beside this one: they
import ``book``, never the reverse, and the installed package holds neither.
"""

import os
import sys

# Idle OpenMP threads should sleep, not spin: on a 2-core laptop or CI machine shared by a notebook kernel and its
# client, spinning threads made torch 10-20x slower (measured by book.bench). libgomp reads the setting once, when
# torch is first imported, so it only takes effect when `book` is imported before torch — as every chapter's set-up
# cell does; an explicit setting wins. OMP_WAIT_POLICY_IN_EFFECT says whether the value in os.environ is the one
# torch runs with.
OMP_WAIT_POLICY_IN_EFFECT = "OMP_WAIT_POLICY" in os.environ or "torch" not in sys.modules
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# In a Jupyter kernel every matplotlib figure shown is drawn in English and in Chinese (book/figure_language.py:
# the Chinese edition of the book shows the second drawing); anywhere else this does nothing.
if "IPython" in sys.modules:
    from book.figure_language import register as _register_figure_formatter

    _register_figure_formatter()
