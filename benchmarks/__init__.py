"""``benchmarks``: the repository's timings of the whole course, run from the repository's root.

    python -m benchmarks.whole_course   # the whole book built (cold, then cached) and one notebook graded
    python -m benchmarks.grading        # the grader on every exercise, and on a class folder with --jobs 2
    python -m benchmarks.widgets        # what the training monitor costs; the explorers' training in Chromium

``make bench`` runs them after ``python -m book.bench`` (the data pipelines and the accuracy, part of the course
package because the Performance page teaches them). They print tables; timings are never asserted in tests.
They are tooling, like the grader: they import ``book``, never the reverse.

- ``benchmarks.whole_course`` -- the book's build and the grader, each run as its command in a subprocess;
- ``benchmarks.grading``      -- issue 14's figures: seconds per exercise, a class of 100 graded with 2 jobs;
- ``benchmarks.widgets``      -- the monitor in a real kernel, the learning-rate explorer in headless Chromium.
"""
