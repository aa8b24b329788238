"""The checkers behind the book tests catch what they are meant to catch, on small made-up sites (no book build):
the table-of-contents reader, the internal link checker, the page-weight summary, and what the browser records
for math, images, errors, network use, widgets and animations."""

import re
import textwrap

import pytest

import book_browser
import book_site
import page_weight


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
    (root / "good.html").write_text(
        "<html><body><p>Text with a price of 5 dollars.</p><pre>x = '$$ in code is fine'</pre>"
        f"<img src='fig.png'>{good_jshtml}</body></html>")
    (root / "bad.html").write_text(
        "<html><body><p>Raw math: $$ p = \\frac{1}{2} $$ and \\( x \\)</p><p>inline $\\sum_i x_i$ left</p>"
        "<img src='missing.png'><img src='https://example.com/remote.png'>"
        "<div class='cell_output'><pre>VBox(children=(IntSlider(value=3),))</pre></div>"
        "<div class='cell_output'><script type='application/vnd.jupyter.widget-view+json'>"
        '{"model_id": "0123", "version_major": 2, "version_minor": 0}</script></div>'
        "<script>console.error('from the page'); throw new Error('boom');</script>"
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


def test_browser_refuses_a_missing_chromium(monkeypatch):
    monkeypatch.setenv("CHROMIUM", "")
    monkeypatch.setattr(book_browser.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="setup_system.sh browser"):
        book_browser.find_chromium()
