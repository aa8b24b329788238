"""Figures in the page's language (book/figure_language.py, scripts/translate_figures.py, the monitor's words).

- the two drawings: the Chinese PNG differs from the English one where the texts are, and nowhere else; the
  figure's texts, tick labels and fonts are as before afterwards; a text the table lacks is listed;
- the kernel: ``import book`` in a Jupyter kernel puts the Chinese drawing in each figure output's metadata;
  outside IPython it changes nothing;
- the table: flat, placeholders kept, every entry Chinese (math only where listed as itself), the glossary's
  terms for the core concepts, Fashion-MNIST's classes as the Chinese chapters name them;
- the Sphinx extension: in a small myst-nb project built in Chinese, the page ships the Chinese PNG only, and a
  figure with a text the table lacks makes the build warn; the English build is unchanged;
- the training monitor's live view in Chromium: Chinese words on a ``lang="zh-CN"`` page, English on ``"en"``.
"""

import base64
import hashlib
import io
import json
import re
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import book_site
from book import figure_language
from book.figure_language import LANGUAGES, METADATA_KEY, has_letter, template, translate, translated, two_languages
from book.plots import figure_png

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "book" / "figure_strings.zh_CN.json"
CJK = re.compile(r"[\u4e00-\u9fff]")
CHINESE_WRITING = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")  # characters or full-width punctuation


def placeholders(text: str) -> list[str]:
    """The {fields} of a table entry ({{ and }} are braces), sorted."""
    fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    return sorted(fields, key=lambda field: (not field.isdigit(), int(field) if field.isdigit() else 0, field))

sys.path.insert(0, str(ROOT / "scripts"))
import translate_figures  # noqa: E402

# A small table for the drawing tests (the real one is tested below, as data).
SMALL = {"epoch": "轮", "loss": "损失", "a title": "一个标题", "train_loss {0}": "训练损失 {0}",
         "Trouser": "裤子", "Bag": "包", "probability": "概率", "note": "注释", "$x_1$": "$x_1$"}


@pytest.fixture
def small_table(monkeypatch):
    monkeypatch.setattr(figure_language, "table", lambda language: {} if language == "en" else SMALL)


def labelled_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    image = ax.imshow(np.arange(12.0).reshape(3, 4), extent=(0, 3, 0, 2), aspect="auto")
    ax.plot([0, 3], [0, 2], label="train_loss 0.25")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("a title")
    ax.set_xticks([0.5, 2.5], ["Trouser", "Bag"])
    ax.annotate("note", xy=(1, 1), xytext=(1.5, 1.5))
    ax.legend(loc="lower right")
    fig.colorbar(image, ax=ax).set_label("probability")
    return fig


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def text_boxes(fig):
    """The display boxes of every text drawn (tick labels included) and legend, from the last draw."""
    from matplotlib.text import Text

    from matplotlib.legend import Legend

    renderer = fig.canvas.get_renderer()
    # a legend's frame is as wide as its longest entry
    return [t.get_window_extent(renderer) for t in fig.findobj(lambda a: isinstance(a, (Text, Legend)))
            if t.get_visible() and (isinstance(t, Legend) or t.get_text())]


def state(fig):
    from matplotlib.text import Text

    return ([(t.get_text(), tuple(t.get_fontfamily())) for t in fig.findobj(Text)],
            [[label.get_text() for label in ax.get_xticklabels()] for ax in fig.axes],
            [type(ax.xaxis.get_major_formatter()) for ax in fig.axes])


# --- lines and templates --------------------------------------------------------------------------------------

def test_numbers_become_placeholders_and_come_back(small_table):
    assert template("epoch 10  train_loss 0.3142  lr 1e-05") == ("epoch {0}  train_loss {1}  lr {2}",
                                                                ["10", "0.3142", "1e-05"])
    assert template("x1 = 0.5, C0, {a}, 61,878 rows") == ("x1 = {0}, C0, {{a}}, {1} rows", ["0.5", "61,878"])
    assert translate("train_loss 0.42", "zh_CN") == ("训练损失 0.42", [])
    assert translate("a title\nepoch", "zh_CN") == ("一个标题\n轮", [])  # line by line
    assert translate("a title\nunknown words 3", "zh_CN") == ("一个标题\nunknown words 3", ["unknown words 3"])
    assert translate("0.5 (12 %)", "zh_CN") == ("0.5 (12 %)", [])  # no letter: nothing to translate
    assert not has_letter("−0.25 %") and has_letter("$x$")


