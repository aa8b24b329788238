"""The built book's pages that hold explorers, in headless Chromium with no network (``built_book``: the
session's build, or COURSE_BUILT_BOOK): they draw, fit a narrow and a wide screen, follow the dark theme, and
compute what ``book`` computes (the checks of tests/test_explorers_browser.py, on the real pages). The Chinese
pages: tests/test_book_e2e_zh.py, with this module's helper.
"""

from pathlib import Path

import pytest

from book.explorers.page import strings
from test_explorers_browser import (NARROW, WIDE, Session, check_boundary_page, check_softmax_page,  # noqa: F401
                                    check_training_page, check_xent_page, luminance, settle, slider, subset_tensors)

pytestmark = pytest.mark.slow


def explorer_pages(html: Path) -> list[str]:
    """The pages of one edition's html folder (not those of an edition inside it) that hold an explorer."""
    editions = {p.parent for p in html.glob("*/intro.html")}  # zh_CN/ inside the English site
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if "_sources" not in p.relative_to(html).parts and not any(e in p.parents for e in editions)
                  and 'class="sx-root"' in p.read_text(errors="replace"))


def check_built_explorers(chromium, book_url: str, html: Path, prefix: str = "", language: str = "en") -> None:
    """Every explorer page of the edition in ``html`` (served at ``book_url``/``prefix``): wide and light, then
    narrow and dark (an edition other than English: narrow and dark only, where longer labels overflow first)."""
    pages = explorer_pages(html)
    assert "chapters/99_widgets_gallery.html" in pages, pages
    views = ((WIDE, "light"), (NARROW, "dark")) if language == "en" else ((NARROW, "dark"),)
    for path in pages:
        for viewport, scheme in views:
            s = Session(chromium, book_url, viewport, scheme)
            try:
                page = s.open(f"{book_url}/{prefix}{path}")
                settle(page)
                kinds = page.evaluate("[...document.querySelectorAll('.sx-root')].map(r => r.dataset.kind)")
                overflowing = page.evaluate("(width) => [...document.querySelectorAll('.sx-root')].filter(r => "
                                            "r.scrollWidth > r.clientWidth || r.getBoundingClientRect().right > width)"
                                            ".map(r => r.dataset.kind)", viewport["width"])
                assert kinds and not overflowing, (path, viewport, overflowing)
                if scheme == "dark":  # light ink on the page's dark background, not on the theme's light card
                    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
                    ink, card = page.evaluate("""() => { const r = document.querySelector('.sx-root');
                        return [getComputedStyle(r.querySelector('.sx-readout')).color,
                                getComputedStyle(r.parentElement).backgroundColor]; }""")
                    assert luminance(ink) > 0.6 and (card == "rgba(0, 0, 0, 0)" or luminance(card) < 0.3), (ink, card)
                if "softmax" in kinds:
                    slider(page, "softmax", strings(language)["softmax.temperature"]).first.focus()
                    page.keyboard.press("ArrowRight")
                    check_softmax_page(page, language=language)
                s.clean()
            finally:
                s.context.close()


def test_the_built_books_explorers_work_offline(chromium, built_book, book_url):
    check_built_explorers(chromium, book_url, built_book)


def test_the_gallery_trains_in_the_page_like_book_train(chromium, built_book, book_url, subset_tensors):
    s = Session(chromium, book_url, WIDE)
    try:
        page = s.open(f"{book_url}/chapters/99_widgets_gallery.html")
        settle(page)
        check_training_page(page, subset_tensors)
        check_boundary_page(page)
        check_xent_page(page)
        s.clean()
    finally:
        s.context.close()
