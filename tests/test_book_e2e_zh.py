"""The Chinese edition as a reader meets it (issue 16): every page again under zh_CN/, opened in headless
Chromium like the English ones (tests/test_book_e2e.py, whose helpers this module shares), its translation
checked against the catalogues, its language links, search and explorers.

A module of its own so that `make test` visits the two editions side by side, one pytest-xdist worker each.
"""

import re
from urllib.parse import urlsplit

import pytest

import book_browser
import page_weight
from test_book_e2e import (FULL_PAGE, NOTEBOOK_PAGES, PAGES, QUIZ_PAGES, ROOT, SCREENSHOTS, ZH, browser,  # noqa: F401
                           check_language_links, load_problems, page_id, site_path, source_has_math)
from test_explorers_in_the_book import check_built_explorers

pytestmark = pytest.mark.slow


def zh_catalogue(name: str) -> dict:
    """The translated, non-fuzzy messages of locales/zh_CN/LC_MESSAGES/<name>.po."""
    from babel.messages.pofile import read_po

    path = ROOT / "locales" / ZH / "LC_MESSAGES" / f"{name}.po"
    with open(path, "rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id and m.string and not m.fuzzy}


@pytest.fixture(scope="module")
def browser_zh(browser):
    """The same Chromium, reading the Chinese edition: paths are relative to <site>/zh_CN/."""
    import copy

    zh = copy.copy(browser)
    zh.base_url = f"{browser.base_url}/{ZH}"
    return zh


@pytest.fixture(scope="module")
def visits_zh(browser_zh, built_book_zh) -> dict:
    """Every Chinese page, visited once like the English ones: {docname: PageVisit}."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{ZH}_*.png"):  # pages since removed from the book must not leave stale pictures
        old.unlink()
    return {page.docname: browser_zh.visit(page.html, screenshot=SCREENSHOTS / f"{ZH}_{page.slug}.png",
                                           full_page=FULL_PAGE)
            for page in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_chinese_page_loads_offline_without_errors(visits_zh, page):
    visit = visits_zh[page.docname]
    problems = load_problems(visit)
    problems += [f"asked for a file outside the book: {url}" for url in sorted(set(visit.blocked))]
    assert problems == [], f"{ZH}/{page.html}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_chinese_page_typesets_math_and_loads_images(visits_zh, page):
    probe = visits_zh[page.docname].probe
    assert probe["math_errors"] == [] and probe["untypeset_math"] == [] and probe["raw_tex"] == [], (
        f"{ZH}/{page.html}: math not typeset (a translation broke a formula?): "
        f"{probe['math_errors'] or probe['untypeset_math'] or probe['raw_tex']}")
    if source_has_math(page):
        assert probe["mjx_containers"] > 0, f"{ZH}/{page.html}: its source has math, but MathJax typeset nothing"
    broken = [image for image in probe["images"] if not image["complete"] or image["natural_width"] == 0]
    assert broken == [], f"{ZH}/{page.html}: images that did not load: {broken}"
    assert probe["bare_widget_reprs"] == [] and probe["dead_controls"] == [], f"{ZH}/{page.html}: {probe}"
    assert probe["widget_views_rendered"] == probe["widget_views"], f"{ZH}/{page.html}: widgets not rendered"


def page_title(html: str) -> str:
    """The text of a built page's <h1>, without its tags and its "#" anchor link."""
    import html as html_module

    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    text = re.sub(r'<a class="headerlink".*?</a>', "", h1.group(1), flags=re.S) if h1 else ""
    return html_module.unescape(re.sub(r"<[^>]+>", "", text)).strip()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_chinese_page_is_the_translated_page(built_book, built_book_zh, page):
    """<html lang="zh-CN">, and the page's title is its catalogue's translation of the English title (the
    English one where it is untranslated: tests/test_translation.py fails for that)."""
    html = (built_book_zh / page.html).read_text(encoding="utf-8")
    assert re.search(r'<html[^>]* lang="zh-CN"', html), f"{ZH}/{page.html}: not marked lang=\"zh-CN\""
    english = page_title((built_book / page.html).read_text(encoding="utf-8"))
    def plain(text):  # a message as its heading shows it: without Markdown's emphasis and code marks
        return re.sub(r"[*`]", "", text)

    catalogue = {plain(msgid): plain(msgstr) for msgid, msgstr in zh_catalogue(page.docname).items()}
    assert english, f"{page.html}: no <h1>"
    expected = catalogue.get(english, english)
    assert page_title(html) == expected, (
        f"{ZH}/{page.html}: the title is {page_title(html)!r}; the catalogue translates {english!r} as "
        f"{catalogue.get(english)!r}")


@pytest.mark.parametrize("page", QUIZ_PAGES, ids=page_id)
def test_chinese_quiz_answers_in_the_page(visits_zh, page):
    quizzes = visits_zh[page.docname].quizzes
    assert [quiz["name"] for quiz in quizzes] == [page.source.stem], f"{ZH}/{page.html}: {quizzes}"
    quiz = quizzes[0]
    assert quiz["ready"] and quiz["error"] is None, f"{ZH}/{page.html}: {quiz}"
    assert quiz["wrong_explained"] in (True, None) and quiz["right_marked"] in (True, None), quiz
    assert quiz["number_checked"] in (True, None), quiz
    assert True in (quiz["wrong_explained"], quiz["number_checked"]), f"{ZH}/{page.html}: no question was answered"
    for theme, ratios in quiz["contrast"].items():
        assert min(ratios.values()) >= 4.5, f"{ZH}/{page.html}: the quiz is hard to read in {theme} mode: {ratios}"


@pytest.mark.parametrize("page", QUIZ_PAGES, ids=page_id)
def test_chinese_quiz_is_in_chinese(built_book_zh, page):
    """The quiz of a Chinese page is rendered in Chinese (scripts/render_quizzes.py), from the quiz's catalogue."""
    from book.quiz import load_quiz

    html = (built_book_zh / page.html).read_text(encoding="utf-8")
    assert re.search(rf'<div class="cq-quiz" id="cq-[^"]+" lang="zh-CN" data-quiz="{page.source.stem}"', html), (
        f"{ZH}/{page.html}: the quiz is not marked lang=\"zh-CN\" (render_quizzes not loaded?)")
    prompt = load_quiz(page.source.stem).questions[0].prompt
    expected = zh_catalogue(f"quizzes/{page.source.stem}").get(prompt, prompt)
    first = re.search(r'<p class="cq-prompt"[^>]*>(.*?)</p>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", first) == re.sub(r"`", "", expected), (
        f"{ZH}/{page.html}: the first question reads {first!r}, its catalogue says {expected!r}")


def test_chinese_search_finds_a_page_by_its_chinese_title(browser_zh, built_book, built_book_zh):
    """Sphinx's Chinese search (words split by jieba) finds a chapter by the Chinese words of its title."""
    cjk = re.compile(r"[\u4e00-\u9fff]{2,}")
    for page in NOTEBOOK_PAGES:
        title = page_title((built_book_zh / page.html).read_text(encoding="utf-8"))
        if title != page_title((built_book / page.html).read_text(encoding="utf-8")) and cjk.search(title):
            break
    else:
        pytest.fail("no chapter has a Chinese title yet, so the Chinese search cannot be tried: translate the "
                    "titles (tests/test_translation.py lists what is untranslated)")
    query = max(cjk.findall(title), key=len)
    visit, results = browser_zh.search(query, timeout_ms=10_000)
    assert visit.status == 200 and visit.page_errors == [] and visit.blocked == [], visit
    found = {site_path(url).removeprefix(f"{ZH}/") for url in results}
    assert page.html in found, (f"searching {query!r} (from the title {title!r}) in the Chinese edition found "
                                f"{sorted(found)}; the page says {visit.probe['search_text']!r}")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_chinese_page_links_to_the_same_english_page(visits_zh, page):
    check_language_links(visits_zh[page.docname], page, own="zh-CN")


def test_clicking_the_language_links_goes_there_and_back(browser, built_book_zh):
    """A reader's round trip on one chapter: English -> its 中文 link -> the Chinese page -> its English link."""
    page = next(p for p in PAGES if p.is_notebook)
    visit = book_browser.PageVisit(url=f"{browser.base_url}/{page.html}")
    context, tab = browser._open(visit)
    try:
        tab.goto(visit.url, wait_until="load")
        for language, expected in (("zh-CN", f"{ZH}/{page.html}"), ("en", page.html)):
            link = tab.locator(f'a.course-language-link[hreflang="{language}"]')
            assert link.count() == 1, f"{site_path(tab.url)}: {link.count()} links to the {language} page"
            with tab.expect_navigation(wait_until="load"):
                link.click()
            arrived = (site_path(tab.url), tab.evaluate("document.documentElement.lang"))
            assert arrived == (expected, language), f"{page.html}: followed the {language} link to {arrived}"
    finally:
        context.close()
    assert visit.blocked == [] and visit.page_errors == [], (visit.blocked, visit.page_errors)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_chinese_page_weight_within_budget(visits_zh, built_book, page):
    """The same budget as the English pages (server paths are under /zh_CN/, hence the site's root here)."""
    loaded = visits_zh[page.docname].loaded
    summary = page_weight.weight_summary({page.html: loaded}, html_dir=built_book)
    total = summary["pages"][0]["total_gzip_bytes"]
    assert total <= page_weight.BUDGET_GZIP_BYTES, (
        f"{ZH}/{page.html} downloads {total / 1024:,.0f} KiB gzipped, over the budget of "
        f"{page_weight.BUDGET_GZIP_BYTES / 1024:,.0f} KiB; heaviest: "
        + ", ".join(f"{path} {size / 1024:,.0f} KiB"
                    for path, size in page_weight.largest_assets_of(loaded, built_book)))


def toc_captions() -> list[str]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [part["caption"] for part in toc.get("parts", []) if part.get("caption")]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_chinese_sidebar_captions_are_translated(built_book_zh, page):
    """The sidebar's part captions come from _toc.yml; their translations are in intro.po
    (scripts/translate_toc.py applies them). English where untranslated: tests/test_translation.py fails."""
    import html as html_module

    catalogue = zh_catalogue("intro")
    expected = [catalogue.get(caption, caption) for caption in toc_captions()]
    text = (built_book_zh / page.html).read_text(encoding="utf-8")
    shown = [html_module.unescape(c) for c in re.findall(r'<span class="caption-text">([^<]*)</span>', text)]
    assert shown == expected, f"{ZH}/{page.html}: the sidebar's captions are {shown}, expected {expected}"


def test_the_chinese_pages_explorers_work_offline(browser, built_book_zh, book_url):
    """The Chinese pages run the same scripts as the English ones: their text is what differs, so they are
    opened in the narrow, dark view only, where longer labels would overflow first. (In the Chromium this
    module's visits use: Playwright's sync API runs one instance per thread.)"""
    check_built_explorers(browser._browser, book_url, built_book_zh, prefix=f"{ZH}/", language=ZH)


# Names the Chinese chrome keeps in Latin letters: services, a key, the other edition's link, file types.
THEME_NAMES = {"Binder", "Colab", "Thebe", "PDF", "Ctrl", "English", "ipynb", "md", "pdf"}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_chinese_page_chrome_is_chinese(visits_zh, page):
    """No English word outside the article but names (locales/zh_CN/LC_MESSAGES/theme.po,
    scripts/translate_theme.py)."""
    english = sorted({text for text in visits_zh[page.docname].probe["chrome_text"]
                      if not CJK.search(text) and set(re.findall(r"[A-Za-z]{2,}", text)) - THEME_NAMES})
    assert english == [], f"{ZH}/{page.html}: English outside the article: {english}; add it to theme.po"


def output_images(html_path) -> list[str]:
    """The file names of the images a page's executed cells output (a chapter's figures), in page order."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html_path.read_text(encoding="utf-8"), "html.parser")
    return [img["src"].rsplit("/", 1)[-1] for output in soup.select("div.cell_output") for img in output.find_all("img")
            if img.get("src", "").endswith(".png")]


@pytest.mark.parametrize("page", NOTEBOOK_PAGES, ids=page_id)
def test_chinese_figures_are_the_chinese_drawings(built_book, built_book_zh, page):
    """Each figure of a chapter is, on the Chinese page, the drawing with Chinese words (book/figure_language.py,
    scripts/translate_figures.py): as many figures as on the English page, none of them the English file; and no
    figure was drawn with missing glyphs."""
    english, chinese = output_images(built_book / page.html), output_images(built_book_zh / page.html)
    assert len(chinese) == len(english), f"{ZH}/{page.html}: {len(chinese)} figures, the English page {len(english)}"
    shared = sorted(set(english) & set(chinese))
    assert shared == [], f"{ZH}/{page.html}: figures still the English drawings: {shared}"
    for html in (built_book / page.html, built_book_zh / page.html):
        text = html.read_text(encoding="utf-8")
        assert "Glyph" not in text and "does not have a glyph" not in text, f"{html}: a figure lacks glyphs"
