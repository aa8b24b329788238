"""The book builds with -W (a failing cell fails it) and renders offline in headless Chromium."""

import functools
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def rendered_dom(url):
    """The page's DOM after its scripts ran, in headless Chromium with every other host unreachable."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make browser` (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline, but for our server
             "--virtual-time-budget=20000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def test_build_produces_every_page(built_book):
    for page in ["intro.html", "chapters/05_data.html", "chapters/99_widgets_gallery.html", "search.html"]:
        assert (built_book / page).is_file(), page


def test_offline_assets_are_served_from_the_book(built_book):
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()
    html = (built_book / "chapters" / "05_data.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert any("_static/mathjax/tex-chtml.js" in s for s in scripts)
    assert any("_static/require.js" in s for s in scripts)
    assert any("_static/html-manager/embed-amd.js" in s for s in scripts)
    assert not [s for s in scripts if s.startswith("http")], "scripts loaded from the network"


def test_data_chapter_shows_its_image_grids(built_book):
    html = (built_book / "chapters" / "05_data.html").read_text()
    images = re.findall(r'<img[^>]*src="([^"]+\.png)"', html)
    assert len(images) >= 5  # two sample grids, the class grid, two bar charts...
    for src in images:
        assert (built_book / "chapters" / src).resolve().is_file(), src
    assert "ImageDataset('fashion-mnist': 60,000 train / 10,000 test" in html


@pytest.mark.parametrize("page", ["intro.html", "chapters/05_data.html"])
def test_math_is_typeset_offline(server, page):
    dom = rendered_dom(f"{server}/{page}")
    assert len(re.findall(r"<mjx-container", dom)) >= 3, "MathJax did not typeset the page"
    text = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)
    assert "$$" not in text and r"\frac" not in text, "raw TeX left in the page"


def test_widgets_render_offline(server):
    dom = rendered_dom(f"{server}/chapters/05_data.html")
    assert "widget-dropdown" in dom and "widget-slider" in dom and "fashion-mnist" in dom
    assert "Loading widget" not in dom


def test_widgets_gallery_shows_every_widget_and_the_animation(built_book, server):
    html = (built_book / "chapters" / "99_widgets_gallery.html").read_text()
    assert html.count('class="anim-buttons"') == 1, "the training animation is missing"
    dom = rendered_dom(f"{server}/chapters/99_widgets_gallery.html")
    assert dom.count("widget-image") >= 4, "an explorer did not render its picture from the saved state"
    assert "Loading widget" not in dom
    assert "final test accuracy" in dom  # the learning-rate explorer's status line, from its saved state
