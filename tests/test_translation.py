"""The Chinese edition is complete and current: every message of every catalogue translated, and the catalogues
in step with the English sources.

- Every page of _toc.yml, every chapter's quiz and every exercise (exercises/<name>.po: the Markdown of
  exercises/solutions/<name>.ipynb, from which the Chinese learner notebooks are generated) has its catalogue,
  locales/zh_CN/LC_MESSAGES/<name>.po, and no message in it is untranslated or fuzzy (a fuzzy message is one
  whose English changed since it was translated: `make catalogues` marks it, a translator checks it and removes
  the flag).
- A fresh extraction of the messages (no notebook executed) finds no message missing from a catalogue and none
  left over in it: editing an English paragraph without `make catalogues` fails here, naming the page.
- A translation keeps what must not change: cross-references and link targets, the quiz's {placeholders}.

How to update and translate: CONTRIBUTING.md. (The built Chinese pages in a browser: tests/test_book_e2e.py.)
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import book_site  # scripts/, put on sys.path by conftest.py
import i18n

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = i18n.LANGUAGES
PAGES = book_site.toc_pages(ROOT)
QUIZZES = sorted(path.stem for path in (ROOT / "chapters" / "quizzes").glob("*.json"))
EXERCISES = sorted(path.stem for path in (ROOT / "exercises" / "solutions").glob("*.ipynb"))
# Every catalogue the course needs, by name inside LC_MESSAGES/ (without .po).
EXPECTED = ([page.docname for page in PAGES] + [f"quizzes/{name}" for name in QUIZZES] + ["quizzes/ui"]
            + [f"exercises/{name}" for name in EXERCISES])
# Catalogues written by hand, not extracted from the sources: the theme's own words (scripts/translate_theme.py).
HAND_WRITTEN = ["theme"]
UPDATE = "make catalogues (.venv/bin/python scripts/i18n.py update)"


def catalogue_path(language: str, name: str) -> Path:
    return ROOT / i18n.LOCALES / language / "LC_MESSAGES" / f"{name}.po"


def read(path: Path):
    with open(path, "rb") as handle:
        return read_po(handle)


def messages(catalogue) -> list:
    """The catalogue's messages, without its header entry (msgid "") and without obsolete ones (#~)."""
    return [message for message in catalogue if message.id]


CASES = [(language, name) for language in LANGUAGES for name in EXPECTED]
ALL_CASES = CASES + [(language, name) for language in LANGUAGES for name in HAND_WRITTEN]


def case_id(case):
    return f"{case[0]}:{case[1]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_and_quiz_has_its_catalogue(language):
    folder = ROOT / i18n.LOCALES / language / "LC_MESSAGES"
    missing = [name for name in EXPECTED + HAND_WRITTEN if not catalogue_path(language, name).is_file()]
    assert missing == [], f"{language}: no catalogue for {missing}: run {UPDATE}, then translate them"
    found = sorted(path.relative_to(folder).with_suffix("").as_posix() for path in folder.rglob("*.po"))
    orphans = [name for name in found if name not in EXPECTED + HAND_WRITTEN]
    assert orphans == [], (f"{language}: catalogues for no page, quiz or exercise (renamed or removed?): "
                           f"{orphans}; move their translations to the new name, or delete them")


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_every_message_is_translated(case):
    language, name = case
    path = catalogue_path(language, name)
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run {UPDATE}")
    entries = messages(read(path))
    untranslated = [m.id for m in entries if not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in entries if m.fuzzy and m.id not in untranslated]
    if untranslated or fuzzy:
        def sample(ids):
            return "; ".join(repr(i if len(i) < 70 else i[:67] + "...") for i in ids[:3])
        pytest.fail(f"{path.relative_to(ROOT)} ({language}): {len(untranslated)} of {len(entries)} messages "
                    f"untranslated, {len(fuzzy)} fuzzy"
                    + (" (their English changed since they were translated: check each translation, then remove "
                       "its '#, fuzzy' line)" if fuzzy else "") + ". "
                    + (f"Untranslated: {sample(untranslated)}. " if untranslated else "")
                    + (f"Fuzzy: {sample(fuzzy)}." if fuzzy else ""))


