"""The training monitor as a learner meets it: in a real JupyterLab, driven by headless Chromium.

A JupyterLab server from this environment is started on 127.0.0.1 (a free port, a token) in a temporary folder
that holds two small notebooks training softmax regression on Fashion-MNIST (``book.data``) with the monitor.
Chromium (Debian's, with the course's flags; every request not to 127.0.0.1 is aborted and recorded) opens them
and uses the menus and the toolbar as a learner would:

- Run All on a notebook whose training cell is followed by a cell that prints "after training": the monitor
  shows curves (an SVG line of at least two points) while the training cell is still running; its status line
  stays on one line; no image is ever broken; at the end the live view has become one static figure, and the
  cell after it ran.
- Run All on the same kind of notebook with a long training run, then the stop button (■) while it trains: the
  cell after it never runs, the monitor shows the figure of what it had, and the interrupt's message says what
  was kept.

Two more pages need no JupyterLab: the live view's HTML rendered on its own (what the browser draws equals the
numbers sent), and the animation player (every button shows a visible icon, and they all differ).
Screenshots go to _build/screenshots/jupyterlab/. Server, kernels and browser are stopped in every case.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

import book_browser
from book.monitor import TrainingMonitor

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_build" / "screenshots" / "jupyterlab"
VIEWPORT = {"width": 1280, "height": 900}
START_TIMEOUT_S = 180  # server, then kernel: a loaded 2-core machine is slow to start both
RUN_TIMEOUT_S = 300

SETUP = """\
import torch
from torch import nn

from book.data import FastLoader, load_dataset
from book.monitor import TrainingMonitor
from book.train import train

torch.set_num_threads(1)
fmnist = load_dataset("fashion-mnist")
train_iter = FastLoader(fmnist.train_images, fmnist.train_labels,
                        batch_size=256, seed=0, device="cpu")
test_iter = FastLoader(fmnist.test_images[:2000], fmnist.test_labels[:2000],
                       batch_size=1000, shuffle=False, device="cpu")


def fit(num_epochs, title):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    return train(net, train_iter, test_iter, nn.CrossEntropyLoss(),
                 num_epochs, optimizer, TrainingMonitor(title))
"""
NOTEBOOKS = {  # a run of some seconds, and one that only the stop button ends
    "live.ipynb": [SETUP, 'history = fit(20, "softmax regression, 20 epochs")', 'print("after training")'],
    "interrupt.ipynb": [SETUP, 'history = fit(100_000, "a run to interrupt")', 'print("after training")'],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebooks(folder: Path) -> None:
    for name, sources in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        # the metadata JupyterLab itself writes: the notebook opens unmodified
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                     "name": "python3"}
        nb.metadata["language_info"] = {"name": "python"}
        nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
        nbformat.write(nb, folder / name)


class Lab:
    """A JupyterLab server in a temporary folder, with its own settings, and its REST API."""

    def __init__(self, home: Path):
        self.home, self.port, self.token = home, free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        work = home / "work"
        work.mkdir()
        write_notebooks(work)
        settings = home / "settings" / "@jupyterlab"
        for plugin, values in {
            # no "Would you like to get notified about official Jupyter news?" over the notebook
            "apputils-extension/notification": {"fetchNews": "false"},
            # the notebook's own kernel (python3) starts without a "Select Kernel" dialog, which a loaded machine
            # otherwise sometimes shows when the kernel list comes late
            "notebook-extension/tracker": {"autoStartDefaultKernel": True},
        }.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   IPYTHONDIR=str(home / "ipython"), OMP_NUM_THREADS="1")
        self.log = open(home / "lab.log", "w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={work}", f"--LabApp.user_settings_dir={home / 'settings'}",
             f"--LabApp.workspaces_dir={home / 'workspaces'}", "--ServerApp.terminals_enabled=False",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=",
             "--LabApp.extension_manager=readonly"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.server_log()}")
            try:
                self.api("status")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer in {START_TIMEOUT_S} s:\n{self.server_log()}")
                time.sleep(0.3)

    def server_log(self) -> str:
        self.log.seek(0)
        return self.log.read()[-5000:]

    def shut_down_kernels(self) -> None:
        for kernel in self.api("kernels") or []:
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def stop(self) -> None:
        """Kernels first (they run in sessions of their own), then the server; whatever is left, by its id."""
        import psutil

        try:
            family = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        try:
            if self.process.poll() is None:
                self.shut_down_kernels()
        except OSError:
            pass
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            for child in family:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
            self.log.close()


@pytest.fixture(scope="module")
def lab():
    with tempfile.TemporaryDirectory(prefix="course-lab-") as home:
        server = Lab(Path(home))
        try:
            server.wait_until_up()
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=book_browser.find_chromium(),
                                             args=book_browser.CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Session:
    """One browser context: the page, and what it blocked and complained about."""

    def __init__(self, browser, allowed_origin: str | None = None):
        self.blocked, self.errors = [], []
        self.context = browser.new_context(viewport=VIEWPORT, service_workers="block")

        def block(route):
            self.blocked.append(route.request.url)
            route.abort("internetdisconnected")

        # Only what is not ours is routed (the pattern is matched inside the browser driver): routing every
        # request through Python would stall JupyterLab's own requests whenever the test is busy elsewhere.
        ours = re.escape(allowed_origin) + "(/|$)" if allowed_origin else "$^"
        self.context.route(re.compile(rf"^(?!{ours})(?!(data|blob|about):)"), block)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(f"{error.name}: {error.message}"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session(chromium, lab):
    opened = Session(chromium, lab.url)
    try:
        yield opened
    finally:
        opened.close()
        lab.shut_down_kernels()  # the next test's kernel gets the cores


def screenshot(page, name: str, cell: int | None = None) -> Path:
    """The page as shown, or (``cell``) that notebook cell whole, scrolled into view."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if cell is None:
        page.screenshot(path=str(path))
    else:
        page.locator(".jp-Notebook .jp-Cell").nth(cell).screenshot(path=str(path))
    return path


