"""The explorers speak the page's language: their string tables are complete, and in Chromium a page with
``<html lang="zh-CN">`` shows every explorer in Chinese, working, while the same page with ``lang="en"`` shows it
in English.

The tables are ``book/explorers/web/strings.<language>.json`` (book/explorers/page.py); the JavaScript reads the
language from ``document.documentElement.lang``. The built book's two editions share one executed notebook, so
this is the only place the language can be chosen.
"""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import book_browser
import book_site
from book.explorers import (cross_entropy_explorer, decision_boundary_explorer, learning_rate_explorer,
                            softmax_explorer, standalone_page)
from book.explorers.boundaries import TOY_KINDS, DecisionBoundaryExplorer
from book.explorers.loss import CrossEntropyExplorer
from book.explorers.page import KINDS, LANGUAGES, explorer_html, strings
from book.explorers.probabilities import SoftmaxExplorer
from book.explorers.training import LearningRateExplorer

WEB = Path(__file__).resolve().parent.parent / "book" / "explorers" / "web"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Keys whose Chinese is rightly the English: "logit" is the course's Chinese term too (the catalogues write
# "logit"), and the subscript follows in the page.
SAME_IN_CHINESE = {"softmax.logit", "xent.logit"}
# Keys the JavaScript does not name literally: Python writes the line shown where scripts do not run, and the
# boundary explorer names its data by kind.
USED_BY_PYTHON = {"core.no_script", *(f"{kind}.name" for kind in KINDS)}
USED_BY_KIND = {f"boundary.kind.{kind}" for kind in TOY_KINDS}
# One Chinese term per concept, as in the chapters' catalogues and chapter 12's glossary: where the English
# text says the left, the Chinese says the right.
GLOSSARY = {
    "temperature": "温度", "cross-entropy": "交叉熵", "decision boundaries": "决策边界",
    "learning rate": "学习率", "accuracy": "准确率", "loss": "损失", "gradient": "梯度", "one-hot": "独热",
    "true class": "真实类别",
    "validation": "验证", "minibatch": "小批量", "batch size": "批量大小", "epoch": "轮", "seed": "种子",
    "hidden units": "隐藏单元", "noise": "噪声", "entropy": "熵", "probabilit": "概率", "uniform": "均匀",
}
# Latin-letter words a Chinese explorer may show: names and symbols the Chinese text keeps.
LATIN_IN_CHINESE = {"logit", "softmax", "MLP", "ReLU", "Adam", "SGD", "float64", "Fashion", "MNIST", "log"}


def tables() -> dict[str, dict[str, str]]:
    return {language: strings(language) for language in LANGUAGES}


# --- the tables ------------------------------------------------------------------------------------------------

def test_each_language_has_one_flat_table_of_texts():
    assert LANGUAGES[0] == "en"
    for language, table in tables().items():
        raw = json.loads((WEB / f"strings.{language}.json").read_text(encoding="utf-8"))
        assert raw == table and table, language
        assert all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in table.items()), language
    with pytest.raises(ValueError, match="string tables for"):
        strings("fr")


def test_every_english_text_has_its_chinese_with_the_same_placeholders():
    english, chinese = tables()["en"], tables()["zh_CN"]
    assert sorted(set(english) - set(chinese)) == [], "keys without a Chinese text (shown in English)"
    assert sorted(set(chinese) - set(english)) == [], "Chinese texts of keys that English does not have"
    for key, text in english.items():
        assert set(PLACEHOLDER.findall(chinese[key])) == set(PLACEHOLDER.findall(text)), key


def test_no_chinese_text_is_left_in_english():
    english, chinese = tables()["en"], tables()["zh_CN"]
    assert SAME_IN_CHINESE <= set(english)
    untranslated = sorted(key for key in english if key not in SAME_IN_CHINESE and (
        chinese[key] == english[key] or not CJK.search(PLACEHOLDER.sub("", chinese[key]))))
    assert untranslated == []


def test_the_chinese_texts_use_the_courses_terms():
    english, chinese = tables()["en"], tables()["zh_CN"]
    missing = [(key, term) for key, text in english.items() for word, term in GLOSSARY.items()
               if word in text.lower() and term not in chinese[key]]
    assert missing == []


