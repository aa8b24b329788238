"""Fixtures shared by the book tests: the book built once per test session (with -W), served on localhost.

Set COURSE_BUILT_BOOK=<path to a built _build/html> to reuse a build while developing; without it (CI,
`make test`) the session builds the book itself, into a temporary folder, with -W so that any warning or
failing cell fails the tests.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # book_site, book_browser, page_weight: shared with the scripts

import book_site  # noqa: E402

BUILD_TIMEOUT_S = 3600  # ~3 min alone; a loaded 2-core machine took 22 min (one chapter trains for minutes)
WEIGHT_REPORT = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The built book's html folder."""
    reuse = os.environ.get("COURSE_BUILT_BOOK")
    if reuse:
        html = Path(reuse).resolve()
        if not (html / "intro.html").is_file() or not (html / "search.html").is_file():
            pytest.fail(f"COURSE_BUILT_BOOK={reuse} is not a built book (no intro.html / search.html there): "
                        "point it at a _build/html folder, or unset it to build the book")
        return html
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jupyter_book), "build", str(ROOT), "-W", "-n", "--keep-going",
                             "--path-output", str(out)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def book_url(built_book):
    """The built book, served on 127.0.0.1 for the whole session."""
    with book_site.serve(built_book) as base:
        yield base


@pytest.fixture(scope="session")
def show_page_weight(pytestconfig):
    """Call with the page-weight report's text: it is printed at the end of the test session."""
    def show(report: str):
        pytestconfig.stash[WEIGHT_REPORT] = report
    return show


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = config.stash.get(WEIGHT_REPORT, None)
    if report:
        terminalreporter.section("page weight of the built book")
        terminalreporter.write_line(report)
