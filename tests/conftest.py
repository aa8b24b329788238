"""Fixtures shared by the book tests: the book built once per test run (with -W), served on localhost.

`make test` runs two pytest-xdist workers; the book is built once for both, in a folder the run shares, by the
first worker whose tests need it, and the tests are ordered so that those of the built book come last.

Set COURSE_BUILT_BOOK=<path to a built _build/html> to reuse a build while developing; without it (CI,
`make test`) the session builds the book itself, into a temporary folder, with -W so that any warning or
failing cell fails the tests: both editions, English then Chinese (``built_book`` is the English html folder,
``built_book_zh`` the Chinese one inside it, ``zh_CN/``).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # book_site, book_browser, page_weight: shared with the scripts

import book_site  # noqa: E402

# One torch thread per process: the book build's kernel and the nbval kernels run side by side on two cores, and
# one thread trains the course's small models faster than two even alone (DESIGN.md, `make bench`).
os.environ.setdefault("OMP_NUM_THREADS", "1")

BUILD_TIMEOUT_S = 3600  # ~3 min alone; a loaded 2-core machine took 22 min (one chapter trains for minutes)
# The folder one test run shares between its processes (`make test` runs two pytest-xdist workers): the book's
# build and the page-weight report. Made by the controlling process before the workers start (they inherit it).
SHARED_ENV = "COURSE_TEST_RUN_DIR"
# The workers yield the processor to the book build, whose single kernel is the run's longest chain of work:
# the build keeps a whole core, the workers share the rest, and when one of them waits (a timeout, a browser)
# the other uses the idle time.
WORKER_NICENESS = 5


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")  # set by pytest-xdist in its worker processes


def _unniced() -> None:
    """In the build's process, before it runs: back to the priority the run started with, where allowed (only
    root may lower a niceness; elsewhere the build shares the workers' priority)."""
    if os.geteuid() == 0:
        os.nice(-os.nice(0))


def _shared_dir() -> Path:
    return Path(os.environ[SHARED_ENV])


class _SharedBuild:
    """`scripts/i18n.py build` run once per test run, into <shared>/book, by the first process whose tests
    need it, as soon as its collection shows one: the English edition, then the Chinese one from the same
    execution cache, into <shared>/book/_build/html and .../html/zh_CN (what `make book` runs).

    The build executes every chapter (the only run of the chapters in the test session) in one kernel while the
    rest of the session (nbval over the solutions, the package tests) runs in the workers. Its exit status is
    written to a file by the shell that starts it, so any worker can wait for it, whichever started it and
    even after that one has finished its tests; the controlling process stops it at the end of the run.
    """

    def __init__(self, shared: Path):
        self.dir = shared / "book"
        self.status = self.dir / "exit-status"
        self.log = self.dir / "build.log"
        self.pid = self.dir / "pid"

    def start_once(self) -> None:
        self.dir.mkdir(exist_ok=True)
        try:  # the first process to create this file starts the build; the others only wait for it
            os.close(os.open(self.dir / "started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        command = [sys.executable, str(ROOT / "scripts" / "i18n.py"), "build", "--path-output", str(self.dir)]
        with open(self.log, "w") as log:
            process = subprocess.Popen(
                ["/bin/sh", "-c", '"$@"; echo $? > "$0.tmp" && mv "$0.tmp" "$0"', str(self.status), *command],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_unniced)
        self.pid.write_text(str(process.pid))

    def html(self) -> Path:
        deadline = time.monotonic() + BUILD_TIMEOUT_S
        while not self.status.exists():
            if time.monotonic() > deadline:
                pytest.fail(f"the book build took longer than {BUILD_TIMEOUT_S} s (log: {self.log})")
            time.sleep(1)
        code = int(self.status.read_text())
        text = self.log.read_text(errors="replace")
        warnings = "\n".join(line for line in text.splitlines() if "WARNING" in line or "ERROR" in line)
        assert code == 0, f"book build failed (exit {code}):\n{warnings}\n...\n{text[-5000:]}"
        return self.dir / "_build" / "html"

    def stop(self) -> None:
        """Stop the build if it still runs, with the kernels it started (its own process group)."""
        try:
            os.killpg(int(self.pid.read_text()), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass


# Modules whose gradings run two notebooks at once (--jobs 2): placed after the other tests, so that they come
# when the background build has given its core back and both cores grade.
TWO_CORE_MODULES = ("test_grade.py", "test_grade_hostile.py")


def needs_book(item) -> bool:
    return "built_book" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Tests of the built book run last, so that everything else runs while the book builds; just before them,
    the class gradings that use both cores. (`make test` hands whole modules to its workers, in this order: a
    module needs the book in all its tests or in none.)"""
    mixed = sorted({item.path.name for item in items if needs_book(item)}
                   & {item.path.name for item in items if not needs_book(item)})
    if mixed:
        raise pytest.UsageError(f"{', '.join(mixed)}: a test module must need the built book in all its tests or "
                                "in none (make test hands whole modules to its workers, the book's last): move "
                                "the tests that need it into a module of their own")
    items.sort(key=lambda item: (needs_book(item), item.path.name in TWO_CORE_MODULES))


def pytest_configure(config):
    if _is_worker(config):
        os.nice(WORKER_NICENESS)
    else:  # the controlling process, or a run without workers: it owns the shared folder
        os.environ[SHARED_ENV] = tempfile.mkdtemp(prefix="course-test-run-")


def pytest_collection_finish(session):
    if os.environ.get("COURSE_BUILT_BOOK") or session.config.option.collectonly:
        return
    if any(needs_book(item) for item in session.items):
        _SharedBuild(_shared_dir()).start_once()


def pytest_unconfigure(config):
    if not _is_worker(config) and SHARED_ENV in os.environ:
        _SharedBuild(_shared_dir()).stop()
        shutil.rmtree(_shared_dir(), ignore_errors=True)


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
    build = _SharedBuild(_shared_dir())
    build.start_once()  # e.g. a test asked for the book through another fixture only after collection
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
def show_page_weight():
    """Call with the page-weight report's text: the controlling process prints it at the end of the test run."""
    def show(report: str):
        (_shared_dir() / "page-weight.txt").write_text(report, encoding="utf-8")
    return show


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = _shared_dir() / "page-weight.txt" if SHARED_ENV in os.environ else None
    if report is not None and report.exists():
        terminalreporter.section("page weight of the built book")
        terminalreporter.write_line(report.read_text(encoding="utf-8"))
