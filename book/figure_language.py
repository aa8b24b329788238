"""Figures in the page's language: every matplotlib figure a chapter shows is drawn in English and in Chinese.

The book is executed once, in English; its Chinese edition is built from that same execution and runs no code.
So the Chinese drawing has to be made in the kernel, when the figure is shown: the PNG formatter of an IPython
kernel draws each figure as written (the ``image/png`` output, as always), then again with every visible text
that contains a letter -- titles, axis labels, legend entries, tick labels given as strings, annotations, texts,
colour-bar labels -- replaced by its translation from the table ``figure_strings.<language>.json``, and puts
the texts back. The second PNG travels in the output's metadata::

    output.metadata["image/png"]["figure_language"] = {
        "shown": "en",                        # the language of output.data["image/png"]
        "texts": ["epoch", ...],              # the figure's texts that needed a translation, as drawn
        "translations": {"zh_CN": {"image/png": "<base64>",
                                   "untranslated": [...],   # lines the table lacked
                                   "lines": {"epoch": "轮", ...}}},  # each line as drawn (None: untranslated)
    }

(``{"error": "..."}`` in place of a drawing that failed, e.g. with no Chinese font installed), and the Chinese
edition's build (scripts/translate_figures.py) shows that PNG instead, warning about every text in
``untranslated`` and every line the table now translates otherwise (``python -m book.figure_language redraw``
has such a chapter executed again). A learner who runs the chapters in Chinese sets ``BOOK_LANGUAGE=zh_CN`` (or calls
:func:`set_language`): the Chinese drawing is then the one shown.

The table maps each English text, line by line, to its translation. A line with numbers in it is looked up as
written first, then as a template with each number replaced by ``{0}``, ``{1}``...: "epoch 10  train_loss 0.31"
is found as "epoch {0}  train_loss {1}" and its translation gets the same numbers back. Math text (``$...$``)
has letters too, and must be listed, mapped to itself where it needs no translation; a translation with Chinese
in it has no ``$`` (matplotlib's math fonts have no Chinese glyphs: write the symbols in Unicode).

Nothing here runs outside an IPython kernel: ``import book`` registers the formatter only there (:func:`register`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
import sys
from importlib import resources

# The learner's language is one choice for everything the course shows (book/language.py): figures, the monitor
# and the exercise checks. Re-exported here, where figures were first taught to speak it.
from book.language import ENV, LANGUAGES, check_language, chosen_language, set_language  # noqa: F401

METADATA_KEY = "figure_language"

# Installed fonts with Chinese glyphs, in order of preference; the first one found draws the Chinese text.
CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
                "Source Han Sans CN", "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang SC",
                "Heiti SC", "Arial Unicode MS")
CJK_PACKAGE = "fonts-wqy-microhei"  # what Debian calls the one the course installs (scripts/setup_system.sh)

# A number as the chapters print them: 3, 0.8412, 1e-05, 2.5e+03, 61,878 -- not the digit of a name (x1, C0).
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def shown_language() -> str:
    """The language figures are shown in: :func:`set_language`, else ``BOOK_LANGUAGE``, else English."""
    return chosen_language() or "en"


def _check_language(language: str) -> str:
    return check_language(language, "the figures' language")


def table_path(language: str):
    """The file of ``language``'s figure strings (package data: ``book/figure_strings.<language>.json``)."""
    return resources.files("book").joinpath(f"figure_strings.{_check_language(language)}.json")


@functools.cache
def table(language: str) -> dict[str, str]:
    """The figure strings of ``language``: English text (or template, see the module's text) -> translation."""
    if _check_language(language) == "en":
        return {}
    return json.loads(table_path(language).read_text(encoding="utf-8"))


def has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def template(line: str) -> tuple[str, list[str]]:
    """``line`` with each number replaced by ``{0}``, ``{1}``... (braces already there doubled), and the numbers."""
    numbers: list[str] = []

    def placeholder(match: re.Match) -> str:
        numbers.append(match.group(0))
        return f"\0{len(numbers) - 1}\1"

    marked = NUMBER.sub(placeholder, line)
    marked = marked.replace("{", "{{").replace("}", "}}")
    return marked.replace("\0", "{").replace("\1", "}"), numbers