def test_a_language_that_does_not_exist_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv(figure_language.ENV, "fr")
    with pytest.raises(ValueError, match=r"BOOK_LANGUAGE is 'fr'; the course speaks 'en', 'zh_CN'"):
        figure_language.shown_language()
    with pytest.raises(ValueError, match="'en', 'zh_CN'"):
        figure_language.set_language("zh-TW")


# --- the two drawings ------------------------------------------------------------------------------------------

def test_the_chinese_drawing_differs_only_where_the_texts_are_and_the_figure_is_restored(small_table):
    fig = labelled_figure()
    english = figure_png(fig)
    before = state(fig)
    boxes = text_boxes(fig)
    with translated(fig, "zh_CN") as record:
        chinese = figure_png(fig)
        boxes += text_boxes(fig)
        shown = {t.get_text() for t in fig.axes[0].get_xticklabels()} | {fig.axes[0].get_xlabel()}
    assert record["untranslated"] == [] and {"epoch", "Trouser", "Bag", "probability"} <= set(record["texts"])
    assert {"裤子", "包", "轮"} <= shown
    assert state(fig) == before and figure_png(fig) == english  # texts, tick labels, fonts: as they were
    a, b = pixels(english), pixels(chinese)
    assert a.shape == b.shape
    differ = np.argwhere((a != b).any(axis=2))
    assert len(differ) > 500  # the labels changed
    height = a.shape[0]
    inside = np.zeros(len(differ), bool)
    for box in boxes:  # display coordinates: y from the bottom
        x0, x1 = box.x0 - 3, box.x1 + 3
        y0, y1 = height - box.y1 - 3, height - box.y0 + 3
        inside |= (differ[:, 1] >= x0) & (differ[:, 1] <= x1) & (differ[:, 0] >= y0) & (differ[:, 0] <= y1)
    assert inside.all(), f"{(~inside).sum()} pixels changed outside every text"


def test_two_languages_puts_the_chinese_png_in_the_metadata_and_lists_what_is_missing(small_table):
    fig = labelled_figure()
    fig.axes[0].set_title("no translation for this")
    data, metadata = two_languages(fig, figure_png, shown="en")
    info = metadata[METADATA_KEY]
    assert data == figure_png(fig) and info["shown"] == "en"
    assert "no translation for this" in info["texts"] and "epoch" in info["texts"]
    zh = info["translations"]["zh_CN"]
    assert zh["untranslated"] == ["no translation for this"]
    assert base64.b64decode(zh["image/png"])[:8] == b"\x89PNG\r\n\x1a\n" != data[:7]
    assert base64.b64decode(zh["image/png"]) != data


def test_a_failing_second_drawing_never_hides_the_figure(monkeypatch, capsys):
    # e.g. a learner's install without the table: the figure shows, the learner is not bothered, the Chinese
    # build of such an output would fail with the message
    def no_table(language):
        raise FileNotFoundError("figure_strings.zh_CN.json")

    monkeypatch.setattr(figure_language, "table", no_table)
    fig = labelled_figure()
    data, metadata = two_languages(fig, figure_png, shown="en")
    assert data == figure_png(fig)
    error = metadata[METADATA_KEY]["translations"]["zh_CN"]["error"]
    assert error == "the zh_CN drawing failed: FileNotFoundError: figure_strings.zh_CN.json"
    assert capsys.readouterr().err == ""
    assert translate_figures.translated_png(metadata[METADATA_KEY], "zh_CN") == (None, [
        f"a figure that could not be drawn in zh_CN: {error}"])


