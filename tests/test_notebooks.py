"""Chapters are committed clean, listed in the table of contents, and start with the same set-up cell."""

from pathlib import Path

import nbformat
import pytest
import yaml

import book_site  # scripts/, put on sys.path by conftest.py

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def setup_cell_source():
    url = CONFIG["repository"]["url"]
    return ("# Colab and Binder: install the course package `book` if it is missing.\n"
            "try:\n"
            "    import book\n"
            "except ModuleNotFoundError:\n"
            f'    REPO = "{url}"\n'
            '    %pip install --quiet "git+{REPO}"')


def test_there_are_chapters_and_the_toc_lists_each_in_file_name_order():
    assert CHAPTERS
    listed = [page.docname for page in book_site.toc_pages(ROOT) if page.docname.startswith("chapters/")]
    assert listed == [f"chapters/{p.stem}" for p in CHAPTERS]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert dirty == [], f"{path.name}: cells {dirty} carry outputs; clear them before committing"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_starts_with_title_then_the_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == setup_cell_source(), (
        f"{path.name}: the first code cell must be the set-up cell naming {CONFIG['repository']['url']} "
        "(the repository URL in _config.yml)")
    assert "remove-cell" in first_code.metadata.get("tags", [])


# Chapters that implement something `book` also holds end that part with a cell asserting the two agree;
# the book build executes those cells (with -W), so a drift between a chapter and the package fails the tests.
CHECKED_AGAINST_BOOK = {
    "02_softmax": ["book.softmax"],
    "03_cross_entropy": ["book.cross_entropy"],
    "06_softmax_scratch": ["book.train", "book.evaluation"],
    "09_mlp": ["book.mlp"],
}


@pytest.mark.parametrize("stem, modules", sorted(CHECKED_AGAINST_BOOK.items()))
def test_chapter_checks_its_own_code_against_book(stem, modules):
    nb = nbformat.read(ROOT / "chapters" / f"{stem}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    for module in modules:
        assert any("assert" in src and module.split(".")[1] in src for src in code), (
            f"{stem}: no cell asserts that the chapter's code agrees with {module}")
