"""The checkers behind the book tests catch what they are meant to catch, on small made-up sites (no book build):
the table-of-contents reader, the internal link checker, the page-weight summary and budget, the widget-state
pruning of scripts/offline_assets.py, and what the browser records for math, images, errors, network use,
widgets (and controls that would need a kernel), code wider than its box, quizzes and animations."""

import json
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

import book_browser
import book_site
import offline_assets
import page_weight

ROOT = Path(__file__).resolve().parent.parent


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# --- table of contents --------------------------------------------------------------------------------------------

def test_toc_pages_lists_root_then_every_file_in_order(tmp_path):
    write(tmp_path / "_toc.yml", """
        format: jb-book
        root: intro
        parts:
          - caption: One
            chapters:
              - file: chapters/b
                sections:
                  - file: chapters/b_more
          - caption: Two
            chapters:
              - file: chapters/a.ipynb
        """)
    for name in ["intro.md", "chapters/b.ipynb", "chapters/b_more.md", "chapters/a.ipynb"]:
        write(tmp_path / name, "x")
    pages = book_site.toc_pages(tmp_path)
    assert [p.docname for p in pages] == ["intro", "chapters/b", "chapters/b_more", "chapters/a"]
    assert [p.is_notebook for p in pages] == [False, True, False, True]
    assert pages[1].html == "chapters/b.html" and pages[1].slug == "chapters_b"


def test_toc_pages_names_a_missing_source(tmp_path):
    write(tmp_path / "_toc.yml", "root: intro\nchapters:\n  - file: chapters/gone\n")
    write(tmp_path / "intro.md", "x")
    with pytest.raises(FileNotFoundError, match="chapters/gone"):
        book_site.toc_pages(tmp_path)


def test_toc_pages_refuses_globs(tmp_path):
    write(tmp_path / "_toc.yml", "root: intro\nchapters:\n  - glob: chapters/*\n")
    write(tmp_path / "intro.md", "x")
    with pytest.raises(ValueError, match="glob"):
        book_site.toc_pages(tmp_path)


def test_launch_settings_read_the_repository_and_services(tmp_path):
    write(tmp_path / "_config.yml", """
        repository: {url: https://github.com/me/course, branch: dev, path_to_book: book}
        launch_buttons: {binderhub_url: https://mybinder.org/, colab_url: https://colab.research.google.com}
        """)
    launch = book_site.launch_settings(tmp_path)
    assert (launch.owner_repo, launch.branch, launch.binderhub_url) == ("me/course", "dev", "https://mybinder.org")
    assert launch.notebook_path(book_site.Page("chapters/x", tmp_path / "chapters/x.ipynb")) == "book/chapters/x.ipynb"
    write(tmp_path / "_config.yml", "repository: {url: https://example.com/me}\n")
    with pytest.raises(ValueError, match="github.com"):
        book_site.launch_settings(tmp_path)


# --- internal links -----------------------------------------------------------------------------------------------

def test_link_checker_finds_missing_files_and_anchors(tmp_path):
    write(tmp_path / "index.html", """
        <h1 id="top">Home</h1>
        <a href="#top">ok</a> <a href="#">theme button</a> <a href="https://example.com/x">external</a>
        <a href="chapters/one.html#part-2">ok</a> <a href="chapters/one.html#part-9">missing anchor</a>
        <img src="_images/fig.png"> <img src="_images/gone.png"> <a href="#nowhere">missing here</a>
        <a href="../outside.html">outside</a> <script src="_static/x.js"></script>
        """)
    write(tmp_path / "chapters/one.html", '<section id="part-2"></section><a href="../index.html#top">back</a>')
    write(tmp_path / "_images/fig.png", "png")
    write(tmp_path / "_static/x.js", "")
    write(tmp_path / "_static/vendor/page.html", '<a href="gone.html">third-party, not checked</a>')
    broken, checked = book_site.broken_internal_links(tmp_path)
    assert checked == 9
    assert sorted((b.page, b.target) for b in broken) == [
        ("index.html", "#nowhere"), ("index.html", "../outside.html"),
        ("index.html", "_images/gone.png"), ("index.html", "chapters/one.html#part-9")]
    assert "has no element with id 'part-9'" in str(next(b for b in broken if b.target.endswith("part-9")))


