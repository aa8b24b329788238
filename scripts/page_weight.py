"""Page weight of the built book: what a first-time reader downloads for each page, and the largest assets.

    .venv/bin/python scripts/page_weight.py _build/html [--json _build/page_weight.json] [--top 10]

Serves the built book on localhost, opens every page of the table of contents in headless Chromium (offline,
fresh cache each page) and adds up the bytes of everything the page loads from the book: the HTML, scripts,
styles, fonts, images and the chunks scripts load later. tests/test_book_e2e.py prints the same report from its
own run, and holds every page to the budget: at most BUDGET_GZIP_BYTES (1.5 MiB) gzipped, theme and MathJax
included. The script exits with status 1 when a page is over it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_site  # noqa: E402  (the folder of this script is not a package)

ROOT = Path(__file__).resolve().parent.parent
BUDGET_GZIP_BYTES = 1536 * 1024  # what a first visit of any page may download, gzipped (the course's budget: 1.5 MiB)


def gzip_size(file: Path) -> int:
    """Bytes of the file gzip-compressed (level 6, what web servers commonly send), 0 if it is not there."""
    try:
        return len(gzip.compress(file.read_bytes(), compresslevel=6, mtime=0))
    except (FileNotFoundError, IsADirectoryError):
        return 0


def weight_summary(loaded_by_page: dict[str, dict[str, int]], top: int = 10, html_dir: Path | None = None) -> dict:
    """Totals per page and the largest assets from {page: {asset path: bytes}}, in a JSON-ready dict.

    The local test server sends files uncompressed; with ``html_dir`` each asset's gzip size is added too, closer to
    what a reader on a slow connection downloads from a host that compresses."""
    pages = []
    assets: dict[str, dict] = {}
    for page, loaded in loaded_by_page.items():
        for path, size in loaded.items():
            if path not in assets:
                assets[path] = {"asset": path, "bytes": size, "pages": 0}
                if html_dir is not None:
                    assets[path]["gzip_bytes"] = gzip_size(Path(html_dir) / unquote(path).lstrip("/"))
            assets[path]["pages"] += 1
        row = {"page": page, "requests": len(loaded), "total_bytes": sum(loaded.values()),
               "html_bytes": loaded.get("/" + page, 0)}
        if html_dir is not None:
            row["total_gzip_bytes"] = sum(assets[path]["gzip_bytes"] for path in loaded)
        pages.append(row)
    largest = sorted(assets.values(), key=lambda a: (-a["bytes"], a["asset"]))[:top]
    return {"pages": pages, "largest_assets": largest,
            "largest_page": max(pages, key=lambda p: p["total_bytes"])["page"] if pages else None}


def over_budget(summary: dict, budget: int = BUDGET_GZIP_BYTES) -> list[dict]:
    """The pages of a summary (made with ``html_dir``) whose gzipped total exceeds ``budget`` bytes."""
    return [p for p in summary["pages"] if p.get("total_gzip_bytes", 0) > budget]


def largest_assets_of(loaded: dict[str, int], html_dir: Path, top: int = 5) -> list[tuple[str, int]]:
    """A page's heaviest assets, gzipped: [(path, bytes)], for saying why a page is over its budget."""
    sizes = [(path, gzip_size(Path(html_dir) / unquote(path).lstrip("/"))) for path in loaded]
    return sorted(sizes, key=lambda item: (-item[1], item[0]))[:top]


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f}"


def format_report(summary: dict) -> str:
    """The summary as a plain-text table."""
    width = max([len(p["page"]) for p in summary["pages"]] + [4])
    gz = all("total_gzip_bytes" in p for p in summary["pages"])
    lines = ["Page weight: bytes a first visit loads from the book (HTML + scripts, styles, fonts, images)",
             f"{'page':<{width}}  {'requests':>8}  {'total KiB':>10}  {'HTML KiB':>9}" + ("  gzipped KiB" if gz else "")]
    for p in summary["pages"]:
        over = gz and p["total_gzip_bytes"] > BUDGET_GZIP_BYTES
        lines.append(f"{p['page']:<{width}}  {p['requests']:>8}  {_kib(p['total_bytes']):>10}  "
                     f"{_kib(p['html_bytes']):>9}" + (f"  {_kib(p['total_gzip_bytes']):>11}" if gz else "")
                     + ("  over the budget" if over else ""))
    if gz:
        lines.append(f"Budget: {_kib(BUDGET_GZIP_BYTES)} KiB gzipped per page; "
                     f"{len(over_budget(summary))} page(s) over it.")
    lines.append("Largest assets:")
    for a in summary["largest_assets"]:
        gzipped = f" ({_kib(a['gzip_bytes'])} KiB gzipped)" if "gzip_bytes" in a else ""
        lines.append(f"  {_kib(a['bytes']):>9} KiB  {a['asset']}{gzipped}  "
                     f"({a['pages']} page{'s' if a['pages'] != 1 else ''})")
    return "\n".join(lines)


def measure(html_dir: Path, root: Path = ROOT) -> dict[str, dict[str, int]]:
    """{page: {asset path: bytes}} for every page of the table of contents, measured in the browser."""
    import book_browser  # needs Playwright; the formatting above does not

    html_dir = Path(html_dir)
    if not (html_dir / "intro.html").is_file() and not any(html_dir.glob("*.html")):
        raise SystemExit(f"page_weight: {html_dir} holds no built book; build it first (make book)")
    loaded = {}
    with book_site.serve(html_dir) as base, book_browser.BookBrowser(base) as browser:
        for page in book_site.toc_pages(root):
            loaded[page.html] = browser.visit(page.html, play_animations=False, try_quizzes=False).loaded
    return loaded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--top", type=int, default=10, help="how many of the largest assets to list")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's sources (for _toc.yml)")
    args = parser.parse_args(argv)
    summary = weight_summary(measure(args.html_dir, args.root), top=args.top, html_dir=args.html_dir)
    print(format_report(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 1 if over_budget(summary) else 0


if __name__ == "__main__":
    sys.exit(main())
