"""A learner's own check, with no grader involved: plain ``pytest --nbval-lax`` on an exercise notebook.

The grader runs every solution through nbval too (tests/test_grade.py, in its sandbox); this is the path a learner
takes in their own Jupyter set-up, so it is run as they would run it: a separate pytest, in the course's
environment, on the notebook file.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from grader.make_exercises import EXERCISES_DIR, SOLUTIONS_DIR

ROOT = Path(__file__).resolve().parent.parent


def nbval(notebook: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p",
                           "no:cacheprovider", "-q", "-o", "addopts=", str(notebook)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("exercise", ["01_softmax"])
def test_a_solved_notebook_passes_plain_nbval(exercise):
    result = nbval(SOLUTIONS_DIR / f"{exercise}.ipynb")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]


def test_an_untouched_learner_notebook_fails_its_checks_under_plain_nbval():
    result = nbval(EXERCISES_DIR / "01_softmax.ipynb")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert " failed" in result.stdout and "Cell" in result.stdout, result.stdout[-2000:]