# --- page weight ----------------------------------------------------------------------------------------------------

def test_weight_summary_totals_pages_and_ranks_assets(tmp_path):
    loaded = {"a.html": {"/a.html": 100, "/_static/big.js": 5000, "/_static/s.css": 50},
              "b.html": {"/b.html": 300, "/_static/big.js": 5000}}
    summary = page_weight.weight_summary(loaded, top=2)
    assert summary["pages"] == [{"page": "a.html", "requests": 3, "total_bytes": 5150, "html_bytes": 100},
                                {"page": "b.html", "requests": 2, "total_bytes": 5300, "html_bytes": 300}]
    assert summary["largest_assets"] == [{"asset": "/_static/big.js", "bytes": 5000, "pages": 2},
                                         {"asset": "/b.html", "bytes": 300, "pages": 1}]
    assert summary["largest_page"] == "b.html"
    report = page_weight.format_report(summary)
    assert "a.html" in report and "4.9 KiB  /_static/big.js  (2 pages)" in report

    write(tmp_path / "_static/big.js", "x" * 5000)  # compresses to a few dozen bytes
    summary = page_weight.weight_summary(loaded, top=1, html_dir=tmp_path)
    assert 0 < summary["largest_assets"][0]["gzip_bytes"] < 100
    assert summary["pages"][0]["total_gzip_bytes"] == summary["largest_assets"][0]["gzip_bytes"]  # others missing: 0
    assert "gzipped" in page_weight.format_report(summary)


def test_budget_names_the_pages_over_it(tmp_path):
    import random
    noise = random.Random(0).randbytes(page_weight.BUDGET_GZIP_BYTES + 10)  # incompressible: gzip keeps its size
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static/heavy.bin").write_bytes(noise)
    (tmp_path / "_static/light.js").write_text("x" * 100)
    loaded = {"heavy.html": {"/_static/heavy.bin": len(noise), "/_static/light.js": 100},
              "light.html": {"/_static/light.js": 100}}
    summary = page_weight.weight_summary(loaded, html_dir=tmp_path)
    assert [p["page"] for p in page_weight.over_budget(summary)] == ["heavy.html"]
    report = page_weight.format_report(summary)
    assert "heavy.html" in report and "over the budget" in report and "1 page(s) over it" in report
    assert page_weight.largest_assets_of(loaded["heavy.html"], tmp_path, top=1)[0][0] == "/_static/heavy.bin"


# --- widget state: only what the shown views need -------------------------------------------------------------------

def model(name, **state):
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


ID = {name: f"{i:032x}" for i, name in enumerate(["box", "slider", "layout", "closed", "closed_layout", "text",
                                                     "link", "dead_link", "output", "inner"], start=1)}
STATE = {
    ID["box"]: model("VBoxModel", children=[f"IPY_MODEL_{ID['slider']}"], layout=f"IPY_MODEL_{ID['layout']}"),
    ID["slider"]: model("IntSliderModel", value=3),
    ID["layout"]: model("LayoutModel"),
    ID["closed"]: model("FloatProgressModel", layout=f"IPY_MODEL_{ID['closed_layout']}"),  # a closed monitor bar
    ID["closed_layout"]: model("LayoutModel"),
    ID["text"]: model("FloatTextModel"),
    ID["link"]: model("LinkModel", source=[f"IPY_MODEL_{ID['slider']}", "value"],
                      target=[f"IPY_MODEL_{ID['text']}", "value"]),
    ID["dead_link"]: model("LinkModel", source=[f"IPY_MODEL_{ID['closed']}", "value"],
                           target=[f"IPY_MODEL_{ID['slider']}", "value"]),
    ID["output"]: model("OutputModel", outputs=[{"output_type": "display_data", "data": {
        "application/vnd.jupyter.widget-view+json": {"model_id": ID["inner"], "version_major": 2}}}]),
    ID["inner"]: model("HTMLModel", value="<b>x</b>"),
}