def test_a_figure_without_words_is_drawn_once(small_table):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    ax.plot([1, 2, 3], [1e-5, 2e-5, 4e-5])  # numbers only, with an offset text ("1e-5")
    drawn = []
    data, metadata = two_languages(fig, lambda f: drawn.append(1) or figure_png(f), shown="en")
    assert len(drawn) == 1 and metadata[METADATA_KEY] == {"shown": "en", "texts": [], "translations": {}}


def test_a_chinese_learner_sees_the_chinese_drawing(small_table, monkeypatch):
    monkeypatch.setenv(figure_language.ENV, "zh_CN")
    fig = labelled_figure()
    english = figure_png(fig)
    data, metadata = two_languages(fig, figure_png)
    info = metadata[METADATA_KEY]
    assert info["shown"] == "zh_CN" and data != english
    assert base64.b64decode(info["translations"]["en"]["image/png"]) == english


def test_the_monitor_figure_is_drawn_in_both_languages_with_every_text_in_the_table():
    from book.monitor import TrainingMonitor

    monitor = TrainingMonitor("softmax regression", mode="silent")
    with monitor.run(epochs=2, steps_per_epoch=2):
        for epoch in range(2):
            for k in range(2):
                monitor.step(loss=1.0 - 0.1 * k)
            monitor.epoch(train_loss=0.5, train_acc=0.8, test_loss=0.6, test_acc=0.75)
    monitor.title = None  # the title is the chapter's own text: the table has those the chapters use
    png, metadata = monitor.final_image()
    zh = metadata[METADATA_KEY]["translations"]["zh_CN"]
    assert zh["untranslated"] == [], zh["untranslated"]
    assert base64.b64decode(zh["image/png"]) != png and png[:8] == b"\x89PNG\r\n\x1a\n"


# --- in a kernel -----------------------------------------------------------------------------------------------

def test_import_book_in_a_kernel_draws_each_shown_figure_in_chinese_too():
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        "import book\nimport matplotlib.pyplot as plt",
        "fig, ax = plt.subplots()\nax.plot([1, 2], [3, 4])\nax.set_xlabel('epoch')\n"
        "ax.set_title('not in any table, surely')\nplt.show()\nprint(repr(ax.get_xlabel()))",
    )]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[1].outputs
    (figure,) = [o for o in outputs if "image/png" in o.get("data", {})]
    info = figure.metadata["image/png"][METADATA_KEY]
    zh = info["translations"]["zh_CN"]
    assert info["shown"] == "en" and zh["untranslated"] == ["not in any table, surely"]
    assert zh["image/png"] != figure.data["image/png"]
    assert "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout") == "'epoch'\n"
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]  # no missing glyphs


def test_outside_ipython_import_book_changes_nothing():
    code = "import sys, book; print('book.figure_language' in sys.modules, 'IPython' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_the_font_check_names_the_package(monkeypatch):
    from matplotlib import font_manager

    figure_language._find_cjk_family.cache_clear()
    monkeypatch.setattr(figure_language, "CJK_FAMILIES", ("No Such Font Family",))
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *args, **kwargs: [])
    try:
        with pytest.raises(figure_language.MissingFontError, match="fonts-wqy-microhei"):
            figure_language.cjk_family()
        _, metadata = two_languages(labelled_figure(), figure_png, shown="en")
        assert "fonts-wqy-microhei" in metadata[METADATA_KEY]["translations"]["zh_CN"]["error"]
        assert figure_language.main(["font"]) == 1
    finally:
        figure_language._find_cjk_family.cache_clear()


# --- the table -------------------------------------------------------------------------------------------------

# One Chinese term per concept, as chapter 12's glossary and the catalogues write it: where a table key has the
# English (as a word), its Chinese has the term.
GLOSSARY = {"epoch": "轮", "loss": "损失", "cross-entropy": "交叉熵", "accuracy": "准确率", "temperature": "温度",
            "learning rate": "学习率", "validation": "验证", "gradient": "梯度", "probability": "概率",
            "weight decay": "权重衰减", "calibration": "校准", "logit": "logit", "softmax": "softmax"}
