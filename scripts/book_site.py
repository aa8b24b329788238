"""What the built book must contain, read from its sources, and the checks on it that need no browser.

- ``toc_pages(root)``: every page of ``_toc.yml`` in reading order (root page first), with its source file;
- ``launch_settings(root)``: repository, branch and launch services named in ``_config.yml``;
- ``serve(html_dir)``: the built book on a local HTTP server, for a browser;
- ``broken_internal_links(html_dir)``: every internal ``href``/``src`` of every built page, with anchors, that
  does not resolve.

Used by tests/test_book*.py and scripts/page_weight.py; standard library and PyYAML only.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import sys
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import yaml

SOURCE_SUFFIXES = (".ipynb", ".md", ".rst")


@dataclass(frozen=True)
class Page:
    docname: str  # as in _toc.yml: "intro", "chapters/02_softmax"
    source: Path

    @property
    def html(self) -> str:
        """The page's path inside the built site."""
        return f"{self.docname}.html"

    @property
    def is_notebook(self) -> bool:
        return self.source.suffix == ".ipynb"

    @property
    def slug(self) -> str:
        """A file name for things made from this page (screenshots): its path with '/' as '_'."""
        return self.docname.replace("/", "_")


def _toc_docnames(node) -> list[str]:
    """The `root` and every `file` entry of a _toc.yml tree, in document order."""
    names = []
    if isinstance(node, dict):
        if "glob" in node:
            raise ValueError(f"_toc.yml: 'glob: {node['glob']}' is not supported here; list each file instead")
        for key in ("root", "file"):
            if key in node:
                names.append(str(node[key]))
        for key, value in node.items():
            if key not in ("root", "file"):
                names += _toc_docnames(value)
    elif isinstance(node, list):
        for item in node:
            names += _toc_docnames(item)
    return names


def toc_pages(root: Path) -> list[Page]:
    """The pages of the table of contents, in reading order, each with the source file it is built from."""
    root = Path(root)
    pages = []
    for docname in _toc_docnames(yaml.safe_load((root / "_toc.yml").read_text())):
        docname = docname.removesuffix(Path(docname).suffix) if docname.endswith(SOURCE_SUFFIXES) else docname
        sources = [root / f"{docname}{suffix}" for suffix in SOURCE_SUFFIXES if (root / f"{docname}{suffix}").is_file()]
        if not sources:
            raise FileNotFoundError(f"_toc.yml lists '{docname}', but none of {docname}{{{','.join(SOURCE_SUFFIXES)}}} "
                                    f"exists under {root}: fix the entry or add the file")
        pages.append(Page(docname, sources[0]))
    return pages


@dataclass(frozen=True)
class LaunchSettings:
    owner_repo: str  # "softmax-course/softmax-regression-pytorch"
    branch: str
    path_to_book: str
    binderhub_url: str
    colab_url: str

    def notebook_path(self, page: Page) -> str:
        """The notebook's path inside the repository, as a launch service must open it."""
        prefix = self.path_to_book.strip("/")
        return f"{prefix}/{page.docname}.ipynb" if prefix else f"{page.docname}.ipynb"


def launch_settings(root: Path) -> LaunchSettings:
    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    repository, launch = config.get("repository") or {}, config.get("launch_buttons") or {}
    url = str(repository.get("url", ""))
    parts = urlsplit(url)
    if parts.netloc != "github.com" or len(parts.path.strip("/").split("/")) != 2:
        raise ValueError(f"_config.yml: repository.url should be https://github.com/<owner>/<name>, not {url!r}")
    return LaunchSettings(owner_repo=parts.path.strip("/"), branch=str(repository.get("branch", "main")),
                          path_to_book=str(repository.get("path_to_book") or ""),
                          binderhub_url=str(launch.get("binderhub_url", "")).rstrip("/"),
                          colab_url=str(launch.get("colab_url", "")).rstrip("/"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would drown the test output
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    # Chromium opens several connections at once and one thread accepts them: the socketserver default backlog
    # of 5 overflows on a busy machine, and a dropped connection is retried only after 1, 3, 7... seconds.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A browser that closes a page mid-download resets its connection: not an error of the book.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(html_dir: Path):
    """Serve ``html_dir`` on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --- internal links -------------------------------------------------------------------------------------------

LINK_ATTRIBUTES = {"a": "href", "area": "href", "link": "href", "img": "src", "script": "src", "iframe": "src",
                   "source": "src", "video": "src", "audio": "src", "embed": "src"}


class _PageLinks(HTMLParser):
    """The ids a page defines (anchor targets) and the links it makes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag, target)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        target = attrs.get(LINK_ATTRIBUTES.get(tag, ""))
        if target:
            self.links.append((tag, target))


@dataclass(frozen=True)
class BrokenLink:
    page: str    # the page that links, relative to the site
    tag: str
    target: str  # as written in the page
    reason: str

    def __str__(self):
        return f"{self.page}: <{self.tag}> {self.target!r}: {self.reason}"


def _is_internal(target: str) -> bool:
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc  # http:, mailto:, data:, javascript:, //host are not ours


def broken_internal_links(html_dir: Path) -> tuple[list[BrokenLink], int]:
    """Check every internal link of every built page (files under _static are third-party assets: skipped).

    A link is broken when its file is missing, leaves the site, or names an anchor (#id) that its target page
    does not define. Returns the broken links and how many links were checked.
    """
    html_dir = Path(html_dir).resolve()
    parsed: dict[Path, _PageLinks] = {}

    def parse(path: Path) -> _PageLinks:
        if path not in parsed:
            parser = _PageLinks()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            parsed[path] = parser
        return parsed[path]

    broken, checked = [], 0
    pages = sorted(p for p in html_dir.rglob("*.html") if "_static" not in p.relative_to(html_dir).parts)
    for page in pages:
        page_rel = page.relative_to(html_dir).as_posix()
        for tag, target in parse(page).links:
            if not _is_internal(target) or target == "#":  # "#" is the theme's do-nothing button link
                continue
            checked += 1
            resolved = urlsplit(urljoin(f"http://book/{page_rel}", target))
            path_part = unquote(resolved.path).lstrip("/")
            file = (html_dir / path_part).resolve()
            if target.startswith("#"):
                file = page
            elif html_dir != file and html_dir not in file.parents:
                broken.append(BrokenLink(page_rel, tag, target, "points outside the built site"))
                continue
            if file.is_dir():
                file = file / "index.html"
            if not file.is_file():
                broken.append(BrokenLink(page_rel, tag, target, f"no file {file.relative_to(html_dir)}"))
                continue
            anchor = unquote(resolved.fragment)
            if anchor and file.suffix == ".html" and anchor not in parse(file).ids:
                broken.append(BrokenLink(page_rel, tag, target,
                                         f"{file.relative_to(html_dir)} has no element with id {anchor!r}"))
    return broken, checked
