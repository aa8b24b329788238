"""Fixtures shared by the book tests: the book built once per test session (with -W), served on localhost.

Set COURSE_BUILT_BOOK=<path to a built _build/html> to reuse a build while developing; without it (CI,
`make test`) the session builds the book itself, into a temporary folder, with -W so that any warning or
failing cell fails the tests: both editions, English then Chinese (``built_book`` is the English html folder,
``built_book_zh`` the Chinese one inside it, ``zh_CN/``).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # book_site, book_browser, page_weight: shared with the scripts

import book_site  # noqa: E402

# One torch thread per process: the book build's kernel and the nbval kernels run side by side on two cores, and
# one thread trains the course's small models faster than two even alone (DESIGN.md, `make bench`).
os.environ.setdefault("OMP_NUM_THREADS", "1")

BUILD_TIMEOUT_S = 3600  # ~3 min alone; a loaded 2-core machine took 22 min (one chapter trains for minutes)
WEIGHT_REPORT = pytest.StashKey[str]()


class _BackgroundBuild:
    """`jupyter-book build -W` started as soon as collection shows a test that needs the book: the English
    edition, then the Chinese one from the same execution cache, into <out>/_build/html and .../html/zh_CN
    (scripts/i18n.py build, what `make book` runs).

    The build executes every chapter (the only run of the chapters in the test session) in one kernel while the
    rest of the session (nbval over the solutions, the package tests) runs in another: on two cores the two
    overlap instead of queueing.
    """

    def __init__(self, out: Path):
        self.out = out
        self.log = open(out / "build.log", "w+")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "i18n.py"), "build", "--path-output", str(out)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def html(self) -> Path:
        try:
            code = self.process.wait(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the book build took longer than {BUILD_TIMEOUT_S} s")
        self.log.seek(0)
        text = self.log.read()
        warnings = "\n".join(line for line in text.splitlines() if "WARNING" in line or "ERROR" in line)
        assert code == 0, f"book build failed (exit {code}):\n{warnings}\n...\n{text[-5000:]}"
        return self.out / "_build" / "html"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


BUILD = pytest.StashKey[_BackgroundBuild]()


# Modules whose gradings run two notebooks at once (--jobs 2): placed after the other tests, so that they come
# when the background build has given its core back and both cores grade.
TWO_CORE_MODULES = ("test_grade.py", "test_grade_hostile.py")


def pytest_collection_modifyitems(session, config, items):
    """Tests of the built book run last, so that everything else runs while the book builds; just before them,
    the class gradings that use both cores."""
    items.sort(key=lambda item: ("built_book" in getattr(item, "fixturenames", ()),
                                 item.path.name in TWO_CORE_MODULES))


def pytest_collection_finish(session):
    if os.environ.get("COURSE_BUILT_BOOK") or session.config.option.collectonly:
        return
    if any("built_book" in getattr(item, "fixturenames", ()) for item in session.items):
        out = Path(tempfile.mkdtemp(prefix="course-book-"))
        session.config.stash[BUILD] = _BackgroundBuild(out)


def pytest_unconfigure(config):
    build = config.stash.get(BUILD, None)
    if build is not None:
        build.stop()
        shutil.rmtree(build.out, ignore_errors=True)


@pytest.fixture(scope="session")
def built_book(pytestconfig) -> Path:
    """The built book's html folder."""
    reuse = os.environ.get("COURSE_BUILT_BOOK")
    if reuse:
        html = Path(reuse).resolve()
        if not (html / "intro.html").is_file() or not (html / "search.html").is_file():
            pytest.fail(f"COURSE_BUILT_BOOK={reuse} is not a built book (no intro.html / search.html there): "
                        "point it at a _build/html folder, or unset it to build the book")
        return html
    build = pytestconfig.stash.get(BUILD, None)
    if build is None:  # e.g. a test asked for the book through another fixture only after collection
        out = Path(tempfile.mkdtemp(prefix="course-book-"))
        build = pytestconfig.stash[BUILD] = _BackgroundBuild(out)
    return build.html()


@pytest.fixture(scope="session")
def built_book_zh(built_book) -> Path:
    """The Chinese edition's html folder, inside the English one (built by the same session build)."""
    html = built_book / "zh_CN"
    if not (html / "intro.html").is_file() or not (html / "search.html").is_file():
        pytest.fail(f"{html} holds no built Chinese edition: build both editions (`make book`, or "
                    "`.venv/bin/python scripts/i18n.py build`)")
    return html


@pytest.fixture(scope="session")
def book_url(built_book):
    """The built book, served on 127.0.0.1 for the whole session."""
    with book_site.serve(built_book) as base:
        yield base


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, driven by Playwright with the course's flags, for one test module (Playwright's sync API
    allows one instance at a time in a thread, and other modules start their own)."""
    import book_browser
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=book_browser.find_chromium(),
                                             args=book_browser.CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


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
