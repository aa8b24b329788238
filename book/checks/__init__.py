"""The checkers of the exercise notebooks: one module per exercise, named ``ex<exercise id>``.

Exercise ``04_training`` (``exercises/solutions/04_training.ipynb``) has its questions in
``book.checks.ex04_training``; that module defines ``EXERCISE`` (the id), ``TITLE``, ``PASS_MARK`` (a share of
the points, e.g. 0.6) and ``QUESTIONS``, a list of :class:`book.questions.Question` named ``q1``, ``q2``, ...
A new exercise is one solutions notebook plus one such module; ``python -m grader.make_exercises`` then writes the
learner notebook and the catalog.

``book/checks/catalog.json`` is generated from both (titles, points, pass marks, model answers), data that the
grader reads without importing torch (:func:`book.questions.exercise_catalog`); this package's ``__init__``
stays light for the same reason.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

MODULE_PATTERN = re.compile(r"^ex(\d\d_[a-z0-9_]+)$")


def module_name(exercise: str) -> str:
    return f"{__name__}.ex{exercise}"


def exercise_ids() -> list[str]:
    """The ids of the exercises that have a checks module, in order."""
    found = (MODULE_PATTERN.match(m.name) for m in pkgutil.iter_modules(__path__))
    return sorted(m.group(1) for m in found if m)


def load(exercise: str):
    """The checks module of ``exercise`` (imports torch)."""
    if exercise not in exercise_ids():
        raise LookupError(f"no checks module for exercise {exercise!r}: expected book/checks/ex{exercise}.py; "
                          f"known exercises: {', '.join(exercise_ids())}")
    return importlib.import_module(module_name(exercise))
