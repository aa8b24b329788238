"""Sphinx extension: the theme's own words in the build's language (the Chinese edition).

sphinx-book-theme and pydata-sphinx-theme write their buttons, tooltips and labels in English unless a catalogue
translates them, and for Simplified Chinese theirs leave many out ("Color mode", "Launch on Binder", ...) or
give Traditional Chinese (列印成 PDF). The course's catalogue ``locales/<lang>/LC_MESSAGES/theme.po`` holds
those words, and in a build whose ``language`` is not English this extension puts them into the pages through
the theme's own gettext machinery, never by rewriting the generated pages:

- the themes ask two message domains: ``sphinx`` (pydata-sphinx-theme's templates, and Sphinx itself, e.g.
  the "Link to this heading" title) and ``booktheme`` (sphinx-book-theme's buttons). The course's catalogue is
  put in front of each domain's translations, so it wins where both translate a word and the theme's
  translations still answer everything else;
- four words are hard-coded in sphinx-book-theme's templates (the sidebars' toggle buttons and two
  ``<nav aria-label>``). A Jinja extension turns exactly those attributes into ``_()`` calls as the templates
  are loaded; if the theme changes that markup the build warns (and fails under ``-W``);
- the search box's placeholder (Jupyter Book's ``search_bar_text``) and sphinx-togglebutton's hints are settings
  written into the page; they are translated in the configuration.

What the English build shows is untouched: there the extension does nothing. Words that Sphinx's own
``translations.js`` gives the page's scripts (the search page's messages) are already translated by Sphinx.
"""

from __future__ import annotations

import gettext
import io
from os import path

from jinja2.ext import Extension
from sphinx.locale import translators
from sphinx.util import logging

logger = logging.getLogger(__name__)

CATALOGUE = "theme"  # locales/<lang>/LC_MESSAGES/theme.po
DOMAINS = ("sphinx", "booktheme")  # the message domains the themes ask (sphinx_book_theme.MESSAGE_CATALOG_NAME)

# The attributes sphinx-book-theme writes in English without asking gettext: template -> attributes.
HARD_CODED = {
    "toggle-primary-sidebar.html": ('title="Toggle primary sidebar"',),
    "toggle-secondary-sidebar.html": ('title="Toggle secondary sidebar"',),
    "sbt-sidebar-nav.html": ('aria-label="Main"',),
    "layout.html": ('aria-label="Page"',),
}
# Settings whose text ends up in the page: (setting, key inside it or None).
CONFIG_TEXTS = (("html_theme_options", "search_bar_text"), ("togglebutton_hint", None),
                ("togglebutton_hint_hide", None))


def translating(language: str | None) -> bool:
    return bool(language) and language != "en"


def load_catalogue(locale_dirs, language: str) -> gettext.GNUTranslations | None:
    """The first ``<dir>/<language>/LC_MESSAGES/theme.po`` found in ``locale_dirs``, as a gettext translation
    (a fresh object each call), or None. Untranslated and fuzzy messages are left out, as Sphinx does."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for directory in locale_dirs:
        po = path.join(directory, language, "LC_MESSAGES", f"{CATALOGUE}.po")
        if path.isfile(po):
            with open(po, "rb") as handle:
                catalogue = read_po(handle, locale=language)
            data = io.BytesIO()
            write_mo(data, catalogue, use_fuzzy=False)
            data.seek(0)
            return gettext.GNUTranslations(data)
    return None


def as_messages(source: str, attributes=None) -> str:
    """Template source with each hard-coded attribute (``title="Toggle primary sidebar"``) asking gettext
    instead (``title="{{ _('Toggle primary sidebar')|e }}"``); other text is left as it is."""
    if attributes is None:
        attributes = [attribute for group in HARD_CODED.values() for attribute in group]
    for attribute in attributes:
        name, _, value = attribute.partition("=")
        message = value.strip('"')
        source = source.replace(attribute, f'{name}="{{{{ _({message!r})|e }}}}"')
    return source


class HardCodedWords(Extension):
    """Jinja extension: the theme's hard-coded attributes become messages as each template is loaded."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return as_messages(source)


def _catalogue_for(app) -> gettext.GNUTranslations | None:
    dirs = [path.join(app.srcdir, directory) for directory in app.config.locale_dirs]
    return load_catalogue(dirs, app.config.language)


def translate_config(app, config) -> None:
    """The settings that hold page text, in the build's language (before sphinx-togglebutton writes its
    hints into the page's JavaScript, also at config-inited)."""
    if not translating(config.language):
        return
    catalogue = _catalogue_for(app)
    if catalogue is None:
        logger.warning(f"no {CATALOGUE}.po for {config.language} in locale_dirs {config.locale_dirs}: the "
                       "theme's words stay English (locales/<lang>/LC_MESSAGES/theme.po, CONTRIBUTING.md)")
        return
    for setting, key in CONFIG_TEXTS:
        if setting not in config:
            continue
        value = getattr(config, setting)
        if key is None and isinstance(value, str):
            setattr(config, setting, catalogue.gettext(value))
        elif key is not None and isinstance(value, dict) and isinstance(value.get(key), str):
            setattr(config, setting, {**value, key: catalogue.gettext(value[key])})


def install_translations(app) -> None:
    """The course's catalogue in front of the themes' domains, and the hard-coded words made messages."""
    if not translating(app.config.language) or app.builder.format != "html":
        return
    for domain in DOMAINS:
        catalogue = _catalogue_for(app)  # one object per domain: each gets its own fallback chain
        if catalogue is None:
            return  # translate_config has said so
        current = translators.get(("general", domain))
        if current is not None:
            catalogue.add_fallback(current)
        translators[("general", domain)] = catalogue
    # The templates' _() is the object Sphinx installed in Jinja at start-up, not a lookup: install ours.
    app.translator = translators[("general", "sphinx")]
    environment = app.builder.templates.environment
    environment.install_gettext_translations(app.translator)
    environment.add_extension(HardCodedWords)
    for template, attributes in HARD_CODED.items():
        try:
            source = environment.loader.get_source(environment, template)[0]
        except Exception:  # noqa: BLE001 (jinja2.TemplateNotFound and the loader's own errors)
            source = ""
        missing = [attribute for attribute in attributes if attribute not in source]
        if missing:
            logger.warning(f"the theme's template {template} no longer writes {missing}: update HARD_CODED in "
                           "scripts/translate_theme.py, or those words stay English")


def setup(app):
    app.connect("config-inited", translate_config, priority=400)  # before sphinx-togglebutton's (500)
    app.connect("builder-inited", install_translations)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