def used_keys() -> set[str]:
    """Every key the scripts name: a string literal "<namespace>.<name>" (inside t(...) or chosen for it)."""
    literal = re.compile(r'"((?:core|common|%s)\.[a-z0-9_.]+)"' % "|".join(KINDS))
    return {key for path in WEB.glob("*.js") for key in literal.findall(path.read_text(encoding="utf-8"))}


def test_the_scripts_use_every_key_and_only_keys_the_table_has():
    english = tables()["en"]
    used = used_keys()
    assert sorted(used - set(english)) == [], "keys the scripts show but no table has"
    assert sorted(set(english) - used - USED_BY_PYTHON - USED_BY_KIND) == [], "keys no script uses"
    boundary = (WEB / "boundary.js").read_text()
    assert "t(`boundary.kind.${kind}`)" in boundary and USED_BY_KIND <= set(english)


def test_the_english_names_are_the_explorers_titles():
    english = tables()["en"]
    for cls in (SoftmaxExplorer, CrossEntropyExplorer, LearningRateExplorer, DecisionBoundaryExplorer):
        assert english[f"{cls.kind}.name"] == cls.title


def test_the_no_script_line_comes_in_both_languages():
    html = explorer_html(softmax_explorer(), element_id="sx-test")
    fallback = re.search(r'<p class="sx-fallback">(.*?)</p>', html).group(1)
    spans = dict(re.findall(r'<span class="sx-lang-\w+" lang="([\w-]+)">(.*?)</span>', fallback))
    assert spans["en"].startswith("Softmax and temperature: this explorer runs in your browser")
    assert spans["zh-CN"].startswith("softmax 与温度：这个探索器") and len(spans) == 2
    # both tables travel with the output, once per page and version
    carried = re.search(r"registry\[\"strings@\w+\"\] \?\?= (\{.*\})\);\n", html)
    assert html.count('registry["strings@') == 1 and json.loads(carried.group(1)) == tables()


# --- in Chromium ---------------------------------------------------------------------------------------------

def page_in(language: str, *explorers) -> str:
    page = standalone_page(*explorers, title="explorers")
    assert page.count('<html lang="en"') == 1
    return page.replace('<html lang="en"', f'<html lang="{language}"', 1)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorers-language")
    explorers = (softmax_explorer(), cross_entropy_explorer(), learning_rate_explorer(epochs=2),
                 decision_boundary_explorer(steps=100))
    for language in ("zh-CN", "en"):
        (root / f"all-{language}.html").write_text(page_in(language, *explorers), encoding="utf-8")
    with book_site.serve(root) as base:
        yield base


class Session:
    """A fresh context that aborts (and records) every request off the page's server, with the page's errors."""

    def __init__(self, browser, base: str, scripts: bool = True):
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
        self.blocked, self.errors = [], []
        self.context = browser.new_context(viewport={"width": 1000, "height": 900}, java_script_enabled=scripts)
        self.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(self.origin)
                           else (self.blocked.append(route.request.url), route.abort())[1])
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught {error}"))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" and not any(
            p.search(m.text) for p in book_browser.BENIGN_CONSOLE_ERRORS) else None)

    def clean(self):
        assert not self.errors and not self.blocked, (self.errors, self.blocked)


@pytest.fixture
def session(chromium, site):
    opened = []

    def start(**kwargs):
        opened.append(Session(chromium, site, **kwargs))
        return opened[-1]

    yield start
    for s in opened:
        s.context.close()


SETTLED = """() => [...document.querySelectorAll('.sx-root')].every(root => {
  const e = root.sxExplorer;
  if (!e) return false;
  const v = e.values();
  return v.done === undefined || (v.done && !v.running);
})"""

# Every text an explorer shows or says: its visible text, the charts' SVG text, labels for assistive technology.
SHOWN_JS = """(kind) => {
  const root = document.querySelector(`.sx-root[data-kind="${kind}"]`);
  const svgText = [...root.querySelectorAll('svg text')].map(e => e.textContent);
  const aria = [...root.querySelectorAll('[aria-label], [aria-valuetext]')]
    .map(e => e.getAttribute('aria-label') || e.getAttribute('aria-valuetext'));
  return [root.innerText, ...svgText, ...aria].join('\\n');
}"""


def open_settled(s, url):
    s.page.goto(url, wait_until="load")
    s.page.wait_for_function(SETTLED, timeout=60_000)
    return s.page