# What a translation must keep as it is: MyST roles with their targets ({doc}`chapters/01_classification`),
# Markdown link targets, bare URLs, and the quiz's {placeholders}.
ROLE = re.compile(r"\{[a-z:]+\}`[^`]*`")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")
URL = re.compile(r"https?://[^\s)>\]]+")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def kept_parts(text: str) -> dict:
    roles = [re.sub(r"`[^`<]*<([^>]+)>`", r"`\1`", role) for role in ROLE.findall(text)]  # {doc}`text <target>`
    targets = [re.sub(r"^\{[a-z:]+\}`|`$", "", role) for role in roles]
    return {"cross-references": sorted(targets), "link targets": sorted(LINK_TARGET.findall(text)),
            "URLs": sorted(URL.findall(text)), "placeholders": sorted(PLACEHOLDER.findall(ROLE.sub("", text)))}


def must_keep(name: str, text: str) -> dict:
    """What a message of catalogue ``name`` must keep; {placeholders} only in the quizzes' plain text (a page's
    braces are LaTeX: \\text{cat} may well become \\text{猫})."""
    parts = kept_parts(text)
    if not name.startswith("quizzes/"):
        del parts["placeholders"]
    return parts


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_translations_keep_references_links_and_placeholders(case):
    language, name = case
    path = catalogue_path(language, name)
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} is missing (test_every_page_and_quiz_has_its_catalogue says so)")
    problems = []
    for message in messages(read(path)):
        if not isinstance(message.string, str) or not message.string:
            continue
        source, translated = must_keep(name, message.id), must_keep(name, message.string)
        for kind in source:
            if source[kind] != translated[kind]:
                problems.append(f"{kind} {source[kind]} became {translated[kind]} in {message.id[:60]!r}")
    assert problems == [], f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


@pytest.fixture(scope="module")
def fresh_templates(tmp_path_factory) -> Path:
    """The messages of the sources as they are now: one .pot per page, per quiz and per exercise (no notebook
    executed)."""
    pot_dir = tmp_path_factory.mktemp("pot")
    i18n.extract(pot_dir)
    i18n.extract_quizzes(pot_dir)
    i18n.extract_exercises(pot_dir)
    return pot_dir


def test_extraction_covers_every_page_and_quiz(fresh_templates):
    found = sorted(path.relative_to(fresh_templates).with_suffix("").as_posix()
                   for path in fresh_templates.rglob("*.pot"))
    assert found == sorted(EXPECTED), "the extraction and the table of contents (quizzes, exercises) disagree"
    for name in EXPECTED:
        assert messages(read(fresh_templates / f"{name}.pot")), f"{name}: no message extracted"


def test_code_is_not_a_message(fresh_templates):
    """Code cells stay English and are not in the catalogues; a message that reads like code means the
    extraction took a code cell (gettext_additional_targets)."""
    code = re.compile(r"^(import [\w.]+$|from [\w.]+ import \w|def \w+\(|class \w+[(:]|print\(|for \w+ in .*:$)",
                      re.M)
    leaked = [(path.stem, message.id[:60]) for path in fresh_templates.rglob("*.pot")
              for message in messages(read(path)) if code.search(message.id)]
    assert leaked == [], f"code among the messages: {leaked}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_catalogue_is_in_step_with_the_sources(fresh_templates, case):
    language, name = case
    path = catalogue_path(language, name)
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run {UPDATE}")
    wanted = [m.id for m in messages(read(fresh_templates / f"{name}.pot"))]
    have = {m.id for m in messages(read(path))}
    missing = [message for message in wanted if message not in have]
    stale = sorted(have - set(wanted))
    if missing or stale:
        kind, _, stem = name.partition("/")
        source = next((page.source.relative_to(ROOT) for page in PAGES if page.docname == name), None) or (
            f"exercises/solutions/{stem}.ipynb" if kind == "exercises" else
            f"chapters/quizzes/{stem}.json" if name != "quizzes/ui" else "book/quiz/page.py")
        pytest.fail(f"{path.relative_to(ROOT)} is behind {source}: {len(missing)} messages of the source are not "
                    f"in it, {len(stale)} of its messages are no longer in the source. Run {UPDATE}, then "
                    "translate the new and the fuzzy messages (CONTRIBUTING.md). "
                    + (f"First new one: {missing[0][:100]!r}" if missing else f"First stale one: {stale[0][:100]!r}"))