# What a cell shows, as the test reads it: its prompt ("[ ]:", "[*]:", "[3]:"), the monitor's curves (points per
# SVG line), its images, its text, and whether the status line still fits on one line.
CELL_JS = r"""
(i) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  if (!cell) return null;
  const prompt = (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '';
  const lines = [...cell.querySelectorAll('.tm-root svg.sx-chart path.sx-line')]
    .map(p => ((p.getAttribute('d') || '').match(/[ML]/g) || []).length);
  const images = [...cell.querySelectorAll('.jp-OutputArea-output img')]
    .map(img => ({complete: img.complete, width: img.naturalWidth}));
  const status = cell.querySelector('.tm-line');
  let statusLines = null;
  if (status) {
    const fontSize = parseFloat(getComputedStyle(status).fontSize);
    statusLines = status.getBoundingClientRect().height < 2 * fontSize ? 1 : 2;
  }
  const output = cell.querySelector('.jp-Cell-outputArea');
  return {
    prompt: prompt.trim(), running: prompt.includes('*'), lines, points: Math.max(0, ...lines),
    live: !!cell.querySelector('.tm-root'), images, statusLines,
    text: output ? output.innerText : '',
    brokenImages: [...document.querySelectorAll('img')].filter(img => img.complete && img.naturalWidth === 0).length,
  };
}
"""
KERNEL_IDLE_JS = "() => document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'"