def line_translation(line: str, language: str) -> str | None:
    """One line (with a letter) in ``language`` from the table as it is now: as written, else as a template
    with its numbers put back; None when the table has neither."""
    strings = table(language)
    if line in strings:
        return strings[line]
    key, numbers = template(line)
    if numbers and key in strings:
        return strings[key].format(*numbers)
    return None


def translate(text: str, language: str) -> tuple[str, list[str]]:
    """``text`` in ``language``, line by line, and the lines the table has no translation for (kept as they are).

    A line with no letter (numbers, symbols) stays as it is."""
    lines, missing = [], []
    for line in text.split("\n"):
        found = line if language == "en" or not has_letter(line) else line_translation(line, language)
        if found is None:
            missing.append(line)
        lines.append(line if found is None else found)
    return "\n".join(lines), missing


def stale_lines(translation: dict, language: str) -> list[str]:
    """The lines of a figure's ``language`` drawing (its metadata entry) that the table now translates
    otherwise than when it was drawn (a new entry, or a corrected one): the figure must be drawn again."""
    return [line for line, drawn in (translation.get("lines") or {}).items()
            if line_translation(line, language) != drawn]


# --- fonts ---------------------------------------------------------------------------------------------------

class MissingFontError(RuntimeError):
    pass


def cjk_family() -> str:
    """The installed font family that draws Chinese text; MissingFontError (naming the package) if none."""
    family, problem = _find_cjk_family()
    if family is None:
        raise MissingFontError(problem)
    return family


@functools.cache  # once per process, found or not: the search reads every system font
def _find_cjk_family() -> tuple[str | None, str]:
    from matplotlib import font_manager

    for searched in (False, True):
        names = {entry.name for entry in font_manager.fontManager.ttflist}
        for family in CJK_FAMILIES:
            if family in names:
                return family, ""
        if not searched:  # a font installed after matplotlib cached its list of fonts: add it
            for path in font_manager.findSystemFonts():
                try:
                    if font_manager.get_font(path).family_name in CJK_FAMILIES:
                        font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
    return None, (
        "no font with Chinese glyphs is installed, so figures cannot be drawn in Chinese: install one, e.g. "
        f"Debian's {CJK_PACKAGE} (scripts/setup_system.sh fonts, or sudo apt-get install {CJK_PACKAGE}); "
        f"matplotlib looks for {', '.join(CJK_FAMILIES[:4])}...")


def _with_cjk_fallback(properties):
    """A copy of ``properties`` whose families are the font it draws with now, then the Chinese font: Latin
    letters and digits keep their look, and Chinese characters are drawn by the fallback (matplotlib >= 3.6)."""
    from matplotlib import font_manager

    drawn_with = font_manager.get_font(font_manager.findfont(properties)).family_name
    copy = properties.copy()
    copy.set_family([drawn_with, cjk_family()])
    return copy


# --- a figure in another language ----------------------------------------------------------------------------

def _axes(fig):
    """Every axis of ``fig`` (x, y, and z of 3-D axes)."""
    for ax in fig.axes:
        for name in ("xaxis", "yaxis", "zaxis"):
            axis = getattr(ax, name, None)
            if axis is not None:
                yield axis


def worded_formatters():
    """The tick formatters whose labels are words the code chose (``set_xticks(ticks, labels)`` makes a
    FuncFormatter, categories a StrCategoryFormatter); the others print numbers."""
    from matplotlib.category import StrCategoryFormatter
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    return (FixedFormatter, FuncFormatter, StrCategoryFormatter)


def _tick_labels(axis):
    for tick in [*axis.majorTicks, *axis.minorTicks]:
        yield tick.label1
        yield tick.label2


