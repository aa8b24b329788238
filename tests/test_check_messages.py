"""The exercise checks speak the learner's language (book.language): every sentence they say has its Chinese in
book/checks/messages.zh_CN.json, with the same fields, and a real check says it in Chinese under
``speaking("zh_CN")`` -- in English, unchanged, otherwise -- even with two threads judging in two languages.

The templates are found in the code, not listed by hand: every literal first argument of ``say(...)``,
``translate(...)`` or ``deferred(...)`` in book/questions.py and book/checks/*.py, and every question's title and
hints (read from the questions themselves: some titles hold values).
"""

from __future__ import annotations

import ast
import json
import re
import string
import threading
from pathlib import Path

import pytest
import torch

from book import checks, language
from book.language import LANGUAGES, check_language, current, say, set_language, speaking, translate
from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "book" / "questions.py", ROOT / "book" / "replay.py",
           *sorted((ROOT / "book" / "checks").glob("*.py")),
           ROOT / "grader" / "grade.py"]  # the grader's table of one grading, in the notebook's language
TABLE = ROOT / "book" / "checks" / "messages.zh_CN.json"
CJK = re.compile(r"[\u4e00-\u9fff]")
CODE_SPAN = re.compile(r"`[^`\n]+`")


def _call_name(node: ast.Call) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")


def templates() -> dict[str, str]:
    """English text -> "template" (formatted with fields by say) or "text" (looked up as it is: translate,
    deferred, titles, hints), as the sources use them; where a text is used both ways, "template" wins."""
    found: dict[str, str] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            texts = []
            if name in ("say", "translate", "deferred") and node.args:
                first = node.args[0]
                literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
                # translate() may look up a text marked elsewhere (a title, a deferred constant); say() may not
                assert literal or name == "translate", (
                    f"{path.name}:{node.lineno}: the first argument of {name}() must be a literal string (the "
                    f"template the table is keyed by), not {ast.unparse(first)}")
                if literal:
                    texts.append((first.value, "template" if name == "say" else "text"))
            for text, kind in texts:
                if found.get(text) != "template":
                    found[text] = kind
    for exercise in checks.exercise_ids():  # titles and hints as the questions hold them (some titles have values)
        for question in checks.load(exercise).QUESTIONS:
            for text in [question.title, *question.hints]:
                found.setdefault(text, "text")
    return found


def fields(template: str) -> list[str]:
    """The replacement fields of a format string, as written (name, conversion and format spec), sorted."""
    return sorted(f"{name}!{conv}:{spec}" for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None)