FASHION_MNIST = {"T-shirt/top": "T 恤/上衣", "Trouser": "裤子", "Pullover": "套衫", "Dress": "连衣裙",
                 "Coat": "外套", "Sandal": "凉鞋", "Shirt": "衬衫", "Sneaker": "运动鞋", "Bag": "包",
                 "Ankle boot": "短靴"}


def real_table() -> dict[str, str]:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def test_the_table_is_flat_and_each_translation_keeps_its_placeholders():
    table = real_table()
    assert table == figure_language.table("zh_CN") and len(table) > 50
    for key, value in table.items():
        assert isinstance(key, str) and isinstance(value, str) and value.strip(), key
        assert "\n" not in key, f"{key!r}: the table is looked up line by line"
        fields = placeholders(key)
        assert placeholders(value) == fields, key
        assert fields == [str(i) for i in range(len(fields))], f"{key!r}: placeholders are {{0}}, {{1}}, ... in order"
        value.format(*range(len(fields)))  # a stray brace would fail here


# Texts a Chinese figure shows as they are: names the Chinese chapters keep (Otto's class names are its data's
# own), single-letter variables.
SAME_IN_CHINESE = {"tanh", "ReLU", "MLP", "softmax(o / T)", "w", "x", *(f"Class_{k}" for k in range(1, 10))}


def test_every_entry_is_chinese_or_math_listed_as_itself():
    for key, value in real_table().items():
        if value == key:
            assert key.startswith("$") and key.endswith("$") or key in SAME_IN_CHINESE or re.fullmatch(
                r"x\d = \{0\}", key), f"{key!r} is mapped to itself, which only math text and kept names may be"
        else:
            assert CHINESE_WRITING.search(value), f"{key!r} -> {value!r} has no Chinese"
            # matplotlib draws a text with $ in it as math text, whose fonts have no Chinese glyphs
            assert "$" not in value, f"{key!r} -> {value!r}: write the math in Unicode (φ′, ², ×) instead"


def test_the_table_uses_the_glossarys_terms_and_the_chapters_class_names():
    table = real_table()
    for english, chinese in FASHION_MNIST.items():
        assert table[english] == chinese
    checked = set()
    for key, value in table.items():
        for english, chinese in GLOSSARY.items():
            if re.search(rf"(?<![\w-]){re.escape(english)}(?![\w-])", key) and "$" not in key:
                assert chinese in value, f"{key!r} -> {value!r}: the glossary says {english} is {chinese}"
                checked.add(english)
    assert {"epoch", "loss", "accuracy", "cross-entropy", "temperature"} <= checked


# --- the Sphinx extension ----------------------------------------------------------------------------------------

def figure_output(fig, untranslated_title: str | None = None):
    if untranslated_title:
        fig.axes[0].set_title(untranslated_title)
    data, metadata = two_languages(fig, figure_png, shown="en")
    return {"output_type": "display_data", "data": {"image/png": base64.b64encode(data).decode(),
                                                     "text/plain": "<Figure>"},
            "metadata": {"image/png": metadata}}


