"""Sphinx extension: every explorer of the built book with the package's current scripts and string tables.

An explorer's HTML output comes from the one shared execution (the jupyter-cache), which is not re-run when only
the package's front-end files changed (``web/*.js``, ``web/strings.<language>.json``): without this extension a
page would keep the scripts, and the words, of the day its chapter last ran. The output carries all it needs to be
made again -- its kind, its element id, its settings and data as JSON -- so each one is written afresh as the page
is written (``doctree-resolved``), as :mod:`render_quizzes` does for the quizzes. The language is still chosen
in the page (``<html lang>``), so both editions get the same HTML.

Listed in _config.yml under ``sphinx: local_extensions`` (folder ``scripts/``), beside the other local
extensions.
"""

from __future__ import annotations

import json
import re

from book.explorers.page import KINDS, Explorer, explorer_html, strings

# The opening tag explorer_html writes: the element id and the kind.
EXPLORER_ROOT = re.compile(r'^\s*<div class="sx-root" id="(?P<id>sx-[A-Za-z0-9_-]+)" data-kind="(?P<kind>[a-z]+)">')


class _Restored(Explorer):
    """An explorer made again from the settings and data its output carries."""

    def __init__(self, kind: str, config: dict):
        self.kind = kind
        self.title = strings("en")[f"{kind}.name"]
        super().__init__(config["settings"], config.get("data"))

    def describe(self) -> str:
        return f"{self.title} (settings {self.settings})"


def render_again(output: str) -> str | None:
    """``output`` (an explorer's HTML output, from any version of the package) written by this version; None
    when ``output`` is not an explorer's. Raises ValueError when it is one but cannot be read."""
    match = EXPLORER_ROOT.match(output)
    if not match:
        return None
    element_id, kind = match["id"], match["kind"]
    if kind not in KINDS:
        raise ValueError(f"explorer {element_id} is of kind {kind!r}, not one of {KINDS}")
    found = re.search(rf'<script type="application/json" id="{re.escape(element_id)}-config">(.*?)</script>',
                      output, re.S)
    if not found:
        raise ValueError(f"explorer {element_id} has no settings (<script id=\"{element_id}-config\">)")
    config = json.loads(found.group(1))
    if not isinstance(config, dict) or not isinstance(config.get("settings"), dict):
        raise ValueError(f"explorer {element_id}'s settings are not a JSON object with 'settings'")
    return explorer_html(_Restored(kind, config), element_id=element_id)


def render_explorers(app, doctree, docname) -> None:
    from docutils import nodes
    from sphinx.util import logging

    for raw in list(doctree.findall(nodes.raw)):
        if "html" not in raw.get("format", "").split():
            continue
        try:
            html = render_again(raw.astext())
        except (ValueError, KeyError, TypeError) as error:
            logging.getLogger(__name__).warning("an explorer on this page cannot be rendered again: %s", error,
                                                location=(docname, raw.line), type="course", subtype="explorer")
            continue
        if html is not None:
            raw.replace_self(nodes.raw("", html, format=raw["format"], classes=raw.get("classes", [])))


def setup(app):
    app.connect("doctree-resolved", render_explorers)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
