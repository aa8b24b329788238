"""The book builds with -W (a failing cell fails it: this is where the chapters are executed, each in a fresh
kernel, as a learner runs them top to bottom), holds every page of the table of contents, serves its
browser assets itself, loads the widget manager only where widgets are shown, ends every chapter with its quiz,
and has no broken internal link or anchor. (How the pages render in a browser, and what they weigh:
tests/test_book_e2e.py; both use the session's one build, see conftest.py.)"""

import json
import re
from pathlib import Path

import pytest

import book_site  # scripts/, put on sys.path by conftest.py
import offline_assets

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGES = book_site.toc_pages(ROOT)


@pytest.mark.parametrize("path", [page.html for page in PAGES] + ["search.html", "searchindex.js"])
def test_build_produces_every_page(built_book, path):
    assert (built_book / path).is_file(), f"{path} is missing from the built book"


@pytest.mark.parametrize("page", [p for p in PAGES if p.is_notebook], ids=lambda page: page.docname)
def test_every_chapter_was_executed_by_the_build(built_book, page):
    """The build is where the chapters run (nbval does not run them a second time): each chapter's page shows
    outputs, one per code cell that the executed notebook would print or draw at least."""
    html = (built_book / page.html).read_text(encoding="utf-8")
    assert "cell_output" in html, f"{page.html} shows no cell output: was {page.source.name} executed?"


def scripts_of(html: str) -> list[str]:
    return re.findall(r'<script[^>]*src="([^"]+)"', html)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.docname)
def test_offline_assets_are_served_from_the_book(built_book, page):
    html = (built_book / page.html).read_text()
    scripts = scripts_of(html)
    assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], (
        f"{page.html} loads scripts from the network: is .web_assets/ installed (scripts/install_web_assets.sh)?")
    if 'class="math' in html:
        assert any("_static/mathjax/tex-chtml.js" in s for s in scripts), f"{page.html}: MathJax not served locally"
    assert not any("fontawesome.js" in s for s in scripts), (
        f"{page.html} loads Font Awesome's JavaScript (530 KB gzipped): scripts/templates/ is not in use")
    assert any("_static/scripts/bootstrap.js" in s for s in scripts), f"{page.html}: the theme's own scripts are gone"


WIDGET_STATE = re.compile(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.docname)
def test_widget_manager_only_where_widgets_are_shown(built_book, page):
    """The manager (require.js + embed-amd.js, 1.1 MB gzipped) and the saved state go only to pages that show a
    widget view, and the state holds only what those views need (scripts/offline_assets.py)."""
    html = (built_book / page.html).read_text()
    manager = [s for s in scripts_of(html) if "/require.js" in s or "html-manager/" in s]
    views = offline_assets.shown_view_ids(html)
    states = WIDGET_STATE.findall(html)
    if not views:
        assert (manager, states) == ([], []), (
            f"{page.html} shows no widget but loads {manager or 'the widget state'}")
        return
    assert manager and len(states) == 1, f"{page.html} shows {len(views)} widget views but lacks the manager/state"
    for local in manager:
        assert (built_book / page.html).parent.joinpath(local.split("?")[0]).resolve().is_file(), local
    state = json.loads(states[0])["state"]
    needed = offline_assets.prune_widget_state(state, views)
    assert set(state) == set(needed), f"{page.html} embeds {len(state) - len(needed)} widget models no view needs"


CHAPTERS_WITH_QUIZ = [page for page in PAGES
                      if (ROOT / "chapters" / "quizzes" / f"{page.source.stem}.json").is_file()]


@pytest.mark.parametrize("page", CHAPTERS_WITH_QUIZ, ids=lambda page: page.docname)
def test_chapter_ends_with_its_quiz(built_book, page):
    html = (built_book / page.html).read_text()
    assert f'data-quiz="{page.source.stem}"' in html, (
        f"{page.html} has no quiz: its last cells should be a '## Check yourself' heading and "
        f"`show_quiz(\"{page.source.stem}\")` (tagged remove-input)")
    assert 'id="check-yourself"' in html, f"{page.html}: no 'Check yourself' section"
    sections = re.findall(r'<section id="([^"]+)"', html)
    assert sections[-1] == "check-yourself", f"{page.html}: the quiz is not the last section ({sections[-3:]})"
    assert html.index('id="check-yourself"') < html.index(f'data-quiz="{page.source.stem}"')
    assert "show_quiz(" not in html, f"{page.html} shows the quiz's code: tag the cell remove-input"


def test_data_chapter_shows_its_image_grids(built_book):
    html = (built_book / "chapters" / "05_data.html").read_text()
    images = re.findall(r'<img[^>]*src="([^"]+\.png)"', html)
    assert len(images) >= 5  # two sample grids, the class grid, two bar charts...
    for src in images:
        assert (built_book / "chapters" / src).resolve().is_file(), src
    assert "ImageDataset('fashion-mnist': 60,000 train / 10,000 test" in html


def test_no_broken_internal_link_or_anchor(built_book):
    broken, checked = book_site.broken_internal_links(built_book)
    assert checked >= len(PAGES), f"only {checked} internal links found: is {built_book} the whole book?"
    assert broken == [], f"{len(broken)} broken internal links:\n" + "\n".join(map(str, broken))