def test_pruning_keeps_views_what_they_reference_and_links_between_kept_widgets():
    kept = offline_assets.prune_widget_state(STATE, {ID["box"], ID["text"]})
    assert set(kept) == {ID["box"], ID["slider"], ID["layout"], ID["text"], ID["link"]}
    # an Output widget's nested views are references too
    assert set(offline_assets.prune_widget_state(STATE, {ID["output"]})) == {ID["output"], ID["inner"]}
    assert offline_assets.prune_widget_state(STATE, set()) == {}
    assert offline_assets.prune_widget_state(STATE, {"f" * 32}) == {}  # a view whose model was not saved


def view_script(model_id):
    return (f'<script type="application/vnd.jupyter.widget-view+json">'
            f'{json.dumps({"version_major": 2, "version_minor": 0, "model_id": model_id})}</script>')


def js(filename, **attributes):
    from sphinx.builders.html._assets import _JavaScript
    return _JavaScript(filename, **attributes)


def page_context(body: str):
    state = json.dumps({"version_major": 2, "version_minor": 0, "state": STATE}).replace("</", "<\\/")
    return {"body": body, "script_files": [
        js("_static/doctools.js"),
        js("_static/require.js"),
        js("", body=offline_assets.REQUIRE_PATHS_JS),
        js("_static/html-manager/embed-amd.js", **{"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"}),
        js(None, type="application/vnd.jupyter.widget-state+json", body=state),
    ]}


APP = SimpleNamespace(config=SimpleNamespace(nb_ipywidgets_js={
    offline_assets.REQUIRE: {}, "": {"body": offline_assets.REQUIRE_PATHS_JS}, offline_assets.WIDGETS: {}}))


def test_a_page_without_views_loses_the_state_and_the_widget_manager():
    context = page_context("<p>the monitor's widgets were closed; a figure is shown</p>")
    offline_assets.keep_needed_widget_state(APP, context)
    assert [str(j.filename) for j in context["script_files"]] == ["_static/doctools.js"]


def test_a_page_with_views_keeps_the_manager_and_only_the_state_they_need():
    context = page_context(f"<div>{view_script(ID['box'])}</div>")
    offline_assets.keep_needed_widget_state(APP, context)
    names = [str(j.filename) for j in context["script_files"]]
    assert names == ["_static/doctools.js", "_static/require.js", "", "_static/html-manager/embed-amd.js", "None"]
    state = json.loads(context["script_files"][-1].attributes["body"])
    assert set(state["state"]) == {ID["box"], ID["slider"], ID["layout"]}
    assert state["version_major"] == 2


def test_shown_view_ids_reads_myst_nb_view_scripts():
    body = view_script(ID["box"]) + "<p>text</p>" + view_script(ID["text"]).replace("model_id", "modelid")
    assert offline_assets.shown_view_ids(body) == {ID["box"]}


def test_icon_template_override_names_the_theme_file_it_trims():
    """The override imports the theme's own macros ("!"); the theme must still load Font Awesome's script there."""
    override = (ROOT / "scripts/templates/static/webpack-macros.html").read_text()
    assert '"!static/webpack-macros.html"' in override
    import pydata_sphinx_theme
    theme = Path(pydata_sphinx_theme.__file__).parent / "theme/pydata_sphinx_theme/static/webpack-macros.html"
    macros = theme.read_text()
    assert "fontawesome.js" in macros, "the theme no longer loads fontawesome.js: the override can go"
    for name in re.findall(r"{% macro (\w+)\(", macros):
        assert f"macro {name}()" in override, f"the override must define every macro of the theme's file: {name}"


