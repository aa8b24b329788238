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

# The widget manager's bundles find their icon fonts next to the AMD modules they were loaded as. require.js
# places those modules beside the page unless told otherwise, so every widget page asked for
# <page dir>/@jupyter-widgets/... (404s). Point the module names at _static/html-manager/, where the fonts are.
REQUIRE_PATHS_JS = """(function () {
  var dir = document.querySelector('script[src*="_static/require.js"]').src.replace(/require\\.js(\\?.*)?$/, "html-manager/");
  require.config({paths: {"@jupyter-widgets/html-manager/dist": dir.slice(0, -1), "@jupyter-widgets/html-manager": dir + "html-manager",
                          "@jupyter-widgets/base": dir + "base", "@jupyter-widgets/controls": dir + "controls"}});
})();"""

# html-manager 1.0.6 typesets widget labels with MathJax 2's MathJax.Hub.Queue; MathJax 3 has no Hub, so each
# label threw "Cannot read properties of undefined (reading 'Queue')". This Hub hands the label to MathJax 3
# (once MathJax is ready; the labels sit inside the notebook's mathjax_ignore section, hence mathjax_process).
MATHJAX2_HUB_SHIM_JS = """(function () {
  if (!window.MathJax) return;
  var pending = [];
  function typeset(el) { el.classList.add("mathjax_process"); return MathJax.typesetPromise([el]); }
  var hub = {Queue: function (job) {
    var el = job && job[2];
    if (!el || !el.classList) return;
    if (MathJax.typesetPromise) typeset(el); else pending.push(el);
  }};
  var startup = MathJax.startup = MathJax.startup || {};
  var ready = startup.ready;
  startup.ready = function () {
    if (ready) ready(); else MathJax.startup.defaultReady();
    MathJax.Hub = hub;
    MathJax.startup.promise.then(function () { pending.forEach(typeset); pending = []; });
  };
  MathJax.Hub = hub;
})();"""


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
        "": {"body": REQUIRE_PATHS_JS},  # an inline script, between require.js and the manager
        # Only widget packages beyond the built-in controls (none in this book) would load from this CDN.
        WIDGETS: {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"},
    }
    logger.info("offline_assets: MathJax, require.js and the widget manager served from %s", static)


def tidy_page_scripts(app, pagename, templatename, context, doctree):
    """Per page: add the MathJax 2 shim where MathJax loads; drop inline scripts registered twice.

    Sphinx 7.4 keeps an inline script added with ``add_js_file(None, body=...)`` twice (once with filename None,
    once with ""), so sphinx-thebe's ``const THEBE_JS_URL = ...`` ran twice: a SyntaxError on every page.
    """
    scripts = list(context.get("script_files", []))
    if any(MATHJAX in str(js.filename or "") for js in scripts):
        app.builder.add_js_file("", body=MATHJAX2_HUB_SHIM_JS)  # after window.MathJax = {...}; runs before it loads
        scripts = list(context.get("script_files", []))
    seen, unique = set(), []
    for js in scripts:
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("config-inited", use_local_assets, priority=400)
    app.connect("html-page-context", tidy_page_scripts, priority=900)  # after sphinx.ext.mathjax adds its scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True}
