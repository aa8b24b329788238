"""Code fits the page: no code line of a chapter or an exercise is longer than 79 characters.

A longer line makes its code block scroll sideways in the rendered book (and in a narrow JupyterLab window).
Code lines are the lines of code cells and of fenced code blocks in Markdown cells (```` ``` ```` or ``~~~``);
prose may be as long as it likes. Offending lines are reported as ``file:cell:line`` (the cell counted from 0 as
in the notebook's list of cells, the line from 1).
"""

import re
from pathlib import Path

import pytest

from grader.exercise_cells import read_notebook

ROOT = Path(__file__).resolve().parent.parent
MAX_LINE = 79
NOTEBOOKS = sorted([*ROOT.glob("chapters/*.ipynb"), *ROOT.glob("exercises/*.ipynb"),
                    *ROOT.glob("exercises/solutions/*.ipynb")])
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def code_lines(cell: dict):
    """(line number from 1, text) of each line of code in a cell: every line of a code cell, the lines inside
    fenced blocks of a Markdown cell."""
    lines = cell["source"].splitlines()
    if cell["cell_type"] == "code":
        yield from enumerate(lines, 1)
    elif cell["cell_type"] == "markdown":
        fence = None
        for number, line in enumerate(lines, 1):
            match = FENCE.match(line)
            if fence is None and match:
                fence = match.group(1)
            elif fence is not None and match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            elif fence is not None:
                yield number, line


def long_lines(nb: dict, limit: int = MAX_LINE) -> list[tuple[int, int, int, str]]:
    """(cell index, line number, length, line) of every code line longer than ``limit`` characters."""
    return [(index, number, len(line), line) for index, cell in enumerate(nb["cells"])
            for number, line in code_lines(cell) if len(line) > limit]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_code_line_is_longer_than_79_characters(path):
    found = long_lines(read_notebook(path))
    where = path.relative_to(ROOT).as_posix()
    report = "\n".join(f"{where}:{cell}:{line} ({length} characters): {text.strip()[:60]}"
                       for cell, line, length, text in found)
    assert not found, f"{len(found)} code line(s) longer than {MAX_LINE} characters:\n{report}"


def test_the_notebooks_of_the_book_and_the_exercises_are_all_checked():
    folders = {p.parent.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert folders == {"chapters", "exercises", "exercises/solutions"}


def cells(*specs):
    return {"cells": [{"cell_type": kind, "source": source} for kind, source in specs]}


def test_long_lines_are_found_in_code_cells_and_fenced_blocks_only():
    ok, long = "x" * 79, "y" * 80
    nb = cells(("markdown", f"Prose may be long: {long}"),
               ("code", f"a = 1\n{ok}\n{long}"),
               ("markdown", f"Before\n```python\n{ok}\n{long}\n```\nafter: {long}"),
               ("markdown", f"~~~\n{long}\n~~~"),
               ("markdown", f"````\n```\n{long}\n```\n````\n{long}"),
               ("raw", long))
    assert [(cell, line, length) for cell, line, length, _ in long_lines(nb)] == [
        (1, 3, 80), (2, 4, 80), (3, 2, 80), (4, 3, 80)]
    assert long_lines(cells(("code", "é" * 79))) == []  # characters, not bytes
    assert long_lines(cells(("code", "\n".join(["x"] * 3 + ["z" * 100])))) == [(0, 4, 100, "z" * 100)]