@contextlib.contextmanager
def translated(fig, language: str):
    """Within the block ``fig`` shows its texts in ``language``; afterwards exactly as before.

    Yields a record: ``texts`` (every text with a letter, in English), ``untranslated`` (the lines the table
    lacks) and ``lines`` (each line with a letter -> its translation, None where there is none). Tick labels
    count when the code gave them as strings (``set_xticks(ticks, labels)``, categories); numbers from
    matplotlib's own tick formatters are not texts. Raises MissingFontError when no font draws
    the language's characters."""
    from matplotlib.text import Text
    from matplotlib.ticker import FuncFormatter

    WORDED = worded_formatters()
    record = {"texts": [], "untranslated": [], "lines": {}}
    restore = []

    def convert(text: str) -> str:
        if not has_letter(text):
            return text
        record["texts"].append(text)
        result, missing = translate(text, language)
        record["untranslated"].extend(missing)
        if language != "en":
            for line in text.split("\n"):
                if has_letter(line):
                    record["lines"][line] = line_translation(line, language)
        return result

    def fallback_font(artist) -> None:
        restore.append(functools.partial(artist.set_fontproperties, artist.get_fontproperties()))
        artist.set_fontproperties(_with_cjk_fallback(artist.get_fontproperties()))

    try:
        redrawn = set()  # tick labels and offsets: their formatters set them again at every draw
        for axis in _axes(fig):
            redrawn.add(id(axis.offsetText))
            redrawn.update(id(label) for label in _tick_labels(axis))
        for artist in fig.findobj(Text):
            if id(artist) in redrawn or not artist.get_visible():
                continue
            original = artist.get_text()
            new = convert(original)
            if new != original:
                fallback_font(artist)
                restore.append(functools.partial(artist.set_text, original))
                artist.set_text(new)
        for axis in _axes(fig):
            for ticker in (axis.major, axis.minor):
                if not isinstance(ticker.formatter, WORDED):
                    continue
                wrapped = ticker.formatter
                worded = FuncFormatter(lambda x, pos=None, wrapped=wrapped: convert(wrapped(x, pos)))
                worded.set_axis(axis)
                restore.append(functools.partial(setattr, ticker, "formatter", wrapped))
                ticker.formatter = worded
            for label in _tick_labels(axis):  # as the last draw left them, for whoever reads them before the next
                restore.append(functools.partial(label.set_text, label.get_text()))
                if language != "en":  # ticks made during the draw copy the first tick's font
                    fallback_font(label)
        record["untranslated"] = list(dict.fromkeys(record["untranslated"]))
        yield record
    finally:
        for undo in reversed(restore):
            undo()


def _has_words(fig) -> bool:
    """Whether ``fig`` shows a text with a letter, or tick labels the code chose (words, maybe)."""
    from matplotlib.text import Text

    worded = worded_formatters()
    if any(isinstance(ticker.formatter, worded) for axis in _axes(fig) for ticker in (axis.major, axis.minor)):
        return True
    redrawn = {id(axis.offsetText) for axis in _axes(fig)}
    redrawn.update(id(label) for axis in _axes(fig) for label in _tick_labels(axis))
    return any(has_letter(t.get_text()) for t in fig.findobj(Text) if id(t) not in redrawn and t.get_visible())


def _as_base64(png) -> str:
    return png if isinstance(png, str) else base64.b64encode(png).decode("ascii")


