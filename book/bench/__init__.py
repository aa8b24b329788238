"""Benchmarks: the course's data pipeline beside the one learners would otherwise copy.

    python -m book.bench                  # the pipelines and accuracy: tables on stdout, JSON in _build/bench.json
    python -m book.bench --quick          # the reduced budget of the book's Performance page
    make bench                            # the first, then the repository's benchmarks/ (below)

What is measured, all in one run, on ``default_device()`` (CUDA when present, else the CPU):

* **epoch time** of one model trained through three pipelines, with the same model, seed, batch size and
  training step (forward, backward, update):
  (a) :class:`book.data.FastLoader`, the course's in-memory iterator;
  (b) the pipeline learners copy from d2l: ``torchvision.datasets.FashionMNIST`` with ``ToTensor()``
  (optionally ``Normalize``) through a ``DataLoader`` with 4 worker processes;
  (c) the compute lower bound: every epoch's minibatches prepared before the clock starts, so the loop does
  nothing but the training step.
  Median seconds per epoch, ratio to (a), and test accuracy after the same number of epochs, for softmax
  regression (chapter 07) and for an MLP (chapters 09-10);
* **loading only**: one epoch of batches from each way of storing and indexing the images, no training;
* **test accuracy after 10 epochs** for both models on Fashion-MNIST and MNIST, beside the figure d2l published.

The rest of ``make bench`` is the repository's tooling, in ``benchmarks/``: the whole book's build (cold and
cached) and one grading (``python -m benchmarks.whole_course``), the grader on every exercise and on a class
folder (``python -m benchmarks.grading``), the monitor and the in-page explorers (``python -m
benchmarks.widgets``). Their targets are judged here too (:func:`targets`), from what they measured.

Timings are never asserted in tests; ``tests/test_bench.py`` checks only that the pipelines reach the same
accuracy and that the tables have their rows and columns.

One idea per module: :mod:`book.bench.pipelines` (the three pipelines and the two models),
:mod:`book.bench.timing` (what is timed and how), :mod:`book.bench.report` (machine, targets, tables),
``__main__`` (the command). The Performance page (chapter 98) uses the names below.
"""

# Importing book.bench imports `book` first, which sets OMP_WAIT_POLICY=PASSIVE before torch loads (idle OpenMP
# threads spinning on 2 shared cores made 2-thread epochs 10-20x slower here).
from book.bench.pipelines import (ACCURACY_TOLERANCE, BATCH_SIZE, MODELS, PIPELINES, SEED, WORKERS, ModelSpec,
                                  PreBatched, allow_many_workers, fast_pipeline, make_pipeline, model_spec,
                                  preloaded_pipeline, torchvision_pipeline)
from book.bench.report import (D2L_SOFTMAX_FASHION_MNIST_ACC, D2L_SOURCE, accuracy_markdown, loading_markdown,
                               machine, pipelines_markdown, targets, targets_markdown, threads_markdown,
                               to_markdown)
from book.bench.timing import (FULL, QUICK, accuracy_table, compare_pipelines, evaluate_accuracy, loading_only,
                               thread_scaling, train_timed)

__all__ = ["ACCURACY_TOLERANCE", "BATCH_SIZE", "MODELS", "PIPELINES", "SEED", "WORKERS", "ModelSpec", "PreBatched",
           "allow_many_workers", "fast_pipeline", "make_pipeline", "model_spec", "preloaded_pipeline",
           "torchvision_pipeline", "D2L_SOFTMAX_FASHION_MNIST_ACC", "D2L_SOURCE", "accuracy_markdown",
           "loading_markdown", "machine", "pipelines_markdown", "targets", "targets_markdown", "threads_markdown",
           "to_markdown", "FULL", "QUICK", "accuracy_table", "compare_pipelines", "evaluate_accuracy",
           "loading_only", "thread_scaling", "train_timed"]
