"""Sphinx extension: serve MathJax, require.js and the ipywidgets manager from the book's own files.

Jupyter Book 1.x loads all three from CDNs, so an offline reader sees raw TeX and no widgets. When
``scripts/install_web_assets.sh`` has put the npm packages under ``.web_assets/static`` (done by ``make book``),
this points Sphinx and myst-nb at those copies; they end up under ``_build/html/_static/``. When they are
missing (no npm on this machine) the build keeps the CDN addresses and says so: the book still works online.

The folder is deliberately not named ``_static``: Jupyter Book adds every .js found under ``_static`` to
every page.

The theme's Font Awesome JavaScript (530 KB gzipped, on every page) is left out: the theme's CSS draws the
same icons from its web fonts (templates/static/webpack-macros.html).

It also keeps the widget manager (about 1.1 MB gzipped) off pages that do not need it. A headless execution
(nbclient, the book build) saves the last state of *every* widget the notebook created, closed or not, and
myst-nb loads require.js and the manager on every page whose notebook carries any widget state. Per page, only
the widgets that a shown view needs are kept (the views, everything they reference, and the jslink links between
them); a page that shows no widget view gets neither the state nor the manager.
"""

import json
import re
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


TEMPLATES = Path(__file__).resolve().parent / "templates"  # static/webpack-macros.html: no fontawesome.js


def drop_icon_script(app, config):
    """Use our templates first: the theme's, less Font Awesome's JavaScript (its CSS and fonts draw the icons)."""
    config.templates_path = [str(TEMPLATES), *config.templates_path]


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


WIDGET_STATE_TYPE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW_SCRIPT = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)
MODEL_ID = re.compile(r"[0-9a-f]{32}")  # ipywidgets' model ids are uuid4().hex
LINK_MODELS = ("LinkModel", "DirectionalLinkModel")  # jslink / jsdlink: nothing refers to them, they refer


def shown_view_ids(body: str) -> set[str]:
    """The model ids of the widget views a page's HTML shows."""
    ids = set()
    for match in WIDGET_VIEW_SCRIPT.finditer(body):
        try:
            ids.add(json.loads(match.group(1))["model_id"])  # JSON reads myst-nb's "<\\/" escapes itself
        except (ValueError, KeyError, TypeError):
            continue  # not a view we can read: keep nothing for it
    return ids


def prune_widget_state(state: dict, view_ids: set[str]) -> dict:
    """The models of ``state`` ({model id: model}) that the views ``view_ids`` need.

    A view needs its own model and every model that model mentions (children, layout, style, an Output widget's
    nested views), transitively; a jslink/jsdlink link is kept when both of its ends are.
    """
    mentions = {mid: set(MODEL_ID.findall(json.dumps(model.get("state", {})))) & state.keys()
                for mid, model in state.items()}
    keep, todo = set(), [mid for mid in view_ids if mid in state]
    while todo:
        mid = todo.pop()
        if mid not in keep:
            keep.add(mid)
            todo.extend(mentions[mid] - keep)
    links = {mid for mid, model in state.items() if model.get("model_name") in LINK_MODELS}
    keep |= {mid for mid in links if mentions[mid] and mentions[mid] <= keep}
    return {mid: model for mid, model in state.items() if mid in keep}


def _is_widget_manager(app, js) -> bool:
    """One of the scripts myst-nb adds for ipywidgets (require.js, our inline paths, the manager)."""
    loaders = app.config.nb_ipywidgets_js or {}
    name = str(js.filename or "")
    if name:  # Sphinx puts relative names under _static/
        return name in loaders or name.removeprefix("_static/") in loaders
    return js.attributes.get("body") in [kwargs.get("body") for path, kwargs in loaders.items() if not path]


def keep_needed_widget_state(app, context) -> None:
    """Prune the page's saved widget state to what its views need; without views, no state and no manager."""
    scripts = list(context.get("script_files", []))
    states = [js for js in scripts if js.attributes.get("type") == WIDGET_STATE_TYPE]
    if not states:
        return
    views = shown_view_ids(context.get("body", ""))
    for js in states:
        saved = json.loads(js.attributes["body"])
        kept = prune_widget_state(saved.get("state", {}), views)
        index = scripts.index(js)
        if kept:
            body = json.dumps({**saved, "state": kept}).replace("</", "<\\/")
            scripts[index] = type(js)(js.filename, priority=js.priority, **{**js.attributes, "body": body})
        else:
            scripts[index] = None
    if not any(js is not None and js.attributes.get("type") == WIDGET_STATE_TYPE for js in scripts):
        scripts = [js for js in scripts if js is not None and not _is_widget_manager(app, js)]
    # In place: the list is the builder's own for this page (restored after it), which add_js_file extends later.
    context["script_files"][:] = [js for js in scripts if js is not None]


def tidy_page_scripts(app, pagename, templatename, context, doctree):
    """Per page: keep only the widget state shown views need (and the manager only then); add the MathJax 2
    shim where MathJax loads; drop inline scripts registered twice.

    Sphinx 7.4 keeps an inline script added with ``add_js_file(None, body=...)`` twice (once with filename None,
    once with ""), so sphinx-thebe's ``const THEBE_JS_URL = ...`` ran twice: a SyntaxError on every page.
    """
    keep_needed_widget_state(app, context)
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
    app.connect("config-inited", drop_icon_script, priority=400)
    app.connect("html-page-context", tidy_page_scripts, priority=900)  # after sphinx.ext.mathjax adds its scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True}