def shown(page, kind: str) -> str:
    return page.evaluate(SHOWN_JS, kind)


def english_words(text: str) -> list[str]:
    return sorted({w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text)
                   if len(w) > 1 and w not in LATIN_IN_CHINESE and not re.fullmatch(r"[a-z]|[ovpqyTHe]_?\w?", w)})


def text_of(page, kind: str, selector: str) -> str:
    return page.locator(f'.sx-root[data-kind="{kind}"] {selector}').first.inner_text()


def test_a_chinese_page_shows_every_explorer_in_chinese_and_they_work(session, site):
    s = session()
    page = open_settled(s, f"{site}/all-zh-CN.html")
    for kind in KINDS:
        text = shown(page, kind)
        assert CJK.search(text), kind
        assert english_words(text) == [], (kind, text)
    head = {kind: text_of(page, kind, ".sx-head strong") for kind in KINDS}
    assert head == {kind: strings("zh_CN")[f"{kind}.title"] for kind in KINDS}

    # softmax: the temperature slider, by keyboard; the readout follows, in Chinese
    before = text_of(page, "softmax", ".sx-readout")
    page.locator('.sx-root[data-kind=softmax] .sx-row:has(label:text-is("温度 T")) input').focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(b) => document.querySelector('.sx-root[data-kind=softmax] .sx-readout')"
                           ".innerText !== b", arg=before)
    after = text_of(page, "softmax", ".sx-readout")
    assert after.startswith("熵 H = ") and "奈特" in after and after != before

    # cross-entropy: another true class
    before = text_of(page, "xent", ".sx-readout")
    page.locator(".sx-root[data-kind=xent] fieldset:has(legend:text-is('真实类别 y')) .sx-radio",
                 has_text=re.compile(r"^2$")).click()
    after = text_of(page, "xent", ".sx-readout")
    assert "真实类别 2 的概率" in after and after != before
    assert page.locator(".sx-root[data-kind=xent] svg text", has_text="2（真实）").count() == 1

    # training: reset, then one epoch by its button
    train = page.locator(".sx-root[data-kind=train]")
    train.get_by_role("button", name="重置").click()
    assert text_of(page, "train", ".sx-readout").startswith("训练之前：验证准确率 ")
    assert text_of(page, "train", ".sx-progress").startswith("第 0 轮，共 2 轮")
    train.get_by_role("button", name="训练一轮").click()
    assert text_of(page, "train", ".sx-progress").startswith("第 1 轮，共 2 轮")
    assert text_of(page, "train", ".sx-readout").startswith("训练 1 轮之后：验证准确率 ")
    play = train.get_by_role("button", name="▶ 播放")
    play.click()
    page.wait_for_function(SETTLED, timeout=60_000)
    assert text_of(page, "train", ".sx-progress").startswith("第 2 轮，共 2 轮")
    assert train.get_by_role("button", name="▶ 播放").count() == 1  # back from ❚❚ 暂停 when the run ended

    # decision boundaries: the data by its Chinese name, then ten more steps
    boundary = page.locator(".sx-root[data-kind=boundary]")
    boundary.locator(".sx-radio", has_text="双月形").click()
    page.wait_for_function(SETTLED, timeout=60_000)
    assert "个双月形数据点" in boundary.locator("canvas").first.get_attribute("aria-label")
    boundary.get_by_role("button", name="重置").click()
    assert text_of(page, "boundary", ".sx-progress").startswith("Adam 第 0 步，共 100 步")
    boundary.get_by_role("button", name="前进（+10 步）").click()
    assert text_of(page, "boundary", ".sx-progress").startswith("Adam 第 10 步，共 100 步")
    assert text_of(page, "boundary", ".sx-readout").startswith("10 步之后：softmax 回归判对 ")
    assert values_hash_kind(page) == "moons"  # the link keeps the kind's own name
    s.clean()


def values_hash_kind(page) -> str:
    return page.evaluate("document.querySelector('.sx-root[data-kind=boundary]').sxExplorer.settings().data")


