"""The built book as a reader meets it: every page of the table of contents opened in headless Chromium, with no
network but the local server that serves the book.

One browser visits each page once (scripts/book_browser.py records what it shows, saves a screenshot under
_build/screenshots/ (the first screen; COURSE_SCREENSHOTS=full keeps whole pages, to read them through), presses play on each training animation and answers each quiz); the tests below judge
those records, so a failure names the page and what is wrong there. The page-weight report is printed at the end
of the session and written to _build/page_weight.json; every page must stay within the budget.
"""

import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest

import book_browser
import book_site
import page_weight

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGES = book_site.toc_pages(ROOT)  # read at collection: every page in _toc.yml, whatever chapters exist
NOTEBOOK_PAGES = [page for page in PAGES if page.is_notebook]
LAUNCH = book_site.launch_settings(ROOT)
SCREENSHOTS = ROOT / "_build" / "screenshots"
FULL_PAGE = os.environ.get("COURSE_SCREENSHOTS") == "full"  # whole-page screenshots cost ~3 s a chapter
WEIGHT_JSON = ROOT / "_build" / "page_weight.json"
ZH = "zh_CN"  # the folder of the Chinese edition inside the site (scripts/language_links.py)

# Math in a page's source: $$..$$, $..$ (dollarmath), \(..\), \[..\], amsmath environments, {math} roles.
SOURCE_MATH = re.compile(r"\$\$|\$[^\s$][^$\n]*\$|\\\(|\\\[|\\begin\{|\{math\}")


def page_id(page):
    return page.docname