def test_update_command_is_the_one_the_documents_name():
    """CONTRIBUTING.md and the Makefile name the same command, which exists."""
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "make catalogues" in contributing
    assert re.search(r"^catalogues:.*\n\t\$\(BIN\)/python scripts/i18n\.py update$",
                     (ROOT / "Makefile").read_text(), re.M)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "i18n.py"), "update", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "usage" in done.stdout, done.stderr


# --- the machinery: quizzes in the page's language, language links ----------------------------------------------

def write_catalogue(folder: Path, name: str, entries: dict, fuzzy: tuple = ()) -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalogue = Catalog(locale="zh_CN")
    for msgid, msgstr in entries.items():
        catalogue.add(msgid, msgstr, flags=("fuzzy",) if msgid in fuzzy else ())
    path = folder / "zh_CN" / "LC_MESSAGES" / "quizzes" / f"{name}.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        write_po(handle, catalogue)


def test_quiz_renders_in_the_language_asked_falling_back_to_english(tmp_path, monkeypatch):
    from book.quiz import load_quiz, quiz_html
    from book.quiz.page import UI_TEXT

    quiz = load_quiz("02_softmax")
    first, second = quiz.questions[0], quiz.questions[1]
    write_catalogue(tmp_path, "02_softmax", {first.prompt: "softmax(o) 的各项之和是多少？",
                                             second.prompt: "旧的译文"}, fuzzy=(second.prompt,))
    write_catalogue(tmp_path, "ui", {UI_TEXT["check"]: "检查", UI_TEXT["score"]: "答对 {right} / {total} 题。"})
    monkeypatch.setenv("COURSE_LOCALES_DIR", str(tmp_path))
    html = quiz_html(quiz, element_id="cq-t", language="zh-CN")
    assert '<div class="cq-quiz" id="cq-t" lang="zh-CN" data-quiz="02_softmax"' in html
    assert "softmax(o) 的各项之和是多少？" in html and first.prompt not in html
    assert "旧的译文" not in html and second.prompt.split("`")[0] in html  # fuzzy: English stays
    assert ">检查</button>" in html and 'data-score="答对 {right} / {total} 题。"' in html
    assert UI_TEXT["reveal"] in html  # untranslated words of the quiz itself stay English
    english = quiz_html(quiz, element_id="cq-t")
    assert ' lang="' not in english.split(">", 1)[0] and first.prompt in english
    assert quiz_html(quiz, element_id="cq-t", language="en") == english


