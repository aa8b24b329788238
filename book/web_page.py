"""Front-end code shipped inside the package and inlined into HTML outputs, and a bare page to hold them.

The explorers, the quizzes and the training monitor each show one HTML output that carries its own JavaScript and
CSS, so that it works offline in the static book, in JupyterLab and in Colab. They read those files here, and the
browser tests and benchmarks wrap outputs in :func:`standalone_page`.
"""

from __future__ import annotations

import functools
import html
from importlib import resources

THEMES = ("light", "dark")  # the values pydata-sphinx-theme puts in <html data-theme="...">


@functools.cache
def inline_asset(package: str, path: str) -> str:
    """The text of ``path`` inside ``package``, safe to inline in a ``<script>`` or ``<style>`` element."""
    text = resources.files(package).joinpath(path).read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered:  # would end the inline element early
        raise ValueError(f"{package}/{path} must not contain '</script' or '</style'")
    return text


def standalone_page(body: str, title: str, theme: str = "light", width_rem: int = 60) -> str:
    """A complete HTML page holding ``body``, light or dark the way pydata-sphinx-theme marks it."""
    if theme not in THEMES:
        raise ValueError(f"theme must be 'light' or 'dark', got {theme!r}")
    return (
        f'<!doctype html>\n<html lang="en" data-theme="{theme}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n<link rel="icon" href="data:,">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\nbody {{ font-family: system-ui, sans-serif; max-width: {width_rem}rem; margin: 0 auto; "
        "padding: 1rem; }\n"
        'html[data-theme="dark"] body { background: #14181e; color: #ced6dd; }\n</style>\n'
        f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