def test_the_same_page_in_english_shows_english(session, site):
    s = session()
    page = open_settled(s, f"{site}/all-en.html")
    for kind in KINDS:
        assert not CJK.search(shown(page, kind)), kind
    assert text_of(page, "softmax", ".sx-readout").startswith("entropy H = ")
    train = page.locator(".sx-root[data-kind=train]")
    train.get_by_role("button", name="Reset").click()
    train.get_by_role("button", name="Step one epoch").click()
    assert text_of(page, "train", ".sx-progress").startswith("epoch 1 of 2")
    assert text_of(page, "train", ".sx-readout").startswith("After 1 epoch: validation accuracy ")
    assert page.locator(".sx-root[data-kind=boundary] .sx-radio", has_text="moons").count() == 1
    s.clean()


def test_a_link_with_bad_settings_is_answered_in_the_pages_language(session, site):
    s = session()
    page = open_settled(s, f"{site}/all-zh-CN.html#softmax.T=hot&xent.y=9")
    note = page.locator(".sx-root[data-kind=softmax] .sx-note").inner_text()
    assert note == "已忽略链接中的这些部分（在这里不是有效的设置）：softmax.T=hot。"
    s.clean()


@pytest.mark.parametrize("language, shown_text, hidden_text", [
    ("zh-CN", "这个探索器用 JavaScript 在你的浏览器中运行", "this explorer runs in your browser"),
    ("en", "this explorer runs in your browser", "这个探索器"),
])
def test_without_scripts_the_line_in_the_pages_language_shows(session, site, language, shown_text, hidden_text):
    s = session(scripts=False)
    s.page.goto(f"{site}/all-{language}.html", wait_until="load")
    lines = s.page.locator(".sx-fallback").all_inner_texts()
    assert len(lines) == len(KINDS) and all(shown_text in line and hidden_text not in line for line in lines)
    s.clean()


def test_a_missing_chinese_text_falls_back_to_english(session, site):
    s = session()
    page = open_settled(s, f"{site}/all-zh-CN.html")
    got = page.evaluate("""() => {
      const core = Object.entries(globalThis.__softmaxCourse).find(([key]) => key.startsWith('core@'))[1];
      const tables = {en: {a: 'A {x} of {y}', b: 'B'}, zh_CN: {b: '乙'}};
      const zh = core.translator(tables, 'zh-CN');
      return [zh('a', {x: 1}), zh('b'), core.translator(tables, 'en')('b'), core.translator(tables, 'fr')('b'),
              core.language('zh'), core.language('zh_CN'), core.language('en-GB'), core.language('')];
    }""")
    assert got == ["A 1 of {y}", "乙", "B", "B", "zh_CN", "zh_CN", "en", "en"]
    s.clean()


# --- the quiz's own sentence with a number in it -----------------------------------------------------------------

def test_the_quizs_revealed_answer_is_one_sentence_in_each_language():
    from book.quiz import NumberQuestion, load_quiz, quiz_html

    quiz = load_quiz("06_softmax_scratch")
    number = next(q for q in quiz.questions if isinstance(q, NumberQuestion))
    revealed = {language: re.findall(r'data-for="revealed" hidden><strong class="cq-verdict">(.*?)</strong>',
                                     quiz_html(quiz, "cq-t", language=language))
                for language in ("en", "zh_CN")}
    shown = f"{number.answer:g}"
    assert any(text.startswith(f"The answer is {shown}") and text.endswith(".") for text in revealed["en"])
    assert any(text.startswith(f"答案是 {shown}") and text.endswith("。") for text in revealed["zh_CN"])
    assert not any("The answer" in text or text.endswith(".") for text in revealed["zh_CN"])


# --- the built book: outputs from the execution cache are written again with today's scripts and tables ---------

def test_an_output_from_an_older_package_is_rendered_again_as_today():
    from book.explorers.page import asset
    from render_explorers import render_again

    for explorer in (softmax_explorer(logits=(0.5, -1), temperature=3), learning_rate_explorer(epochs=4)):
        today = explorer_html(explorer, element_id="sx-cached1")
        before_tables = today.replace(asset("core.js"), "(() => ({ mount() {} }))()")
        before_tables = re.sub(r'const strings = .*\n', "", before_tables).replace(", explorer, strings);",
                                                                                  ", explorer);")
        assert before_tables != today
        assert render_again(before_tables) == today
    assert render_again("<p>not an explorer</p>") is None
    with pytest.raises(ValueError, match="has no settings"):
        render_again('<div class="sx-root" id="sx-x" data-kind="softmax"></div>')
    with pytest.raises(ValueError, match="not one of"):
        render_again('<div class="sx-root" id="sx-x" data-kind="sankey"></div>')