def test_quiz_language_errors_are_clear(tmp_path, monkeypatch):
    from book.quiz import load_quiz, quiz_html

    monkeypatch.setenv("COURSE_LOCALES_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="no catalogues for language 'fr'"):
        quiz_html(load_quiz("02_softmax"), language="fr")
    with pytest.raises(ValueError, match="expected a language code"):
        quiz_html(load_quiz("02_softmax"), language="Chinese please")


def test_sphinx_extension_renders_cached_quiz_outputs_again(tmp_path, monkeypatch):
    """A quiz output kept by the execution cache is rendered again in the build's language, same element id."""
    from types import SimpleNamespace

    from docutils import nodes
    from docutils.utils import new_document

    from book.quiz import load_quiz, quiz_html
    import render_quizzes as quiz_sphinx  # scripts/, a local Sphinx extension (tests/conftest.py puts it on the path)

    quiz = load_quiz("02_softmax")
    write_catalogue(tmp_path, "02_softmax", {quiz.questions[0].prompt: "和是多少？"})
    write_catalogue(tmp_path, "ui", {})
    monkeypatch.setenv("COURSE_LOCALES_DIR", str(tmp_path))
    document = new_document("test")
    cached = quiz_html(quiz, element_id="cq-0123456789")  # what the English execution left
    other = nodes.raw("", "<p>not a quiz</p>", format="html")
    document += [nodes.raw("", cached, format="html", classes=["output", "text_html"]), other]
    app = SimpleNamespace(config=SimpleNamespace(language="zh_CN"))
    quiz_sphinx.render_quizzes(app, document, "chapters/02_softmax")
    first, second = list(document.findall(nodes.raw))
    assert first.astext() == quiz_html(quiz, element_id="cq-0123456789", language="zh_CN")
    assert "和是多少？" in first.astext() and first["classes"] == ["output", "text_html"]
    assert second is other and second.astext() == "<p>not a quiz</p>"


@pytest.mark.parametrize("pagename, language, expected", [
    ("intro", "en", {"en": "intro.html", "zh_CN": "zh_CN/intro.html"}),
    ("chapters/02_softmax", "en", {"en": "../chapters/02_softmax.html", "zh_CN": "../zh_CN/chapters/02_softmax.html"}),
    ("intro", "zh_CN", {"en": "../intro.html", "zh_CN": "../zh_CN/intro.html"}),
    ("chapters/02_softmax", "zh_CN",
     {"en": "../../chapters/02_softmax.html", "zh_CN": "../../zh_CN/chapters/02_softmax.html"}),
])
def test_language_links_are_relative_and_reach_the_same_page(pagename, language, expected):
    import language_links

    found = {link["language"]: link["href"] for link in language_links.links(pagename, language)}
    assert found == expected
    current = [link["language"] for link in language_links.links(pagename, language) if link["current"]]
    assert current == [language]
    with pytest.raises(ValueError, match="has no edition"):
        language_links.links(pagename, "fr")


# --- the glossary rule: one Chinese term per concept --------------------------------------------------------------

GLOSSARY_PAGE = "chapters/12_where_next"
CJK = re.compile(r"[\u4e00-\u9fff]")


def glossary() -> list[tuple[str, str, list[str]]]:
    """(English, the Chinese term, its alternatives) for each row of the last chapter's glossary whose Chinese
    cell reads "term（alternative，alternative）"; only alternatives written in Chinese of 3 or more characters
    count (Latin names such as ReLU and short qualifiers such as （估计） are not rival terms)."""
    import nbformat

    notebook = nbformat.read(ROOT / f"{GLOSSARY_PAGE}.ipynb", as_version=4)
    text = next(cell.source for cell in notebook.cells if cell.cell_type == "markdown" and "## Glossary" in cell.source)
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not CJK.search(cells[1]) or "(" in cells[0]:
            continue  # "fully connected (linear) layer": both languages accept the alternative
        match = re.fullmatch(r"(.+?)（(.+)）", cells[1])
        if not match:
            continue
        alternatives = [alt.strip() for alt in re.split(r"[，；,;]", match.group(2))]
        alternatives = [alt for alt in alternatives if len(CJK.findall(alt)) >= 3 and alt not in match.group(1)]
        if alternatives:
            rows.append((cells[0], match.group(1).strip(), alternatives))
    return rows


def test_glossary_has_rows_with_alternatives():
    rows = glossary()
    assert len(rows) >= 5, rows  # dropout, Hessian, KL divergence, ... (the chapter's table)
    assert ("dropout", "暂退法", ["丢弃法"]) in rows


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_chinese_term_per_concept(language):
    """A glossary term's alternative (丢弃法 for 暂退法) appears only in parentheses with the term, as the glossary
    writes it ("暂退法（丢弃法）"): the term itself is used everywhere else (CONTRIBUTING.md, the glossary rule)."""
    rows = glossary()
    offences = []
    for name in EXPECTED:
        path = catalogue_path(language, name)
        if name == GLOSSARY_PAGE or not path.is_file():
            continue  # the glossary names the alternatives on purpose
        for message in messages(read(path)):
            if not isinstance(message.string, str) or not message.string:
                continue
            for english, term, alternatives in rows:
                # allowed: "term（alt）", and a parenthesis that names the term with the alternative
                text = re.sub(re.escape(term) + r"\s*（[^）]*）", term, message.string)
                text = re.sub(r"（[^）]*" + re.escape(term) + r"[^）]*）", "", text)
                text = text.replace(term, "")  # an alternative inside the term itself (标准误 in 标准误差)
                offences += [f"{name}: {alt!r} for {english!r} (use {term!r}) in {message.string[:50]!r}"
                             for alt in alternatives if alt in text]
    assert offences == [], "other terms than the glossary's:\n  " + "\n  ".join(offences[:20])
