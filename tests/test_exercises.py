"""The exercise notebooks: generated from the solutions, never stale, well formed, and not published.

Nothing here executes a notebook (the grading tests and nbval over exercises/solutions do).
"""

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from book import checks
from book.checks import catalog
from book.exercise_cells import (ANSWER, CHECK, ExerciseFormatError, blocks, check_structure, exercise_id,
                                 learner_notebook, learner_source, notebook_text, read_notebook, role,
                                 solution_source)
from book.make_exercises import CATALOG_PATH, EXERCISES_DIR, SOLUTIONS_DIR, generate, main, stale
from test_notebooks import setup_cell_source

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
IDS = [p.stem for p in SOLUTIONS]


def test_there_is_one_exercise_per_stage_each_with_a_checks_module():
    assert IDS == ["01_softmax", "02_cross_entropy", "03_training", "04_autograd_concise", "05_mlp", "06_otto"]
    assert checks.exercise_ids() == IDS
    assert list(catalog.EXERCISES) == IDS
    for exercise in catalog.EXERCISES.values():
        assert 3 <= len(exercise["questions"]) <= 6
        assert all(q["points"] >= 1 for q in exercise["questions"])


def test_the_committed_learner_notebooks_and_catalog_are_exactly_what_the_solutions_generate():
    problems = stale(generate())
    assert problems == [], "\n".join(problems) + "\nRegenerate with `python -m book.make_exercises`."


def test_make_exercises_check_reports_a_stale_notebook_and_regenerates_it(tmp_path, capsys):
    learner_dir = tmp_path / "exercises"
    learner_dir.mkdir()
    outputs = generate(SOLUTIONS_DIR, learner_dir)
    for path, text in outputs.items():
        if path.parent == learner_dir:
            path.write_text(text, encoding="utf-8")
    assert stale(outputs, learner_dir) == []
    edited = learner_dir / "02_cross_entropy.ipynb"
    edited.write_text(edited.read_text().replace("def pick(", "def pick_it("), encoding="utf-8")
    (learner_dir / "99_orphan.ipynb").write_text("{}", encoding="utf-8")
    problems = stale(outputs, learner_dir)
    assert any("02_cross_entropy.ipynb: stale" in p for p in problems)
    assert any("99_orphan.ipynb: no solutions notebook" in p for p in problems)
    assert main(["--check"]) == 0  # the repository's own files are current
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_solutions_notebook_is_well_formed(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["exercise"]["id"] == path.stem
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Exercise")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == setup_cell_source(), "the first code cell is the chapters' set-up cell (Colab)"
    assert all(not c.outputs and c.execution_count is None for c in code), "committed without outputs"
    check_structure(read_notebook(path), path.name)
    module = checks.load(path.stem)
    assert [q for r, q in map(role, read_notebook(path)["cells"]) if r == CHECK] == [q.id for q in module.QUESTIONS]
    imports = "\n".join(c.source for c in code[:3])
    assert f"from book.checks.ex{path.stem} import " + ", ".join(q.id for q in module.QUESTIONS) in imports


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_learner_notebook_holds_stubs_and_none_of_the_model_answers(path):
    solution = read_notebook(path)
    learner = read_notebook(EXERCISES_DIR / path.name)
    nbformat.validate(nbformat.read(EXERCISES_DIR / path.name, as_version=4))
    assert exercise_id(learner) == path.stem
    learner_text = json.dumps(learner)
    assert "BEGIN SOLUTION" not in learner_text and "END SOLUTION" not in learner_text
    assert not any(role(c)[0] == "solution-only" for c in learner["cells"])
    for cell in solution["cells"]:
        r, q = role(cell)
        if r != ANSWER:
            continue
        lines = cell["source"].splitlines()
        for begin, end in blocks(cell["source"]):
            for line in lines[begin + 1:end]:
                code = line.strip()
                if len(code) > 12 and not code.startswith("#"):  # any substantial line of a model answer
                    assert code not in learner_text, f"{path.name} {q}: the learner notebook contains {code!r}"
    answers = [c["source"] for c in learner["cells"] if role(c)[0] == ANSWER]
    assert all("NotImplementedError" in a or "= ____" in a for a in answers)


def test_stubs_keep_the_indentation_and_blank_simple_assignments():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n\n"
              "### BEGIN SOLUTION\nlr = 0.1\nbatch_size, epochs = 32, 2\n### END SOLUTION\nprint(lr)")
    assert learner_source(source) == (
        'def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError("write your answer here")\n\n'
        "lr = ____\nbatch_size = ____\nepochs = ____\nprint(lr)")
    assert solution_source(source) == ("def f(x):\n    y = x + 1\n    return y\n\nlr = 0.1\nbatch_size, epochs = "
                                       "32, 2\nprint(lr)")
    assert learner_source("### BEGIN SOLUTION\nif x == 1:\n    y = 2\n### END SOLUTION").endswith(
        'raise NotImplementedError("write your answer here")')


@pytest.mark.parametrize("source, complaint", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "never opened"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_unbalanced_solution_markers_are_reported_with_their_line(source, complaint):
    with pytest.raises(ExerciseFormatError, match=complaint):
        blocks(source)


def small_notebook(*cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"exercise": {"id": "00_toy"}},
            "cells": [{"cell_type": "code", "source": src, "metadata": {"exercise": meta} if meta else {},
                       "outputs": [], "execution_count": None} for src, meta in cells]}


ANSWER_Q1 = ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
             {"role": "answer", "question": "q1"})
CHECK_Q1 = ("q1.check(f)", {"role": "check", "question": "q1"})


@pytest.mark.parametrize("cells, complaint", [
    ([CHECK_Q1, ANSWER_Q1], "no answer cell before it"),
    ([ANSWER_Q1], "no check cell for q1"),
    ([ANSWER_Q1, ("print(1)", None), CHECK_Q1], "right after its answer cell"),
    ([ANSWER_Q1, ("print(q1)", {"role": "check", "question": "q1"})], "must start with q1.check"),
    ([ANSWER_Q1, CHECK_Q1, ("### BEGIN SOLUTION\n### END SOLUTION", None)], "not an answer cell"),
    ([("x = 1", {"role": "answer", "question": "q1"}), CHECK_Q1], "has no '### BEGIN SOLUTION'"),
])
def test_malformed_solutions_notebooks_are_rejected_saying_what_to_fix(cells, complaint):
    with pytest.raises(ExerciseFormatError, match=complaint):
        learner_notebook(small_notebook(*cells))


def test_a_blank_stub_needs_the_blank_imported():
    answer = ("### BEGIN SOLUTION\nlr = 0.1\n### END SOLUTION", {"role": "answer", "question": "q1"})
    with pytest.raises(ExerciseFormatError, match="import it"):
        learner_notebook(small_notebook(answer, ("q1.check(lr)", CHECK_Q1[1])))
    learner = learner_notebook(small_notebook(("from book.questions import ____", None), answer,
                                              ("q1.check(lr)", CHECK_Q1[1])))
    assert learner["cells"][1]["source"] == "lr = ____"


def test_notebook_text_is_what_nbformat_writes():
    path = SOLUTIONS[0]
    assert notebook_text(read_notebook(path)) == path.read_text(encoding="utf-8")


def test_the_catalog_is_generated_code_that_says_so():
    text = CATALOG_PATH.read_text(encoding="utf-8")
    assert "GENERATED by `python -m book.make_exercises`" in text


def test_solutions_are_not_published_in_the_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    toc = (ROOT / "_toc.yml").read_text()
    assert "exercises" in config["exclude_patterns"] and config["only_build_toc_files"] is True
    assert "exercises/" not in toc
