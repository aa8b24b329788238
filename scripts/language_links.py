"""Sphinx extension: each page of the book links to the same page in the book's other languages.

The site holds the English edition at its root and every other edition in a folder named after its language
(``zh_CN/``), built from the same sources (scripts/i18n.py). Each page gets

- a small link per other language in the article header, before the theme's buttons (template
  ``templates/language-links.html``), written in that language and marked with ``hreflang`` and ``lang``;
- ``<link rel="alternate" hreflang="...">`` in its head, one per edition, itself included.

Every URL is relative, so the links work offline, from ``file://`` and under any server path. Sphinx writes the
page's own ``<html lang="...">`` from the build's ``language``.
"""

from __future__ import annotations

from pathlib import Path

# language -> (folder of its edition inside the site, the language's name in itself). English is the root.
EDITIONS = {
    "en": ("", "English"),
    "zh_CN": ("zh_CN/", "中文"),
}
TEMPLATE = "language-links.html"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def hreflang(language: str) -> str:
    return language.replace("_", "-")


def edition(language: str | None) -> str:
    language = language or "en"
    if language not in EDITIONS:
        raise ValueError(f"language {language!r} has no edition; scripts/language_links.py knows {sorted(EDITIONS)}")
    return language


def links(pagename: str, language: str | None) -> list[dict]:
    """One entry per edition: its language, label and the URL of ``pagename`` in it, relative to this page."""
    current = edition(language)
    # from this page up to the site's root: the page's own folders, then the edition's folder
    up = "../" * (pagename.count("/") + EDITIONS[current][0].count("/"))
    return [{"language": lang, "hreflang": hreflang(lang), "label": label, "current": lang == current,
             "href": f"{up}{folder}{pagename}.html"} for lang, (folder, label) in EDITIONS.items()]


def add_templates(app, config):
    if str(TEMPLATES) not in map(str, config.templates_path):
        config.templates_path = [str(TEMPLATES), *config.templates_path]


def add_language_links(app, pagename, templatename, context, doctree):
    if app.builder.format != "html":
        return
    entries = links(pagename, app.config.language)
    context["course_language_links"] = [entry for entry in entries if not entry["current"]]
    context["metatags"] = context.get("metatags", "") + "".join(
        f'\n<link rel="alternate" hreflang="{entry["hreflang"]}" href="{entry["href"]}" />' for entry in entries)
    header = context.get("theme_article_header_end") or []
    if isinstance(header, str):
        header = [name.strip() for name in header.split(",") if name.strip()]
    if TEMPLATE not in header:
        context["theme_article_header_end"] = [TEMPLATE, *header]


def setup(app):
    app.connect("config-inited", add_templates, priority=401)
    # before pydata-sphinx-theme resolves the header's templates (default priority 500)
    app.connect("html-page-context", add_language_links, priority=450)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