def small_project(tmp_path: Path, language: str, outputs) -> tuple[Path, str]:
    import nbformat

    src = tmp_path / "src"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT / 'scripts')!r})
        import book.figure_language  # the figures were drawn with the small table: the build reads it too
        book.figure_language.table = lambda language: {{}} if language == "en" else {SMALL!r}
        extensions = ["myst_nb", "translate_figures"]
        language = {language!r}
        nb_execution_mode = "off"
        exclude_patterns = ["_build"]
        """))
    (src / "index.md").write_text("# Figures\n\n```{toctree}\npage\n```\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell("# A page"), cell]
    nbformat.write(nb, src / "page.ipynb")
    out = tmp_path / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return out, done.stderr


def shipped_images(out: Path) -> dict[str, bytes]:
    html = (out / "page.html").read_text(encoding="utf-8")
    names = re.findall(r'<img [^>]*src="_images/([^"]+)"', html)
    return {name: (out / "_images" / name).read_bytes() for name in names}


def test_the_chinese_build_ships_the_chinese_png_and_warns_about_untranslated_text(tmp_path, small_table):
    complete, partial = figure_output(labelled_figure()), figure_output(labelled_figure(), "an untranslated title")
    out, warnings = small_project(tmp_path, "zh_CN", [complete, partial])
    images = shipped_images(out)
    expected = [base64.b64decode(o["metadata"]["image/png"][METADATA_KEY]["translations"]["zh_CN"]["image/png"])
                for o in (complete, partial)]
    assert sorted(images.values()) == sorted(expected)
    english = {base64.b64decode(o["data"]["image/png"]) for o in (complete, partial)}
    assert not english & {p.read_bytes() for p in (out / "_images").iterdir()}  # no English figure shipped
    assert warnings.count("no zh_CN translation") == 1 and '["an untranslated title"]' in warnings
    assert "page.ipynb" in warnings and "figure_strings.zh_CN.json" in warnings


def test_the_english_build_is_unchanged_and_a_png_not_drawn_twice_warns_in_chinese(tmp_path, small_table):
    complete = figure_output(labelled_figure())
    out, warnings = small_project(tmp_path / "en", "en", [complete])
    assert list(shipped_images(out).values()) == [base64.b64decode(complete["data"]["image/png"])]
    assert warnings == ""
    plain = {"output_type": "display_data", "data": {"image/png": complete["data"]["image/png"]}, "metadata": {}}
    out, warnings = small_project(tmp_path / "zh", "zh_CN", [plain])
    assert "did not draw" in warnings and "in English" in warnings


def test_a_figure_drawn_with_an_older_table_asks_to_be_drawn_again(small_table, monkeypatch):
    fig = labelled_figure()
    fig.axes[0].set_title("new words")
    _, metadata = two_languages(fig, figure_png, shown="en")
    info = metadata[METADATA_KEY]
    png, problems = translate_figures.translated_png(info, "zh_CN")
    assert png is not None and len(problems) == 1 and "no zh_CN translation" in problems[0]
    newer = {**SMALL, "new words": "新词"}
    monkeypatch.setattr(figure_language, "table", lambda language: {} if language == "en" else newer)
    png, problems = translate_figures.translated_png(info, "zh_CN")
    assert len(problems) == 1 and "redraw" in problems[0] and '["new words"]' in problems[0]
    output = {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {"image/png": metadata}}
    older = {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}}
    notebooks = {"ch05": {"cells": [{"cell_type": "code", "source": "", "outputs": [output]}]},
                 "ch06": {"cells": [{"cell_type": "code", "source": "", "outputs": [older]}]},
                 "ch07": {"cells": [{"cell_type": "markdown", "source": ""}]}}
    assert figure_language.stale_notebooks(notebooks) == {"ch05": ["new words"], "ch06": [figure_language.UNDRAWN]}


def test_the_strings_a_table_lacks_are_listed_as_its_keys(small_table):
    fig = labelled_figure()
    fig.axes[0].set_title("run 3 of 20\nnew words")
    _, metadata = two_languages(fig, figure_png, shown="en")
    output = {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {"image/png": metadata}}
    notebooks = {"ch05": {"cells": [{"cell_type": "code", "source": "", "outputs": [output, output]}]}}
    assert figure_language.untranslated_strings(notebooks) == {"run {0} of {1}": ["ch05"], "new words": ["ch05"]}


def test_swap_images_on_a_doctree(tmp_path):
    from docutils import nodes

    english, chinese = b"\x89PNG english", b"\x89PNG chinese"
    digest = hashlib.sha256(english).hexdigest()
    records = {digest: {"shown": "en", "texts": ["epoch"], "translations": {"zh_CN": {
        "image/png": base64.b64encode(chinese).decode(), "untranslated": ["epoch"]}}}}
    tree = nodes.section()
    tree += nodes.image(uri=f"/_build/jupyter_execute/{digest}.png")
    tree += nodes.image(uri="/pictures/other.png")
    warned = []
    swapped = translate_figures.swap_images(tree, records, "zh_CN", tmp_path, lambda p: f"/{p.name}",
                                            lambda message, node: warned.append(message))
    first, second = tree.findall(nodes.image)
    name = hashlib.sha256(chinese).hexdigest() + ".png"
    assert swapped == 1 and first["uri"] == f"/{name}" and (tmp_path / name).read_bytes() == chinese
    assert second["uri"] == "/pictures/other.png"
    assert len(warned) == 1 and '["epoch"]' in warned[0]


# --- the monitor's live view in Chromium -------------------------------------------------------------------------

MONITOR_TEXT_JS = """() => {
  const root = document.querySelector('.tm-root');
  const svgText = [...root.querySelectorAll('svg text')].map(e => e.textContent);
  const aria = [...root.querySelectorAll('[aria-label]')].map(e => e.getAttribute('aria-label'));
  return {lang: root.lang, text: [root.innerText, ...svgText, ...aria].join('\\n'),
          charts: root.querySelectorAll('.tm-charts svg').length};
}"""


@pytest.fixture(scope="module")
def monitor_site(tmp_path_factory):
    import IPython.display

    from book.monitor import TrainingMonitor

    sent = []

    class Handle:
        def update(self, obj, raw=False):
            sent.append(obj)

    def display(obj, raw=False, display_id=None):
        sent.append(obj)
        return Handle()

    original = IPython.display.display
    IPython.display.display = display
    try:
        monitor = TrainingMonitor("live", mode="live", refresh=0.001, max_overhead=1.0)
        monitor.start(epochs=4, steps_per_epoch=3)
        for k in range(3):
            monitor.step(loss=1.0 - 0.2 * k)
        monitor.epoch(train_loss=0.7, train_acc=0.6, val_loss=0.8, val_acc=0.55)
        monitor.step(loss=0.6)
        bundle = monitor._view._bundle(monitor)
    finally:
        IPython.display.display = original
    root = tmp_path_factory.mktemp("monitor-language")
    for language in ("zh-CN", "en"):
        page = (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8"><title>monitor</title>'
                f'</head><body style="width: 900px">{bundle["text/html"]}</body></html>')
        (root / f"monitor-{language}.html").write_text(page, encoding="utf-8")
    with book_site.serve(root) as base:
        yield base


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_live_monitor_speaks_the_pages_language(chromium, monitor_site, language):
    page = chromium.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{monitor_site}/monitor-{language}.html", wait_until="load")
        page.wait_for_function("() => document.querySelectorAll('.tm-charts svg').length === 2")
        shown = page.evaluate(MONITOR_TEXT_JS)
    finally:
        page.close()
    assert not errors and shown["charts"] == 2
    text = shown["text"]
    if language == "zh-CN":
        assert shown["lang"] == "zh-CN"
        for words in ("第 2/4 轮", "每秒", "已用", "损失", "准确率", "训练损失", "验证准确率", "损失（每批）",
                      "轮", "损失随轮次的变化"):
            assert words in text, words
        assert not re.search(r"\b(epoch|elapsed|loss|accuracy|per batch|steps/s)\b", text), text
    else:
        for words in ("epoch 2/4", "steps/s", "elapsed", "loss", "accuracy", "train_loss", "val_acc",
                      "loss per batch", "loss against epoch"):
            assert words in text, words
        assert not CJK.search(text), text


def test_a_learner_who_chose_chinese_gets_the_monitors_words_in_chinese(monkeypatch):
    import IPython.display

    from book.monitor import TrainingMonitor

    sent = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False, display_id=None: sent.append(obj))
    monkeypatch.setenv(figure_language.ENV, "zh_CN")
    monitor = TrainingMonitor("live", mode="live")
    monitor.start(epochs=1, steps_per_epoch=1)
    assert 'data-kind="monitor" data-lang="zh-CN"' in sent[0]["text/html"]
    monkeypatch.delenv(figure_language.ENV)
    monitor2 = TrainingMonitor("live", mode="live")
    monitor2.start(epochs=1, steps_per_epoch=1)
    assert 'data-kind="monitor">' in sent[1]["text/html"]  # the page's language decides


def test_languages_are_english_first():
    assert LANGUAGES[0] == "en" and "zh_CN" in LANGUAGES