def source_has_math(page) -> bool:
    if page.is_notebook:
        text = "\n".join(c.source for c in nbformat.read(page.source, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = re.sub(r"^```.*?^```", "", page.source.read_text(), flags=re.S | re.M)  # code blocks are not math
    return bool(SOURCE_MATH.search(text))


@pytest.fixture(scope="module")
def browser(book_url):
    with book_browser.BookBrowser(book_url) as browser:
        yield browser


@pytest.fixture(scope="module")
def visits(browser, built_book, show_page_weight) -> dict:
    """Every page of the table of contents, visited once: {docname: PageVisit}."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):  # pages since removed from the book must not leave stale pictures
        if not old.name.startswith(f"{ZH}_"):  # the Chinese pages' are test_book_e2e_zh.py's
            old.unlink()
    visits = {page.docname: browser.visit(page.html, screenshot=SCREENSHOTS / f"{page.slug}.png", full_page=FULL_PAGE)
              for page in PAGES}
    summary = page_weight.weight_summary({page.html: visits[page.docname].loaded for page in PAGES},
                                         html_dir=built_book)
    WEIGHT_JSON.write_text(json.dumps(summary, indent=1))
    show_page_weight(page_weight.format_report(summary) + f"\n(written to {WEIGHT_JSON.relative_to(ROOT)})")
    return visits


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def counted(kind: str, messages: list[str]) -> list[str]:
    """One line per distinct message, with how often it came."""
    return [f"{kind}: {message}" + (f" (x{messages.count(message)})" if messages.count(message) > 1 else "")
            for message in dict.fromkeys(messages)]


def load_problems(visit) -> list[str]:
    """What went wrong loading a page: its status, JavaScript errors, files that failed or never finished."""
    problems = [f"HTTP {visit.status}"] if visit.status != 200 else []
    problems += counted("uncaught JavaScript error", visit.page_errors)
    problems += counted("console error", visit.console_errors)
    problems += counted("did not load", visit.failed_loads)
    problems += [f"still loading after {book_browser.SETTLE_TIMEOUT_MS} ms: {url}" for url in visit.unsettled]
    return problems


def site_path(url: str) -> str:
    """The page a same-site URL points at, as a path inside the book ("chapters/02_softmax.html")."""
    return urlsplit(url).path.lstrip("/")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_loads_without_errors(visits, page):
    visit = visits[page.docname]
    problems = load_problems(visit)
    assert problems == [], f"{page.html}:\n  " + "\n  ".join(problems)
    assert visit.screenshot and visit.screenshot.stat().st_size > 0, f"{page.html}: no screenshot saved"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_needs_no_network(visits, page):
    blocked = visits[page.docname].blocked
    assert blocked == [], (f"{page.html} asked for files outside the book (blocked: the book must work offline): "
                           f"{sorted(set(blocked))}")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_math_is_typeset(visits, page):
    probe = visits[page.docname].probe
    assert probe["math_errors"] == [], f"{page.html}: MathJax could not typeset: {probe['math_errors']}"
    assert probe["untypeset_math"] == [], f"{page.html}: math left as TeX (malformed?): {probe['untypeset_math']}"
    assert probe["raw_tex"] == [], f"{page.html}: raw TeX in the text (malformed math?): {probe['raw_tex']}"
    if source_has_math(page):
        assert probe["mjx_containers"] > 0, f"{page.html}: its source has math, but MathJax typeset nothing"
    assert probe["mjx_containers"] >= probe["math_elements"], (
        f"{page.html}: {probe['math_elements']} formulas, {probe['mjx_containers']} typeset")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_image_loads(visits, page):
    broken = [image for image in visits[page.docname].probe["images"]
              if not image["complete"] or image["natural_width"] == 0]
    assert broken == [], f"{page.html}: images that did not load (broken figure path?): {broken}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_widgets_render(visits, page):
    probe = visits[page.docname].probe
    # Without its saved state a widget is shown as its text repr ("VBox(children=...)"): checked on every page.
    assert probe["bare_widget_reprs"] == [], (f"{page.html}: widgets shown as bare text, not rendered (widget "
                                              f"state missing from the notebook?): {probe['bare_widget_reprs']}")
    # A page may save widget state without showing a view (widgets closed before the cell ended): nothing to
    # render there. Every view shown must render from the saved state.
    if probe["widget_state"] or probe["widget_views"]:
        assert probe["widget_views_rendered"] == probe["widget_views"], (
            f"{page.html}: {probe['widget_views_rendered']} of {probe['widget_views']} widget views rendered "
            "(widget manager missing, or widget state lost?)")
        assert not probe["loading_widget_text"], f"{page.html}: 'Loading widget...' left on the page"
        assert probe["widget_error_text"] is None, f"{page.html}: {probe['widget_error_text']}"


def test_training_animations_play(visits, built_book):
    """Every matplotlib (to_jshtml) animation in the book changes frame after its Play button is pressed."""
    with_animation = [page for page in PAGES if 'class="animation"' in (built_book / page.html).read_text()]
    assert with_animation, "no page of the book carries a training animation (monitor.animation())"
    for page in with_animation:
        animations = visits[page.docname].animations
        assert animations, f"{page.html}: the HTML holds an animation, but the browser found none"
        for animation in animations:
            assert animation["has_play"] and animation["frames"] > 1, f"{page.html}: no playable animation: {animation}"
            assert animation["changed"], (f"{page.html}: the animation did not move after pressing play "
                                          f"(frame {animation['before']} -> {animation['after']}; {animation['error']})")


@pytest.mark.parametrize("page", NOTEBOOK_PAGES, ids=page_id)
def test_launch_menu_opens_this_notebook(visits, page):
    links = visits[page.docname].probe["external_links"]
    notebook = LAUNCH.notebook_path(page)
    binder = [url for url in links if url.startswith(LAUNCH.binderhub_url + "/")]
    colab = [url for url in links if url.startswith(LAUNCH.colab_url + "/")]
    assert binder, f"{page.html}: no Binder link in the launch menu"
    assert colab, f"{page.html}: no Colab link in the launch menu"
    for url in binder:
        parts = urlsplit(url)
        assert parts.path == f"{urlsplit(LAUNCH.binderhub_url).path}/v2/gh/{LAUNCH.owner_repo}/{LAUNCH.branch}", url
        opened = [value for values in parse_qs(parts.query).values() for value in values]
        assert any(value.endswith("/" + notebook) or value == notebook for value in opened), (
            f"{page.html}: the Binder link does not open {notebook}: {url}")
    assert f"{LAUNCH.colab_url}/github/{LAUNCH.owner_repo}/blob/{LAUNCH.branch}/{notebook}" in colab, (
        f"{page.html}: the Colab link does not open {notebook}: {colab}")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_sidebar_lists_every_page(visits, page):
    probe = visits[page.docname].probe
    assert probe["sidebar_visible"], f"{page.html}: the sidebar is not shown at {book_browser.VIEWPORT}"
    listed = {site_path(url) for url in probe["sidebar_links"]}
    missing = [other.html for other in PAGES if other.html not in listed]
    assert missing == [], f"{page.html}: the sidebar does not list {missing}"


@pytest.mark.parametrize("index", range(len(PAGES)), ids=[page.docname for page in PAGES])
def test_previous_and_next_follow_the_table_of_contents(visits, book_url, index):
    page, probe = PAGES[index], visits[PAGES[index].docname].probe
    expected_prev = PAGES[index - 1].html if index > 0 else None
    expected_next = PAGES[index + 1].html if index + 1 < len(PAGES) else None
    found_prev = site_path(probe["prev"]) if probe["prev"] else None
    found_next = site_path(probe["next"]) if probe["next"] else None
    assert (found_prev, found_next) == (expected_prev, expected_next), (
        f"{page.html}: previous/next are {found_prev}/{found_next}, the table of contents says "
        f"{expected_prev}/{expected_next}")
    for url in filter(None, [probe["prev"], probe["next"]]):
        assert http_status(url) == 200, f"{page.html}: {url} does not load"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_weight_within_budget(visits, built_book, page):
    summary = json.loads(WEIGHT_JSON.read_text())
    total = next(p["total_gzip_bytes"] for p in summary["pages"] if p["page"] == page.html)
    heaviest = page_weight.largest_assets_of(visits[page.docname].loaded, built_book)
    assert total <= page_weight.BUDGET_GZIP_BYTES, (
        f"{page.html} downloads {total / 1024:,.0f} KiB gzipped, over the budget of "
        f"{page_weight.BUDGET_GZIP_BYTES / 1024:,.0f} KiB; heaviest: "
        + ", ".join(f"{path} {size / 1024:,.0f} KiB" for path, size in heaviest))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_code_fits_its_box(visits, page):
    """No code block or cell input needs a horizontal scroll bar at 1280 px (79-character lines must fit)."""
    overflow = visits[page.docname].probe["code_overflow"]
    assert overflow == [], (
        f"{page.html}: code wider than its box at {book_browser.VIEWPORT['width']} px:\n  "
        + "\n  ".join(f"{o['where']}: {o['scroll_width']} > {o['client_width']} px, longest line "
                      f"({o['characters']} characters): {o['longest_line']!r}" for o in overflow))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_control_needs_a_kernel(visits, page):
    """No slider, dropdown, button or field is shown that does nothing without a kernel (jslink-ed ones work)."""
    dead = visits[page.docname].probe["dead_controls"]
    assert dead == [], (f"{page.html} shows widget controls that only a kernel would answer (make them work in "
                        "the page, or show a static figure): "
                        + "; ".join(", ".join(view["controls"]) for view in dead))


QUIZ_PAGES = [page for page in NOTEBOOK_PAGES if (ROOT / "chapters" / "quizzes" / f"{page.source.stem}.json").is_file()]


@pytest.mark.parametrize("page", QUIZ_PAGES, ids=page_id)
def test_quiz_answers_in_the_page(visits, page):
    """A wrong answer shows its explanation, the right one is marked, a number is checked: no kernel needed."""
    quizzes = visits[page.docname].quizzes
    assert [quiz["name"] for quiz in quizzes] == [page.source.stem], (
        f"{page.html}: expected the quiz {page.source.stem!r}, found {[quiz['name'] for quiz in quizzes]}")
    quiz = quizzes[0]
    assert quiz["ready"], f"{page.html}: the quiz's script did not run"
    assert quiz["error"] is None, f"{page.html}: {quiz['error']}"
    assert quiz["wrong_explained"] in (True, None) and quiz["right_marked"] in (True, None), quiz
    assert quiz["number_checked"] in (True, None), quiz
    assert True in (quiz["wrong_explained"], quiz["number_checked"]), f"{page.html}: no question was answered"
    for theme, ratios in quiz["contrast"].items():  # WCAG AA for text: 4.5
        assert min(ratios.values()) >= 4.5, f"{page.html}: the quiz is hard to read in {theme} mode: {ratios}"


def test_search_finds_softmax(browser):
    visit, results = browser.search("softmax")
    assert visit.status == 200
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    assert visit.blocked == [], f"the search page asked for files outside the book: {visit.blocked}"
    assert results, f"searching 'softmax' found nothing; the page says: {visit.probe['search_text']!r}"
    toc = {page.html for page in PAGES}
    assert {site_path(url) for url in results} & toc, f"no page of the book among the results: {results}"


def test_page_weight_report_covers_every_page(visits):
    summary = json.loads(WEIGHT_JSON.read_text())
    assert [p["page"] for p in summary["pages"]] == [page.html for page in PAGES]
    for p in summary["pages"]:
        assert p["html_bytes"] > 0 and p["total_bytes"] > p["html_bytes"], p  # the HTML and what it loads
        assert 0 < p["total_gzip_bytes"] < p["total_bytes"], p
    assert summary["largest_assets"], summary


# --- the language links (the Chinese pages': test_book_e2e_zh.py) -------------------------------------------

def check_language_links(visit, page, own: str) -> None:
    """The page links, by a relative address, to the same page in the other edition (which the browser loaded,
    marked with its language), and names the pair as <link rel="alternate" hreflang>."""
    other, target = ("zh-CN", f"{ZH}/{page.html}") if own == "en" else ("en", page.html)
    both = sorted([["en", f"/{page.html}"], ["zh-CN", f"/{ZH}/{page.html}"]])
    probe, where = visit.probe, site_path(visit.url)
    assert probe["lang"] == own, f"{where}: <html lang={probe['lang']!r}>, expected {own!r}"
    links = [link for link in probe["language_links"] if link["hreflang"] == other]
    assert len(links) == 1, f"{where}: {len(links)} links to the {other} page ({probe['language_links']})"
    href = links[0]["href"]
    assert not urlsplit(href).scheme and not href.startswith("/"), f"{where}: {href} is not relative"
    assert site_path(links[0]["url"]) == target, f"{where}: the {other} link leads to {links[0]['url']}"
    assert sorted([lang, urlsplit(url).path] for lang, url in probe["alternates"]) == both, probe["alternates"]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_links_to_the_same_chinese_page(visits, page):
    check_language_links(visits[page.docname], page, own="en")