def two_languages(fig, draw, shown: str | None = None):
    """(the PNG of ``fig`` in the shown language, its metadata), drawing with ``draw(fig)`` (bytes or base64).

    The metadata holds the other languages' PNGs (see the module's text). A figure without letters is drawn
    once. When the second drawing fails (no Chinese font, no table) the figure is still shown, in English, and
    the metadata says why there is no Chinese drawing (the Chinese build then fails with that message)."""
    shown = shown or shown_language()
    english = draw(fig)
    info = {"shown": "en", "texts": [], "translations": {}}
    if _has_words(fig):
        for language in LANGUAGES[1:]:
            try:
                with translated(fig, language) as record:
                    drawn = draw(fig)
            except MissingFontError as error:  # a learner's machine may well have none: say it to the build only
                info["translations"][language] = {"error": str(error)}
                continue
            except Exception as error:  # noqa: BLE001 -- the second drawing must never hide the first
                info["translations"][language] = {
                    "error": f"the {language} drawing failed: {type(error).__name__}: {error}"}
                continue
            info["texts"] = list(dict.fromkeys(record["texts"]))
            info["translations"][language] = {"image/png": _as_base64(drawn),
                                              "untranslated": list(dict.fromkeys(record["untranslated"])),
                                              "lines": record["lines"]}
    data = english
    if shown != "en" and "image/png" in info["translations"].get(shown, {}):
        # the English drawing travels as a translation, so that an English build could still show it
        other = info["translations"].pop(shown)
        info["translations"]["en"] = {"image/png": _as_base64(english), "untranslated": [], "lines": {}}
        info["shown"] = shown
        data = base64.b64decode(other["image/png"]) if isinstance(english, bytes) else other["image/png"]
    return data, {METADATA_KEY: info}


class FigureImage:
    """A figure shown as PNG in both languages wherever IPython displays it (``display(FigureImage(fig))``),
    whatever matplotlib backend the kernel has: what the training monitor ends its live view with."""

    def __init__(self, fig, draw):
        self.fig, self.draw = fig, draw

    def _repr_png_(self):
        return two_languages(self.fig, self.draw)


# --- the kernel's PNG formatter ------------------------------------------------------------------------------

def _formatter_class():
    from IPython.core.formatters import PNGFormatter

    class TwoLanguagePNGFormatter(PNGFormatter):
        """IPython's PNG formatter, which also draws every matplotlib Figure in the other languages."""

        def __call__(self, obj):
            if not type(obj).__module__.startswith("matplotlib"):
                return super().__call__(obj)
            from matplotlib.figure import Figure

            if not isinstance(obj, Figure) or not self.enabled:
                return super().__call__(obj)
            try:
                printer = self.lookup(obj)
            except KeyError:
                return super().__call__(obj)
            data, metadata = two_languages(obj, printer)
            return (data, metadata) if data is not None else None

    return TwoLanguagePNGFormatter


def register(shell=None) -> bool:
    """In an IPython kernel, put the two-language PNG formatter in place of IPython's (keeping the printers it
    holds; the inline backend adds its Figure printer to whichever formatter is there). Elsewhere nothing
    happens. Returns whether it is in place."""
    if shell is None:
        if "IPython" not in sys.modules:
            return False
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    formatters = shell.display_formatter.formatters
    old = formatters.get("image/png")
    cls = _formatter_class()
    if old is None or isinstance(old, cls) or type(old).__name__ == cls.__name__:
        return old is not None
    new = cls(parent=shell.display_formatter)
    new.type_printers = old.type_printers
    new.deferred_printers = old.deferred_printers
    new.singleton_printers = old.singleton_printers
    new.enabled = old.enabled
    formatters["image/png"] = new
    return True


# --- the command line: python -m book.figure_language ----------------------------------------------------------

def cached_notebooks(cache_path) -> dict:
    """Every notebook of the book's execution cache (jupyter-cache): its path -> the executed notebook."""
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_path))
    return {record.uri: cache.get_cache_bundle(record.pk).nb for record in cache.list_cache_records()}


def untranslated_strings(notebooks: dict, language: str = "zh_CN") -> dict[str, list[str]]:
    """The table entries ``language`` lacks, from executed notebooks (name -> notebook as a dict): each missing
    line as its table key (a template where it has numbers) -> the notebooks it is in."""
    missing: dict[str, list[str]] = {}
    for path, notebook in notebooks.items():
        for info in _figure_records(notebook):
            for line in (info.get("translations", {}).get(language) or {}).get("untranslated", []):
                if line_translation(line, language) is not None:
                    continue  # added since the figure was drawn
                key, numbers = template(line)
                key = key if numbers else line
                if str(path) not in missing.setdefault(key, []):
                    missing[key].append(str(path))
    return missing


