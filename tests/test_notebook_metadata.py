"""Chapters and exercises open in JupyterLab unmodified: they carry the metadata JupyterLab writes on opening them.

JupyterLab 4.6 replaces ``kernelspec`` and ``language_info`` with the kernel's own when the kernel starts and
marks the notebook modified unless both were equal already (``language_info`` in full, Python version included),
so closing a chapter that was only read would ask to save it. Measured in Chromium driving JupyterLab 4.6.6: a
notebook with the committed metadata stays clean; one with display name "Python 3", or with
``language_info = {"name": "python"}``, or with another Python version, is marked modified at once.
"""

import copy
import json
import shutil
from pathlib import Path

import pytest

import normalise_notebook_metadata as normaliser
from grader.exercise_cells import NOTEBOOK_METADATA, learner_notebook, read_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = normaliser.course_notebooks()


def test_every_chapter_and_exercise_notebook_is_checked():
    folders = {p.parent.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert folders == {"chapters", "exercises", "exercises/solutions"}
    assert len([p for p in NOTEBOOKS if p.parent.name == "exercises"]) == len(
        [p for p in NOTEBOOKS if p.parent.name == "solutions"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_carries_the_metadata_jupyterlab_writes(path):
    meta = read_notebook(path)["metadata"]
    for key, expected in NOTEBOOK_METADATA.items():
        assert meta.get(key) == expected, (
            f"{path.relative_to(ROOT)}: metadata[{key!r}] is {json.dumps(meta.get(key))}; JupyterLab rewrites it to "
            f"{json.dumps(expected)} on opening and marks the notebook modified. Fix: "
            "python scripts/normalise_notebook_metadata.py (or `make exercises` for exercises/*.ipynb)")


def test_the_committed_metadata_is_what_the_pinned_kernel_reports():
    """Everything but the Python version comes from ipykernel (pinned); the version is the course's Python,
    whose minor version Binder's runtime.txt names too."""
    here = normaliser.environment_metadata()
    assert here["kernelspec"] == NOTEBOOK_METADATA["kernelspec"]
    expected_info = dict(NOTEBOOK_METADATA["language_info"], version=here["language_info"]["version"])
    assert here["language_info"] == expected_info
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()  # e.g. "python-3.11"
    major_minor = ".".join(NOTEBOOK_METADATA["language_info"]["version"].split(".")[:2])
    assert runtime == f"python-{major_minor}"


def test_learner_notebooks_get_the_metadata_even_from_a_solution_without_it():
    solution = {"nbformat": 4, "nbformat_minor": 5,
                "metadata": {"exercise": {"id": "00_toy"}, "kernelspec": {"display_name": "Python 3",
                                                                          "language": "python", "name": "python3"}},
                "cells": [{"cell_type": "code", "source": "def f():\n    ### BEGIN SOLUTION\n    return 1\n"
                           "    ### END SOLUTION", "metadata": {"exercise": {"role": "answer", "question": "q1"}},
                           "outputs": [], "execution_count": None},
                          {"cell_type": "code", "source": "q1.check(f)", "outputs": [], "execution_count": None,
                           "metadata": {"exercise": {"role": "check", "question": "q1"}}}]}
    learner = learner_notebook(copy.deepcopy(solution))
    assert {k: learner["metadata"][k] for k in NOTEBOOK_METADATA} == NOTEBOOK_METADATA
    assert learner["metadata"]["exercise"] == {"id": "00_toy"}


def test_the_script_rewrites_only_the_metadata_and_check_reports_what_differs(tmp_path, capsys):
    source = ROOT / "exercises" / "solutions" / "01_softmax.ipynb"
    path = tmp_path / "notebook.ipynb"
    shutil.copy(source, path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["metadata"]["kernelspec"]["display_name"] = "Python 3"
    nb["metadata"]["language_info"] = {"name": "python"}
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")

    assert normaliser.main(["--check", str(path)]) == 1
    assert "kernelspec, language_info differ" in capsys.readouterr().out
    assert normaliser.main([str(path)]) == 0
    assert normaliser.main(["--check", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")  # cells and the rest untouched
    assert normaliser.main([str(tmp_path / "missing.ipynb")]) == 2