def test_the_sphinx_extension_replaces_each_explorer_output_and_nothing_else():
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    from render_explorers import render_explorers

    doctree = new_document("page", get_default_settings(Parser))
    today = explorer_html(cross_entropy_explorer(true_class=2), element_id="sx-cached2")
    stale = today.replace('"core.starting"', '"core.starting.old"')
    assert stale != today
    other = "<p>an ordinary output</p>"
    doctree += [nodes.raw("", stale, format="html", classes=["output", "text_html"]),
                nodes.raw("", other, format="html"), nodes.raw("", stale, format="latex")]
    render_explorers(None, doctree, "page")
    html_outputs = [n for n in doctree.findall(nodes.raw)]
    assert [n.astext() for n in html_outputs] == [today, other, stale]  # LaTeX output is left alone
    assert html_outputs[0]["classes"] == ["output", "text_html"]


# --- the catalogues: headers filled in, no format flags the course does not fill ---------------------------------

PLACEHOLDER_PO = """# SOME DESCRIPTIVE TITLE.
# Copyright (C) 2026
# FIRST AUTHOR <EMAIL@ADDRESS>, 2026.
#
#, fuzzy
msgid ""
msgstr ""
"Project-Id-Version: Project name not set \\n"
"Report-Msgid-Bugs-To: \\n"
"POT-Creation-Date: 2026-11-30 12:38+0000\\n"
"PO-Revision-Date: YEAR-MO-DA HO:MI+ZONE\\n"
"Last-Translator: FULL NAME <EMAIL@ADDRESS>\\n"
"Language: zh_CN\\n"
"Language-Team: zh_CN <LL@li.org>\\n"
"Plural-Forms: nplurals=1; plural=0;\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=utf-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"Generated-By: Babel 2.18.0\\n"

#, python-format
msgid "90% one-hot"
msgstr "90% 独热"

#, python-brace-format
msgid "{right} of {total}"
msgstr "{total} 题中的 {right} 题"
"""


def test_tidy_fills_the_headers_and_keeps_only_the_format_flags_the_course_fills(tmp_path):
    import shutil

    import i18n
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent
    for name in ("_config.yml", "pyproject.toml"):
        shutil.copy(root / name, tmp_path / name)
    folder = tmp_path / "locales" / "zh_CN" / "LC_MESSAGES"
    (folder / "quizzes").mkdir(parents=True)
    (folder / "chapters.po").write_text(PLACEHOLDER_PO, encoding="utf-8")
    (folder / "quizzes" / "ui.po").write_text(PLACEHOLDER_PO, encoding="utf-8")

    assert sorted(p.name for p in i18n.tidy(("zh_CN",), tmp_path)) == ["chapters.po", "ui.po"]
    assert i18n.tidy(("zh_CN",), tmp_path) == []  # nothing left to do: a second run rewrites nothing
    values = i18n.header_values(root)
    for path, kept in ((folder / "chapters.po", set()), (folder / "quizzes" / "ui.po", {"python-brace-format"})):
        text = path.read_text(encoding="utf-8")
        for placeholder in ("YEAR", "FULL NAME", "EMAIL@ADDRESS", "LL@li.org", "FIRST AUTHOR", "not set",
                            "SOME DESCRIPTIVE TITLE", "#, fuzzy"):
            assert placeholder not in text, (path.name, placeholder)
        with open(path, "rb") as handle:
            catalogue = read_po(handle)
        assert catalogue.project == values["project"] == "Softmax regression with PyTorch"
        assert catalogue.version == values["version"] and catalogue.locale_identifier == "zh_CN"
        assert values["team"] in catalogue.last_translator and values["team"] in catalogue.language_team
        assert catalogue.msgid_bugs_address.endswith("/issues")
        # the file's flag lines (Babel's reader would guess the flags again from the msgids)
        flags = {flag.strip() for line in re.findall(r"^#, (.*)$", text, re.M) for flag in line.split(",")}
        assert flags == kept, path.name
        assert catalogue["90% one-hot"].string == "90% 独热"  # translations untouched
