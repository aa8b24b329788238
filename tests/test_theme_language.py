"""The theme's own words (buttons, tooltips, labels, the search box) in the Chinese edition: scripts/translate_theme.py
with the catalogue locales/zh_CN/LC_MESSAGES/theme.po.

A real Sphinx build of a one-notebook book with the course's theme settings (sphinx-book-theme, launch buttons,
repository and issue buttons, Thebe, toggle buttons), once in Chinese and once in English, each in its own
process (Sphinx keeps its translations in module state): the Chinese page has no English word outside its article
but the names of things (Binder, Colab, ...), and the English page is the theme's own. The catalogue's
completeness (no untranslated or fuzzy message) is tests/test_translation.py's, like every other catalogue's.
"""

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from babel.messages.pofile import read_po

import translate_theme  # scripts/, put on sys.path by conftest.py

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "theme.po"
# Latin words a Chinese page may show outside its article: names of services and programs, a key, file types.
NAMES = {"Binder", "Colab", "Thebe", "PDF", "Ctrl", "ipynb", "pdf"}

CONF = '''
import sys
sys.path.insert(0, {scripts!r})
project = html_title = "测试课程"
author = "课程作者"
copyright = "2026"
language = {language!r}
locale_dirs = ["locales"]
extensions = ["myst_nb", "sphinx_togglebutton", "sphinx_thebe", "translate_theme"]
nb_execution_mode = "off"
html_theme = "sphinx_book_theme"
html_show_copyright = True
html_theme_options = {{
    "search_bar_text": "Search this book...",  # Jupyter Book's default
    "repository_url": "https://github.com/example/course", "repository_branch": "main", "path_to_docs": "",
    "use_repository_button": True, "use_issues_button": True,
    "launch_buttons": {{"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
                        "colab_url": "https://colab.research.google.com", "thebe": True}},
}}
'''