# --- the browser's record of a page -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A tiny site with one good page and one page with every kind of fault the book tests look for."""
    root = tmp_path_factory.mktemp("site")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    fig, ax = plt.subplots(figsize=(2, 1))
    line, = ax.plot([0, 1], [0, 0])
    animation = FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=3, interval=50)
    jshtml = animation.to_jshtml()
    plt.close(fig)
    # matplotlib's player links Font Awesome 4 from a CDN; the good page must need no network
    good_jshtml = re.sub(r'<link rel="stylesheet"[^>]*https://[^>]*>', "", jshtml)
    assert good_jshtml != jshtml
    fig, ax = plt.subplots(figsize=(1, 1))
    fig.savefig(root / "fig.png")
    plt.close(fig)
    from book.quiz import quiz_html, read_quiz
    quiz = read_quiz(ROOT / "chapters/quizzes/02_softmax.json")
    (root / "good.html").write_text(
        "<html><body><p>Text with a price of 5 dollars.</p><pre>x = '$$ in code is fine'</pre>"
        "<div class='highlight'><pre>print('a short line')</pre></div>"
        f"<img src='fig.png'>{good_jshtml}{quiz_html(quiz)}</body></html>")
    (root / "bad.html").write_text(
        "<html><body><p>Raw math: $$ p = \\frac{1}{2} $$ and \\( x \\)</p><p>inline $\\sum_i x_i$ left</p>"
        "<img src='missing.png'><img src='https://example.com/remote.png'>"
        "<div class='cell_output'><pre>VBox(children=(IntSlider(value=3),))</pre></div>"
        "<div class='cell_output'><script type='application/vnd.jupyter.widget-view+json'>"
        '{"model_id": "0123", "version_major": 2, "version_minor": 0}</script></div>'
        "<script>console.error('from the page'); throw new Error('boom');</script>"
        "<div class='cell_input'><div class='highlight'><pre>" + "x = 1  # " + "far too long " * 30 + "</pre></div></div>"
        + re.sub(r"<script>.*?</script>", "", quiz_html(quiz), flags=re.S)  # a quiz whose script never came
        + jshtml.replace(".play_animation()", ".pause_animation()")  # a Play button that does not play
        + "</body></html>")
    return root


@pytest.fixture(scope="module")
def site_browser(site):
    with book_site.serve(site) as base, book_browser.BookBrowser(base, widget_timeout_ms=2000) as browser:
        yield browser  # the bad page's widget never renders: wait for it only briefly


@pytest.mark.slow  # drives a browser
def test_browser_records_a_good_page_as_good(site_browser, tmp_path):
    visit = site_browser.visit("good.html", screenshot=tmp_path / "good.png")
    assert visit.status == 200
    assert (visit.page_errors, visit.console_errors, visit.blocked, visit.failed_loads) == ([], [], [], [])
    assert visit.probe["raw_tex"] == [] and visit.probe["bare_widget_reprs"] == []
    assert all(image["natural_width"] > 0 for image in visit.probe["images"])
    assert [a["changed"] for a in visit.animations] == [True]
    assert visit.loaded["/good.html"] > 0 and visit.loaded["/fig.png"] > 0
    assert (tmp_path / "good.png").read_bytes().startswith(b"\x89PNG")
    assert visit.probe["code_overflow"] == [] and visit.probe["dead_controls"] == []
    [quiz] = visit.quizzes
    contrast = quiz.pop("contrast")
    assert quiz == {"name": "02_softmax", "ready": True, "questions": 6, "wrong_explained": True,
                    "right_marked": True, "number_checked": True, "error": None}
    assert min(contrast["light"].values()) >= 4.5, contrast  # this page has no dark theme: light only