def _figure_records(notebook: dict):
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            info = ((output.get("metadata") or {}).get("image/png") or {}).get(METADATA_KEY)
            if info:
                yield info


UNDRAWN = "(a PNG output not drawn in two languages)"


def stale_notebooks(notebooks: dict, language: str = "zh_CN") -> dict:
    """Of ``notebooks`` (name -> executed notebook as a dict), those with a figure whose ``language`` drawing
    the table now translates otherwise, or with a PNG output that has no drawing in ``language`` at all
    (executed before this module drew figures twice): name -> the lines concerned (:data:`UNDRAWN` for the
    latter)."""
    stale = {}
    for name, notebook in notebooks.items():
        lines = []
        for cell in notebook.get("cells", []):
            for output in cell.get("outputs", []):
                if "image/png" not in (output.get("data") or {}):
                    continue
                info = ((output.get("metadata") or {}).get("image/png") or {}).get(METADATA_KEY)
                if info is None:
                    lines.append(UNDRAWN)
                elif info.get("texts") and info.get("shown") != language:
                    lines += stale_lines(info.get("translations", {}).get(language) or {}, language)
        if lines:
            stale[name] = list(dict.fromkeys(lines))
    return stale


def redraw(cache_path, language: str = "zh_CN") -> dict:
    """Remove from the book's execution cache (jupyter-cache) each notebook drawn with an older table: the next
    build executes it again, drawing its figures with the table as it is. Returns uri -> the lines concerned."""
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_path))
    records = {record.pk: record for record in cache.list_cache_records()}
    notebooks = {pk: cache.get_cache_bundle(pk).nb for pk in records}
    stale = stale_notebooks(notebooks, language)
    for pk in stale:
        cache.remove_cache(pk)
    return {records[pk].uri: lines for pk, lines in stale.items()}


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m book.figure_language", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("font", help="say which font draws Chinese text; exit 1, naming the package, if none does")
    strings = sub.add_parser("strings", help="the figure strings a table lacks, as JSON to fill in and add to "
                                             "book/figure_strings.<language>.json")
    strings.add_argument("notebooks", nargs="*", help="executed notebooks (default: every one in the cache)")
    strings.add_argument("--cache", default="_build/.jupyter_cache", help="the execution cache (default: %(default)s)")
    strings.add_argument("--language", default="zh_CN", choices=LANGUAGES[1:])
    again = sub.add_parser("redraw", help="after editing a table: drop from the execution cache each chapter "
                                          "whose figures it now translates otherwise (the next build runs it)")
    again.add_argument("--cache", default="_build/.jupyter_cache", help="the execution cache (default: %(default)s)")
    again.add_argument("--language", default="zh_CN", choices=LANGUAGES[1:])
    args = parser.parse_args(argv)
    if args.command == "redraw":
        if not os.path.isdir(args.cache):
            print(f"no execution cache at {args.cache}: nothing to draw again")
            return 0
        for uri, lines in redraw(args.cache, args.language).items():
            print(f"{uri}: executed again at the next build ({len(lines)} figure texts changed)")
        return 0
    if args.command == "font":
        try:
            print(f"Chinese text in figures is drawn with {cjk_family()}")
        except MissingFontError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    if args.notebooks:
        notebooks = {}
        for path in args.notebooks:
            with open(path, encoding="utf-8") as handle:
                notebooks[path] = json.load(handle)
    elif os.path.isdir(args.cache):
        notebooks = cached_notebooks(args.cache)
    else:
        print(f"no execution cache at {args.cache}: build the book first (make book), or name notebooks",
              file=sys.stderr)
        return 1
    missing = untranslated_strings(notebooks, args.language)
    print(json.dumps({key: "" for key in missing}, ensure_ascii=False, indent=1))
    for key, where in missing.items():
        print(f"{key!r}: {', '.join(where)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