@pytest.fixture(scope="module")
def table() -> dict[str, str]:
    return json.loads(TABLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def found() -> dict[str, str]:
    return templates()


def test_the_sources_say_many_templates(found):
    # the extractor really reads the code: the verdict lines and the common helpers' sentences are among them
    assert "{question}: incorrect - {message}\nStuck? {question}.hint() gives a hint, {question}.solution() " \
           "the answer." in found
    assert found["on {on}, `{name}` returned shape {got}, expected {shape}"] == "template"
    assert found["Stable softmax of a vector"] == "text"
    assert len(found) > 100


def test_every_template_has_a_chinese_entry(found, table):
    missing = [text for text in found if text not in table]
    assert not missing, (f"{len(missing)} check messages have no entry in {TABLE.relative_to(ROOT)}; add them "
                         f"(English template -> Chinese template, same fields): {missing[:5]}")


def test_no_entry_is_stale(found, table):
    stale = [text for text in table if text not in found]
    assert not stale, f"entries of {TABLE.name} that no check says any more (remove or update them): {stale[:5]}"


def test_entries_are_chinese_with_the_same_fields_and_code(found, table):
    problems = []
    for english, chinese in table.items():
        words = english if found.get(english) != "template" else \
            "".join(text for text, *_ in string.Formatter().parse(english))  # the template without its fields
        if re.search(r"[A-Za-z]{2}", words) and not CJK.search(chinese):
            problems.append(f"left in English: {chinese!r}")
        if found.get(english) == "template":
            if fields(english) != fields(chinese):
                problems.append(f"fields differ: {fields(english)} vs {fields(chinese)} in {chinese!r}")
        if sorted(CODE_SPAN.findall(english)) != sorted(CODE_SPAN.findall(chinese)):
            problems.append(f"code spans differ: {CODE_SPAN.findall(english)} vs {CODE_SPAN.findall(chinese)}")
    assert not problems, "\n".join(problems[:10])


def test_language_choice_order_and_errors(monkeypatch):
    monkeypatch.delenv(language.ENV, raising=False)
    set_language(None)
    assert current() == "en"
    monkeypatch.setenv(language.ENV, "zh_CN")
    assert current() == "zh_CN"
    set_language("en")
    try:
        assert current() == "en"
        with speaking("zh_CN"):
            assert current() == "zh_CN"
            with speaking("en"):
                assert current() == "en"
            assert current() == "zh_CN"
        assert current() == "en"
    finally:
        set_language(None)
    monkeypatch.setenv(language.ENV, "fr")
    with pytest.raises(ValueError, match="BOOK_LANGUAGE is 'fr'.*'en', 'zh_CN'"):
        current()
    for bad in ("zh", "ZH_CN", None, ""):
        with pytest.raises(ValueError, match="choose one of them"):
            check_language(bad)
    with pytest.raises(ValueError, match="'en', 'zh_CN'"):
        set_language("de")
    assert LANGUAGES == ("en", "zh_CN")


def test_say_looks_up_then_formats(monkeypatch):
    monkeypatch.delenv(language.ENV, raising=False)
    template = "on {on}, `{name}` returned shape {got}, expected {shape}"
    english = say(template, on="[1, 2]", name="softmax", got=(2, 3), shape=(3,))
    assert english == "on [1, 2], `softmax` returned shape (2, 3), expected (3,)"
    with speaking("zh_CN"):
        chinese = say(template, on="[1, 2]", name="softmax", got=(2, 3), shape=(3,))
        assert translate("Stable softmax of a vector") != "Stable softmax of a vector"
        assert translate("a text the table does not have") == "a text the table does not have"
    assert CJK.search(chinese) and "`softmax`" in chinese and "(2, 3)" in chinese and "(3,)" in chinese


# --- real checks, in both languages --------------------------------------------------------------------------

def _wrong_softmax(z):
    return torch.exp(z) / torch.exp(z).sum()  # overflows at 1000: the stable-softmax question says so


def _judge(question, answer):
    return question.evaluate(answer)


def _record(question, answer, tmp_path, monkeypatch):
    """The answer's outputs on the planned cases, recorded as in the grader's sandbox: (cases, record)."""
    from book import protocol, replay

    plans, records = tmp_path / "plans", tmp_path / "records"
    cases = question.planned_cases(protocol.rng_for(2026, question.exercise, question.id))
    protocol.write_plan(plans / question.id, question, cases)
    protocol.finish_plans(plans)
    with monkeypatch.context() as env:
        env.setenv(protocol.PLANS_ENV, str(plans))
        env.setenv(protocol.RECORDS_ENV, str(records))
        protocol.record(question, (answer,))
    return cases, replay.read_record(records / question.id, len(cases))


def _judge_record(question, cases, recorded):
    """The verdict as the grader reaches it, from the record (book.replay), in this thread's language."""
    from book.replay import answers_for_judge

    return question.evaluate(*answers_for_judge(recorded, cases), cases=cases)


def test_a_real_check_in_english_is_unchanged(monkeypatch):
    from book.checks.ex01_softmax import q1

    monkeypatch.delenv(language.ENV, raising=False)
    verdict = _judge(q1, _wrong_softmax)
    assert verdict.status == INCORRECT
    assert verdict.message.startswith("on [1000, 1001, 1002], `softmax` returned nan")
    assert verdict.message.endswith("; exp(1000) overflows: it is inf in float32")
    assert verdict.text().startswith("q1: incorrect - on [1000, 1001, 1002], softmax returned nan")
    assert "Stuck? q1.hint() gives a hint, q1.solution() the answer." in verdict.text()


def test_a_real_check_in_chinese(monkeypatch, capsys):
    from book.checks.ex01_softmax import q1

    monkeypatch.delenv(language.ENV, raising=False)
    with speaking("zh_CN"):
        verdict = _judge(q1, _wrong_softmax)
        text = verdict.text()
        q1.hint()
        not_attempted = _judge(q1, lambda z: (_ for _ in ()).throw(NotImplementedError("write your answer here")))
        right = _judge(q1, lambda z: (z - z.max()).exp() / (z - z.max()).exp().sum())
        not_attempted_text, right_text = not_attempted.text(), right.text()
    hint = capsys.readouterr().out
    assert verdict.status == INCORRECT and CJK.search(verdict.message), verdict.message
    assert "[1000, 1001, 1002]" in verdict.message and "`softmax`" in verdict.message
    assert "nan" in verdict.message
    assert text.startswith("q1：") and "q1.hint()" in text and "q1.solution()" in text, text
    assert CJK.search(hint) and "q1.hint(2)" in hint, hint
    assert not_attempted.status == NOT_ATTEMPTED and CJK.search(not_attempted.message), not_attempted.message
    assert not_attempted_text.startswith("q1：未作答。"), not_attempted_text
    assert right.status == CORRECT and right_text == "q1：正确（2 分）。", right_text
    assert right.text() == "q1: correct (2 points)."  # the same verdict, read here in English
    # the status keys of the CSVs and JSON stay English
    assert (verdict.status, not_attempted.status, right.status) == ("incorrect", "not attempted", "correct")


def test_a_forbidden_function_is_reported_in_chinese():
    from book.checks.ex01_softmax import q1

    with speaking("zh_CN"):
        verdict = _judge(q1, lambda z: torch.softmax(z, 0))
    assert verdict.status == INCORRECT
    assert "`softmax`" in verdict.message and CJK.search(verdict.message), verdict.message


def test_two_threads_judge_records_in_two_languages_without_mixing(monkeypatch, tmp_path):
    """The grader judges several notebooks at once in threads, each record with book.replay in its notebook's
    language: each thread's speaking() is its own."""
    from book.checks.ex01_softmax import q1

    monkeypatch.delenv(language.ENV, raising=False)
    cases, recorded = _record(q1, _wrong_softmax, tmp_path, monkeypatch)
    barrier = threading.Barrier(2)
    results: dict[str, list[str]] = {}

    def judge(lang):
        with speaking(lang):
            barrier.wait()  # both threads inside their own speaking() before either judges
            results[lang] = [_judge_record(q1, cases, recorded).text() for _ in range(3)]
            barrier.wait()  # and both still inside while the other finishes

    threads = [threading.Thread(target=judge, args=(lang,)) for lang in LANGUAGES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    english = results["en"][0]
    assert english == _judge_record(q1, cases, recorded).text()  # this thread speaks English: the same text
    assert english.startswith("q1: incorrect - on [1000, 1001, 1002], softmax returned nan")
    assert all(text == english for text in results["en"])
    assert all(CJK.search(text) and text.startswith("q1：") and "[1000, 1001, 1002]" in text
               for text in results["zh_CN"]), results["zh_CN"]
    assert current() == "en"  # neither thread's choice leaked into this one


def test_the_process_choice_reaches_threads_without_their_own(monkeypatch):
    monkeypatch.delenv(language.ENV, raising=False)
    seen = []
    set_language("zh_CN")
    try:
        thread = threading.Thread(target=lambda: seen.append(current()))
        thread.start()
        thread.join()
    finally:
        set_language(None)
    assert seen == ["zh_CN"] and current() == "en"


def test_cases_are_said_by_no_one():
    """A question's cases (``*_cases(rng)``) are data the grader plans, the sandbox reads and the record is matched
    against: nothing in them may depend on the language, so no ``say``/``translate`` inside them."""
    said = []
    for path in SOURCES:
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(function, ast.FunctionDef) and function.name.endswith("_cases"):
                said += [f"{path.name}:{node.lineno} in {function.name}" for node in ast.walk(function)
                         if isinstance(node, ast.Call) and _call_name(node) in ("say", "translate")]
    assert not said, said
