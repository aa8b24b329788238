"""Sphinx extension: the table of contents' part captions in the build's language.

sphinx-external-toc makes the toctree nodes of ``_toc.yml`` (captions "From scores to probabilities", ...) in a
transform of priority 100, after Sphinx's own ``Locale`` transform (priority 20) has translated the root page,
so the sidebar kept the English captions although the gettext builder extracts them into ``intro.po``. This
transform runs just after, looks each caption (and any explicit entry title) up in the same page's catalogue
and applies the translation, the way Sphinx translates the toctrees written in a page.
"""

from __future__ import annotations

from os import path

from sphinx import addnodes
from sphinx.locale import init as init_locale
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import docname_to_domain


class TranslateToctreeCaptions(SphinxTransform):
    default_priority = 101  # after sphinx_external_toc.events.InsertToctrees (100)

    def apply(self, **kwargs) -> None:
        language = self.config.language
        if not language or language == "en":
            return
        toctrees = list(self.document.findall(addnodes.toctree))
        if not toctrees:
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [path.join(self.env.srcdir, directory) for directory in self.config.locale_dirs]
        catalogue, has_catalogue = init_locale(dirs, language, domain)
        if not has_catalogue:
            return
        for toctree in toctrees:
            toctree.preserve_original_messages()
            for message in toctree.extract_original_messages():
                translated = catalogue.gettext(message)
                if translated and translated != message:
                    toctree.apply_translated_message(message, translated)


def setup(app):
    app.add_transform(TranslateToctreeCaptions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