def open_notebook(session: Session, lab: Lab, name: str):
    """Open ``name`` in a fresh workspace and wait until its kernel is started and idle."""
    page = session.page
    page.goto(f"{lab.url}/lab/workspaces/{name.split('.')[0]}/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=START_TIMEOUT_S * 1000)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not any(s["path"] == name and s["kernel"]["execution_state"] == "idle" for s in lab.api("sessions")):
        if time.monotonic() > deadline:
            shot = screenshot(page, f"{name.split('.')[0]}-no-kernel")
            raise AssertionError(f"the kernel of {name} did not start in {START_TIMEOUT_S} s (see {shot})")
        page.wait_for_timeout(300)  # not time.sleep: Playwright handles the page's events meanwhile
    page.wait_for_function(KERNEL_IDLE_JS, timeout=START_TIMEOUT_S * 1000)
    page.wait_for_function("() => !document.querySelector('.jp-Dialog')", timeout=10_000)
    return page


def run_all(page) -> None:
    """Run > Run All Cells, through the menu bar."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()


def watch(page, index: int, until, timeout_s: float = RUN_TIMEOUT_S, every_s: float = 0.2) -> list[dict]:
    """Read cell ``index`` every ``every_s`` until ``until(reading)`` is true; returns every reading."""
    readings = []
    deadline = time.monotonic() + timeout_s
    while True:
        reading = page.evaluate(CELL_JS, index)
        readings.append(reading)
        if until(reading):
            return readings
        if time.monotonic() > deadline:
            raise AssertionError(f"cell {index} did not get there in {timeout_s} s; last reading: {reading}")
        page.wait_for_timeout(every_s * 1000)


def cell(page, index: int) -> dict:
    return page.evaluate(CELL_JS, index)


def test_curves_move_before_the_training_cell_ends(session, lab):
    page = open_notebook(session, lab, "live.ipynb")
    run_all(page)
    first = watch(page, 1, lambda r: r["running"] and r["points"] >= 2)[-1]
    screenshot(page, "live-first-curve", cell=1)
    assert first["live"] and first["statusLines"] == 1, f"the status line wraps: {first}"
    # training goes on after the first curve, and the curves grow while it does
    grown = watch(page, 1, lambda r: not r["running"] or r["points"] > first["points"])[-1]
    assert grown["running"] and grown["live"], "the training cell ended right after the first curve"
    screenshot(page, "live-during", cell=1)
    rest = watch(page, 1, lambda r: not r["running"])
    readings = [first, grown, *rest]
    assert all(r["brokenImages"] == 0 for r in readings), "a broken image was shown while training ran"
    assert all(r["statusLines"] in (None, 1) for r in readings), "the status line wrapped"
    after = watch(page, 2, lambda r: "after training" in r["text"], timeout_s=60)[-1]
    end = cell(page, 1)
    screenshot(page, "live-end", cell=1)
    assert not end["live"], "the live view was left in place of the final figure"
    assert len(end["images"]) == 1 and end["images"][0]["width"] > 300, end["images"]
    assert after["brokenImages"] == 0
    assert session.errors == [] and session.blocked == [], (session.errors, session.blocked)


def test_the_stop_button_stops_a_run_all(session, lab):
    page = open_notebook(session, lab, "interrupt.ipynb")
    run_all(page)
    curve = watch(page, 1, lambda r: r["running"] and r["points"] >= 2)[-1]
    assert curve["live"]
    queued = cell(page, 2)
    assert queued["running"] and "after training" not in queued["text"]  # waiting for its turn: [*]
    screenshot(page, "interrupt-before", cell=1)
    page.locator('jp-button[data-command="notebook:interrupt-kernel"]').click()  # the ■ button
    page.wait_for_function(KERNEL_IDLE_JS, timeout=RUN_TIMEOUT_S * 1000)
    stopped = watch(page, 1, lambda r: not r["running"] and not r["live"] and r["images"], timeout_s=60)[-1]
    page.wait_for_timeout(1000)  # had the queue gone on, the next cell would print by now
    later = cell(page, 2)
    screenshot(page, "interrupt-after", cell=1)
    assert "after training" not in later["text"] and later["prompt"] == "[ ]:", later
    assert len(stopped["images"]) == 1 and stopped["images"][0]["width"] > 300, stopped["images"]
    assert "KeyboardInterrupt: Training interrupted during epoch" in stopped["text"]
    assert "nothing queued after this training runs" in stopped["text"]
    assert stopped["brokenImages"] == 0
    assert session.errors == [] and session.blocked == [], (session.errors, session.blocked)


# --- without JupyterLab -----------------------------------------------------------------------------------------

class RecordingDisplay:
    def __init__(self):
        self.sent = []

    def __call__(self, obj, raw=False, display_id=None):
        self.sent.append(obj)
        return self

    def update(self, obj, raw=False):
        self.sent.append(obj)


def live_html(monkeypatch) -> tuple[str, dict]:
    """The live view's last HTML during a run of 3 epochs of 50 steps, and the monitor's numbers."""
    import IPython.display

    recorder = RecordingDisplay()
    monkeypatch.setattr(IPython.display, "display", recorder)
    monitor = TrainingMonitor("in a page of its own", mode="live")
    monitor.start(epochs=5, steps_per_epoch=50)
    for epoch in range(3):
        for k in range(50):
            monitor.step(loss=2.0 * math.exp(-(epoch * 50 + k) / 40) + 0.3)
        monitor.epoch(train_loss=1.0 / (epoch + 1), train_acc=0.5 + 0.1 * epoch, val_loss=1.2 / (epoch + 1),
                      val_acc=0.45 + 0.1 * epoch)
    html = monitor._view._bundle(monitor)["text/html"]
    numbers = monitor._view.payload(monitor)
    monitor.finish()
    return html, numbers


def test_the_browser_draws_the_numbers_the_kernel_sends(chromium, monkeypatch):
    html, numbers = live_html(monkeypatch)
    session = Session(chromium)
    try:
        page = session.page
        page.set_content(f'<!doctype html><html><body style="width: 900px">{html}</body></html>')
        drawn = page.evaluate("""() => [...document.querySelectorAll('.tm-root svg.sx-chart')].map(svg => ({
            title: svg.querySelector('.sx-chart-title').textContent,
            lines: [...svg.querySelectorAll('g.sx-series path.sx-line')].map(p => ({
              points: (p.getAttribute('d').match(/[ML]/g) || []).length,
              ys: p.getAttribute('d').split(/[ML]/).filter(Boolean).map(xy => Number(xy.split(' ')[1])),
              color: getComputedStyle(p).stroke}))}))""")
        screenshot(page, "live-view-standalone")
        assert session.errors == [] and session.blocked == [], (session.errors, session.blocked)
    finally:
        session.close()
    assert [d["title"] for d in drawn] == [p["name"] for p in numbers["panels"]] == ["loss", "accuracy"]
    for panel, shown in zip(numbers["panels"], drawn):
        assert [line["points"] for line in shown["lines"]] == [len(s["points"]) for s in panel["series"]]
        for series, line in zip(panel["series"], shown["lines"]):
            if not series.get("range"):
                continue  # the raw per-step values may lie outside the axes and are clipped to them
            values = [y for _, y in series["points"]]
            lo, hi = values.index(min(values)), values.index(max(values))
            scale = (line["ys"][hi] - line["ys"][lo]) / (values[hi] - values[lo])
            assert scale < 0  # higher values drawn higher: the screen's y runs the other way
            for value, y in zip(values, line["ys"]):  # the drawn y is the value on the axis, to 0.1 px
                assert y == pytest.approx(line["ys"][lo] + scale * (value - values[lo]), abs=0.15)
    loss = {s.get("label"): line for s, line in zip(numbers["panels"][0]["series"], drawn[0]["lines"])}
    assert loss["loss per batch"]["color"] == loss["train_loss"]["color"] != loss["val_loss"]["color"]


def test_every_player_button_shows_its_own_visible_icon(chromium):
    from PIL import Image

    monitor = TrainingMonitor(mode="silent")
    for epoch in range(4):
        monitor.epoch(train_loss=1.0 / (epoch + 1), train_acc=0.5 + 0.1 * epoch)
    player = monitor.animation().data
    session = Session(chromium)
    try:
        page = session.page
        page.set_content(f"<!doctype html><html><body>{player}</body></html>")
        page.wait_for_function("() => document.querySelector('.animation input.anim-slider')")
        buttons = page.locator(".animation .anim-buttons button")
        assert buttons.count() == 9
        pictures = []
        for i in range(9):
            button = buttons.nth(i)
            box = button.locator("svg").bounding_box()
            assert box and box["width"] >= 12 and box["height"] >= 12, f"button {i}: its icon is not shown ({box})"
            picture = Image.open(io.BytesIO(button.screenshot())).convert("L")
            dark = sum(1 for value in picture.tobytes() if value < 100)
            assert dark >= 20, f"button {i} ({button.get_attribute('title')}): no visible symbol"
            pictures.append(picture.tobytes())
        assert len(set(pictures)) == 9, "two buttons look the same (empty boxes where the symbols should be?)"
        slider = page.locator(".animation input.anim-slider")
        assert slider.bounding_box()["width"] >= 300, "the frame slider is too short to use comfortably"
        page.locator('.animation button[title="Last frame"]').click()
        assert slider.input_value() == "3"
        screenshot(page, "animation-player")
        assert session.errors == [] and session.blocked == [], (session.errors, session.blocked)
    finally:
        session.close()
