"""How an explorer reaches the reader: one HTML output that carries its own code, settings and data.

An explorer object (what ``softmax_explorer(...)`` and the others return) is shown by Jupyter, by the built
book and by Colab through ``_repr_html_``:

- a ``<div class="sx-root">`` that the explorer's JavaScript fills in (until then it holds a line saying that
  the explorer needs JavaScript -- what GitHub's viewer or an untrusted notebook shows -- in English and in
  Chinese, the stylesheet showing the page's language only);
- its settings and embedded data as JSON, in a ``<script type="application/json">`` next to it;
- the stylesheet ``web/explorers.css``;
- one ``<script type="module">`` with the shared code ``web/core.js`` and the explorer's own file
  ``web/<kind>.js``, each kept once per page and version in ``globalThis.__softmaxCourse``, so two explorers
  on a page, or a cell run twice, share them; with them the string tables ``web/strings.<language>.json``.

Every word an explorer shows comes from those tables, one per language (:data:`LANGUAGES`), and the page picks
the language from ``<html lang>`` (``zh-CN``: Chinese, else English): the book's English and Chinese editions
show the same executed output, so the choice cannot be made in Python. A key missing from a language falls back
to English; tests/test_explorers_language.py keeps the tables complete.

Nothing is fetched: the output works offline, in the static book (where no kernel is behind the page), in
JupyterLab, in Colab, and saved to disk. :func:`standalone_page` wraps explorers in a page of their own, which
the browser tests and the benchmark serve.
"""

from __future__ import annotations

import hashlib
import html
import json
import uuid

from book import web_page
from book.web_page import inline_asset

KINDS = ("softmax", "xent", "train", "boundary")  # web/<kind>.js; also the explorers' URL-hash namespaces
LANGUAGES = ("en", "zh_CN")  # web/strings.<language>.json; English first, the fallback of every other


def asset(name: str) -> str:
    """The text of ``web/<name>``, shipped inside the package."""
    return inline_asset("book.explorers", f"web/{name}")


def strings(language: str) -> dict[str, str]:
    """The explorers' string table of ``language`` (one of :data:`LANGUAGES`): key -> text with {placeholders}."""
    if language not in LANGUAGES:
        raise ValueError(f"the explorers have string tables for {LANGUAGES}, got {language!r}")
    return json.loads(asset(f"strings.{language}.json"))


def _digest(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]


def _json_for_script(value) -> str:
    """JSON that can sit inside <script>: '<' escaped, so no '</script>' or '<!--' can appear."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


class Explorer:
    """Base of the four explorers: settings (and data) for the page, shown as an HTML output.

    Subclasses set ``kind`` and implement ``describe()`` (the plain-text view: what a terminal or a
    notebook viewer without HTML shows) and ``figure()`` (a static matplotlib Figure of the same numbers,
    computed by the Python reference, for print or a script).
    """

    kind = ""
    title = ""

    def __init__(self, settings: dict, data: dict | None = None):
        if self.kind not in KINDS:
            raise TypeError(f"{type(self).__name__}.kind must be one of {KINDS}")
        self.settings = dict(settings)
        self.data = data

    def config(self) -> dict:
        return {"settings": self.settings, "data": self.data}

    def describe(self) -> str:
        raise NotImplementedError

    def figure(self):
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.describe()

    def _repr_html_(self) -> str:
        return explorer_html(self)


def explorer_html(explorer: Explorer, element_id: str | None = None) -> str:
    """The HTML output of one explorer (see the module docstring); ``element_id`` defaults to a fresh one."""
    kind = explorer.kind
    element_id = element_id or f"sx-{uuid.uuid4().hex[:12]}"
    core, own, css = asset("core.js"), asset(f"{kind}.js"), asset("explorers.css")
    core_key, own_key = f"core@{_digest(core)}", f"{kind}@{_digest(core, own)}"
    tables = {language: strings(language) for language in LANGUAGES}
    tables_json = _json_for_script(tables)
    fallback = "".join(
        f'<span class="sx-lang-{language}" lang="{language.replace("_", "-")}">'
        + html.escape(table["core.no_script"].replace("{name}", table[f"{kind}.name"])) + "</span>"
        for language, table in tables.items())
    return (
        f'<div class="sx-root" id="{element_id}" data-kind="{kind}">'
        f'<p class="sx-fallback">{fallback}</p></div>\n'
        f'<script type="application/json" id="{element_id}-config">{_json_for_script(explorer.config())}</script>\n'
        f"<style>\n{css}</style>\n"
        '<script type="module">\n'
        "const registry = (globalThis.__softmaxCourse ??= {});\n"
        f'const core = (registry["{core_key}"] ??= (\n{core}\n));\n'
        f'const explorer = (registry["{own_key}"] ??= (\n{own}\n)(core));\n'
        f'const strings = (registry["strings@{_digest(tables_json)}"] ??= {tables_json});\n'
        f'core.mount(document.getElementById("{element_id}"), explorer, strings);\n'
        "</script>\n"
    )


def standalone_page(*explorers: Explorer, title: str = "Explorers", theme: str = "light") -> str:
    """A complete HTML page holding ``explorers``, light or dark the way pydata-sphinx-theme marks it."""
    if not explorers or not all(isinstance(e, Explorer) for e in explorers):
        raise ValueError("expected one or more explorers, e.g. standalone_page(softmax_explorer())")
    return web_page.standalone_page("\n".join(explorer_html(e) for e in explorers), title, theme, width_rem=60)