@pytest.mark.slow  # drives a browser
def test_browser_records_every_fault_of_a_bad_page(site_browser):
    visit = site_browser.visit("bad.html")
    assert any("boom" in error for error in visit.page_errors)
    assert any("from the page" in error for error in visit.console_errors)
    assert "https://example.com/remote.png" in visit.blocked
    assert any("/missing.png" in failure for failure in visit.failed_loads)
    probe = visit.probe
    assert len(probe["raw_tex"]) == 2  # the $$ ... \( paragraph, the inline $\sum$ paragraph
    assert [image["natural_width"] for image in probe["images"] if "missing" in image["src"]] == [0]
    assert probe["bare_widget_reprs"] and probe["bare_widget_reprs"][0].startswith("VBox(children=")
    assert (probe["widget_views"], probe["widget_views_rendered"]) == (1, 0)
    assert [a["changed"] for a in visit.animations] == [False]
    [overflow] = [o for o in probe["code_overflow"] if o["where"] == "cell input"]
    assert overflow["scroll_width"] > overflow["client_width"] and overflow["longest_line"].startswith("x = 1  # far")
    [quiz] = visit.quizzes
    assert quiz["ready"] is False and not (quiz["wrong_explained"] or quiz["right_marked"] or quiz["number_checked"])


def test_browser_refuses_a_missing_chromium(monkeypatch):
    monkeypatch.setenv("CHROMIUM", "")
    monkeypatch.setattr(book_browser.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="setup_system.sh browser"):
        book_browser.find_chromium()


# --- widget controls that need a kernel -------------------------------------------------------------------------------

def write_widget_page(root: Path) -> dict:
    """A page laid out as myst-nb writes one, with the book's own widget manager: one view has controls that only
    a kernel would answer, one has controls linked in the page (jslink), one has no controls."""
    static = ROOT / offline_assets.STATIC
    if not (static / offline_assets.WIDGETS).is_file():
        pytest.fail(f"the widget manager is not installed under {static}: run scripts/install_web_assets.sh")
    import ipywidgets as w
    from ipywidgets.embed import dependency_state

    dead = w.VBox([w.IntSlider(3, description="n"), w.Button(description="Go")])
    a, b = w.FloatText(1.0), w.FloatSlider(1.0)
    link = w.jslink((a, "value"), (b, "value"))
    linked = w.HBox([a, b])
    shown_only = w.VBox([w.IntProgress(7, max=10), w.IntSlider(2, disabled=True), w.HTML("<b>done</b>")])
    views = [dead, linked, shown_only]
    state = dependency_state([*views, link])
    (root / "_static").mkdir(exist_ok=True)
    (root / "_static/require.js").symlink_to(static / offline_assets.REQUIRE)
    (root / "_static/html-manager").symlink_to(static / "html-manager")
    cells = "".join(f"<div class='cell_output'>{view_script(v.model_id)}</div>" for v in views)
    (root / "widgets.html").write_text(
        "<html><head><script src='_static/require.js'></script>"
        f"<script>{offline_assets.REQUIRE_PATHS_JS}</script>"
        "<script src='_static/html-manager/embed-amd.js'></script>"
        "<script type='application/vnd.jupyter.widget-state+json'>"
        f"{json.dumps({'version_major': 2, 'version_minor': 0, 'state': state})}</script>"
        f"</head><body>{cells}</body></html>")
    return {"dead": dead.model_id}


@pytest.fixture(scope="module")
def widget_page(site) -> dict:
    return write_widget_page(site)  # served by the site's server from now on


@pytest.mark.slow  # drives a browser
def test_browser_lists_controls_that_need_a_kernel(widget_page, site_browser):
    visit = site_browser.visit("widgets.html", play_animations=False, try_quizzes=False, widget_timeout_ms=60_000)
    assert (visit.page_errors, visit.blocked) == ([], [])
    assert visit.probe["widget_views_rendered"] == visit.probe["widget_views"] == 3
    assert visit.probe["dead_controls"] == [
        {"view": widget_page["dead"], "controls": ["Button 'Go'", "IntSlider 'n'"], "inputs": 2}]