def start_build(tmp: Path, language: str) -> tuple[subprocess.Popen, Path]:
    """Start building a one-notebook book in ``language`` (the course's theme catalogue is its only catalogue);
    returns the process and the page it writes."""
    src = tmp / language / "src"
    (src / "locales" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copyfile(CATALOGUE, src / "locales" / "zh_CN" / "LC_MESSAGES" / "theme.po")
    (src / "conf.py").write_text(CONF.format(scripts=str(ROOT / "scripts"), language=language), encoding="utf-8")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 第一章\n\n正文。\n\n## 小节\n\n更多正文。"),
        nbformat.v4.new_code_cell("print(1)")])
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                       "name": "python3"}
    nbformat.write(notebook, src / "index.ipynb")
    out = tmp / language / "html"
    process = subprocess.Popen([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", str(src), str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    return process, out / "index.html"


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    """Both editions' page, built side by side."""
    tmp = tmp_path_factory.mktemp("theme")
    builds = {language: start_build(tmp, language) for language in ("zh_CN", "en")}
    pages = {}
    for language, (process, page) in builds.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"{language}: {stdout[-3000:]}{stderr[-3000:]}"
        assert "translate_theme" not in stderr, stderr  # the extension did not warn
        pages[language] = page.read_text(encoding="utf-8")
    return pages


class Chrome(HTMLParser):
    """The words a reader meets outside the article: text, and the attributes a browser shows or reads out."""

    SHOWN = ("title", "aria-label", "placeholder", "alt", "data-bs-title")

    def __init__(self):
        super().__init__()
        self.hidden = self.article = 0
        self.body = False
        self.words = []

    def handle_starttag(self, tag, attrs):
        self.body |= tag == "body"
        self.hidden += tag in ("script", "style")
        self.article += tag == "article"
        if self.body and not self.article:
            self.words += [value for name, value in attrs if name in self.SHOWN and value]

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")
        self.article -= tag == "article"

    def handle_data(self, data):
        if self.body and not (self.hidden or self.article) and data.strip():
            self.words.append(data.strip())


def chrome(html: str) -> list[str]:
    parser = Chrome()
    parser.feed(html)
    return parser.words


def english_outside_the_article(html: str) -> list[str]:
    return sorted({text for text in chrome(html)
                   if set(re.findall(r"[A-Za-z]{2,}", text)) - NAMES})


def translations() -> dict:
    with open(CATALOGUE, "rb") as handle:
        return {message.id: message.string for message in read_po(handle) if message.id}


def test_chinese_page_shows_no_english_outside_the_article(pages):
    assert english_outside_the_article(pages["zh_CN"]) == []


def test_chinese_page_shows_the_catalogue_in_place(pages):
    html = pages["zh_CN"]
    text = translations()
    for expected in [f'title="{text["Toggle primary sidebar"]}"', f'title="{text["Toggle secondary sidebar"]}"',
                     f'<nav class="bd-links bd-docs-nav" aria-label="{text["Main"]}">',
                     f'<nav aria-label="{text["Page"]}">', f'placeholder="{text["Search this book..."]}"',
                     f'aria-label="{text["Color mode"]}"', f'title="{text["System Settings"]}"',
                     f'title="{text["Launch on Binder"]}"', f'alt="Binder {text["logo"]}"',
                     f'title="{text["Print to PDF"]}"', f'title="{text["Link to this heading"]}"',
                     text["© Copyright %(copyright)s."] % {"copyright": "2026"},
                     f"let toggleHintShow = '{text['Click to show']}';",
                     f"let toggleHintHide = '{text['Click to hide']}';"]:
        assert expected in html
    assert "列印" not in html  # sphinx-book-theme's own zh_CN catalogue: Traditional Chinese


def test_every_translation_of_the_catalogue_reaches_the_page(pages):
    """No message of theme.po is stale: each translation shows in the built page (so the theme still asks it)."""
    missing = [msgid for msgid, msgstr in translations().items()
               if (msgstr % {"copyright": "2026"} if "%(" in msgstr else msgstr) not in pages["zh_CN"]]
    assert missing == []


def test_english_page_is_the_themes_own(pages):
    html = pages["en"]
    for english in ['title="Toggle primary sidebar"', 'aria-label="Main"', '<nav aria-label="Page">',
                    'placeholder="Search this book..."', 'title="Launch on Binder"', 'alt="Binder logo"',
                    'title="Print to PDF"', "© Copyright 2026.", "let toggleHintShow = 'Click to show';"]:
        assert english in html
    assert not re.search(r"[\u4e00-\u9fff]", "".join(chrome(html)).replace("测试课程", "").replace("第一章", "")
                         .replace("小节", "").replace("课程作者", ""))


# --- the extension's functions ---------------------------------------------------------------------------------

def test_hard_coded_attributes_become_messages():
    source = ('<button class="sidebar-toggle primary-toggle" title="Toggle primary sidebar">'
              '<nav aria-label="Main"><nav aria-label="Page"><p title="Main menu">Main</p>')
    assert translate_theme.as_messages(source) == (
        '<button class="sidebar-toggle primary-toggle" title="{{ _(\'Toggle primary sidebar\')|e }}">'
        '<nav aria-label="{{ _(\'Main\')|e }}"><nav aria-label="{{ _(\'Page\')|e }}">'
        '<p title="Main menu">Main</p>')
    assert translate_theme.as_messages(translate_theme.as_messages(source)) == translate_theme.as_messages(source)


def test_the_installed_theme_still_writes_the_hard_coded_attributes():
    """If sphinx-book-theme changes this markup, these words would stay English (the build warns too)."""
    import sphinx_book_theme

    templates = Path(sphinx_book_theme.__file__).parent / "theme" / "sphinx_book_theme"
    for template, attributes in translate_theme.HARD_CODED.items():
        found = list(templates.rglob(template))
        assert found, template
        assert any(all(attribute in path.read_text(encoding="utf-8") for attribute in attributes)
                   for path in found), (template, attributes)


def test_catalogue_loading_leaves_out_untranslated_and_fuzzy(tmp_path):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalogue = Catalog(locale="zh_CN")
    catalogue.add("Color mode", "颜色模式")
    catalogue.add("Main", "")
    catalogue.add("Page", "旧的译文", flags=("fuzzy",))
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "theme.po", "wb") as handle:
        write_po(handle, catalogue)
    loaded = translate_theme.load_catalogue([str(tmp_path / "nowhere"), str(tmp_path)], "zh_CN")
    assert loaded.gettext("Color mode") == "颜色模式"
    assert loaded.gettext("Main") == "Main" and loaded.gettext("Page") == "Page"
    assert translate_theme.load_catalogue([str(tmp_path)], "fr") is None
    assert translate_theme.load_catalogue([str(tmp_path)], "zh_CN") is not loaded  # each call its own object


def test_english_is_not_translated():
    assert not translate_theme.translating("en") and not translate_theme.translating(None)
    assert translate_theme.translating("zh_CN")
