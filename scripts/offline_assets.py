"""Sphinx extension: serve MathJax, require.js and the ipywidgets manager from the book's own files.

Jupyter Book 1.x loads all three from CDNs, so an offline reader sees raw TeX and no widgets. When
``scripts/install_web_assets.sh`` has put the npm packages under ``.web_assets/static`` (done by ``make book``),
this points Sphinx and myst-nb at those copies; they end up under ``_build/html/_static/``. When they are
missing (no npm on this machine) the build keeps the CDN addresses and says so: the book still works online.

The folder is deliberately not named ``_static``: Jupyter Book adds every .js found under ``_static`` to
every page.
"""

from pathlib import Path

from sphinx.util import logging

STATIC = ".web_assets/static"
MATHJAX = "mathjax/tex-chtml.js"
REQUIRE = "require.js"
WIDGETS = "html-manager/embed-amd.js"

logger = logging.getLogger(__name__)


def use_local_assets(app, config):
    static = Path(app.confdir) / STATIC
    missing = [f for f in (MATHJAX, REQUIRE, WIDGETS) if not (static / f).is_file()]
    if missing:
        # info, not a warning: a `-W` build must still succeed online without npm.
        logger.info("offline_assets: %s missing under %s; MathJax and widgets will load from CDNs "
                    "(run scripts/install_web_assets.sh for an offline book)", ", ".join(missing), static)
        return
    config.html_static_path = [*config.html_static_path, STATIC]
    config.mathjax_path = MATHJAX  # relative paths are relative to _static/
    config.nb_ipywidgets_js = {  # relative paths are relative to _static/, as for mathjax_path
        REQUIRE: {},
        # Only widget packages beyond the built-in controls (none in this book) would load from this CDN.
        WIDGETS: {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"},
    }
    logger.info("offline_assets: MathJax, require.js and the widget manager served from %s", static)


def setup(app):
    app.connect("config-inited", use_local_assets, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
