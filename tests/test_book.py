"""The book builds with -W (a failing cell fails it), holds every page of the table of contents, serves its
browser assets itself, and has no broken internal link or anchor. (How the pages render in a browser:
tests/test_book_e2e.py; both use the session's one build, see conftest.py.)"""

import re
from pathlib import Path

import pytest

import book_site  # scripts/, put on sys.path by conftest.py

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGES = book_site.toc_pages(ROOT)


@pytest.mark.parametrize("path", [page.html for page in PAGES] + ["search.html", "searchindex.js"])
def test_build_produces_every_page(built_book, path):
    assert (built_book / path).is_file(), f"{path} is missing from the built book"


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


def test_no_broken_internal_link_or_anchor(built_book):
    broken, checked = book_site.broken_internal_links(built_book)
    assert checked >= len(PAGES), f"only {checked} internal links found: is {built_book} the whole book?"
    assert broken == [], f"{len(broken)} broken internal links:\n" + "\n".join(map(str, broken))
