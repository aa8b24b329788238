"""Sphinx extension: in an edition other than English, every figure a chapter drew shows its translated drawing.

The chapters are executed once; in the kernel, book.figure_language draws each matplotlib figure in English
(the output's ``image/png``) and in the other languages (in the output's metadata, with the texts that had no
translation). myst-nb turns an ``image/png`` output into a file named by the SHA-256 of its bytes, in its
output folder (``jupyter_execute/``), and an image node pointing at it; the output's metadata does not reach the
doctree. So, on ``doctree-read`` and before Sphinx's image collector (priority 500, which picks the files to
copy into ``_images``), this extension reads the notebook's outputs where myst-nb read them (the execution
cache, which every edition shares), finds each image node whose file is an English figure, writes the drawing
in the page's language beside it and points the node there: that edition ships only its own image. The English
edition is left as it is.

The build warns (and, run with ``-W`` as ``make book`` runs it, fails) when a figure has a text the table
``book/figure_strings.<language>.json`` lacks, when the table translates a figure's text otherwise than when the
figure was drawn (``python -m book.figure_language redraw`` has its chapter executed again), when a PNG output
was not drawn in two languages, or when the kernel had no font to draw the language with; CONTRIBUTING.md says
how to add a figure string.

Listed in _config.yml under ``sphinx: local_extensions``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from book.figure_language import METADATA_KEY, stale_lines, table_path


def executed_notebook(source: Path, mode: str, cache_path: str | None) -> dict:
    """The notebook ``source`` as myst-nb renders it: with the outputs its execution cache holds (the book's
    ``execute_notebooks: cache``), else with those saved in the file (``off``)."""
    import nbformat

    notebook = nbformat.reads(source.read_text(encoding="utf-8"), as_version=4)
    if mode == "cache" and cache_path and Path(cache_path).is_dir():
        from jupyter_cache import get_cache

        cache = get_cache(cache_path)
        try:
            return cache.get_cache_bundle(cache.match_cache_notebook(notebook).pk).nb
        except KeyError:
            pass  # not executed (myst-nb reports that itself)
    return notebook


def figure_records(notebook: dict) -> dict[str, dict | None]:
    """SHA-256 of each ``image/png`` output's bytes -> its figure_language record (None when it has none)."""
    records: dict[str, dict | None] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            png = (output.get("data") or {}).get("image/png")
            if not png:
                continue
            png = "".join(png) if isinstance(png, list) else png
            digest = hashlib.sha256(base64.b64decode(png)).hexdigest()
            metadata = (output.get("metadata") or {}).get("image/png") or {}
            records[digest] = metadata.get(METADATA_KEY)
    return records


def translated_png(record: dict | None, language: str) -> tuple[bytes | None, list[str]]:
    """(the PNG to show in ``language``, or None to keep the one shown; problems to warn about)."""
    if record is None:
        return None, ["a PNG output that book.figure_language did not draw (not a matplotlib figure shown in "
                      "a kernel that imported book?): it shows its words in English"]
    if record.get("shown") == language:
        return None, []  # drawn in this language already
    translation = (record.get("translations") or {}).get(language)
    if translation is not None and "error" in translation:
        return None, [f"a figure that could not be drawn in {language}: {translation['error']}"]
    if not record.get("texts"):
        return None, []  # no words to translate
    if translation is None:
        return None, [f"a figure with no {language} drawing (texts: {record['texts']})"]
    problems = []
    stale = stale_lines(translation, language)
    if stale:
        problems.append(f"a figure was drawn before book/figure_strings.{language}.json had its present "
                        f"translations of {json.dumps(stale, ensure_ascii=False)}: run `.venv/bin/python -m "
                        "book.figure_language redraw` (its chapter is executed again at the next build)")
    elif translation.get("untranslated"):
        problems.append(f"a figure has texts with no {language} translation: "
                        f"{json.dumps(translation['untranslated'], ensure_ascii=False)}; add them to "
                        f"book/figure_strings.{language}.json (CONTRIBUTING.md, 'Figure strings')")
    return base64.b64decode(translation["image/png"]), problems


def swap_images(doctree, records: dict[str, dict | None], language: str, output_folder: Path, uri_of,
                warn) -> int:
    """Point each image node of ``doctree`` that shows a recorded figure at its ``language`` drawing, written
    into ``output_folder`` (named by its SHA-256, as myst-nb names outputs); ``uri_of(path)`` is the node's
    uri for a file, ``warn(message, node)`` reports a problem. Returns the number of images swapped."""
    from docutils import nodes

    swapped = 0
    for image in list(doctree.findall(nodes.image)):
        digest = Path(image.get("uri", "")).stem
        if Path(image.get("uri", "")).suffix != ".png" or digest not in records:
            continue
        png, problems = translated_png(records[digest], language)
        for problem in problems:
            warn(problem, image)
        if png is None:
            continue
        path = Path(output_folder) / f"{hashlib.sha256(png).hexdigest()}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        image["uri"] = uri_of(path)
        swapped += 1
    return swapped


def translate_figures(app, doctree) -> None:
    from sphinx.util import logging

    language = (app.config.language or "en").replace("-", "_")
    if language == "en":
        return
    docname = app.env.docname
    source = Path(app.env.doc2path(docname))
    if source.suffix != ".ipynb":
        return
    config = app.env.mystnb_config
    records = figure_records(executed_notebook(source, config.execution_mode, config.execution_cache_path))
    if not records:
        return
    # read again when the table changes: a figure drawn with an older table must say so (stale_lines)
    app.env.note_dependency(str(table_path(language)))
    output_folder = Path(config.output_folder)
    logger = logging.getLogger(__name__)

    def uri_of(path: Path) -> str:  # as myst-nb writes it: relative to the source folder, with a leading /
        return "/" + os.path.relpath(path.resolve(), app.srcdir)

    def warn(message: str, node) -> None:
        logger.warning(message, location=(docname, node.line), type="course", subtype="figure")

    swap_images(doctree, records, language, output_folder, uri_of, warn)


def setup(app):
    app.connect("doctree-read", translate_figures, priority=400)  # before the image collector (500)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
