"""The book's second language: gettext catalogues made from the English sources, and the Chinese build.

The English notebooks are the one source of code and text. Sphinx's internationalisation takes each page's
paragraphs, headings, admonitions and captions as messages (code cells and their outputs are not messages: code
stays English, outputs come from the one shared execution) and looks each one up in the page's catalogue,
``locales/<lang>/LC_MESSAGES/<docname>.po``, when it builds that language.

Commands (``.venv/bin/python scripts/i18n.py --help``):

- ``update``  extract the messages of every page of ``_toc.yml`` (no notebook is executed), of every quiz
  (``quizzes/<name>.po``, ``quizzes/ui.po``: book/quiz/translations.py) and of every exercise
  (``exercises/<name>.po``: the Markdown paragraphs of exercises/solutions/<name>.ipynb, from which
  ``python -m grader.make_exercises`` writes exercises/<lang>/<name>.ipynb) and bring the catalogues up to date
  with ``sphinx-intl update``: new messages are added empty, changed ones are marked fuzzy with the old
  translation as a hint, the translations of unchanged ones are kept; then :func:`tidy` fills every header
  and drops the format flags the course does not use. ``make catalogues``.
- ``tidy``  only that last step, on the catalogues as they are.
- ``extract DIR``  only the extraction: one ``<docname>.pot`` per page, per quiz and per exercise under DIR.
- ``build``  the whole site: English into ``_build/html/``, then every other language into
  ``_build/html/<lang>/``, the second edition reading the first's execution cache (it executes nothing).
  ``make book``.

Each language's settings are ``_config.yml`` with ``_config.<lang>.yml`` laid over it (title, footer, language).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCALES = "locales"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from language_links import EDITIONS  # noqa: E402  (the editions and the folders they are built into)

LANGUAGES = tuple(language for language in EDITIONS if language != "en")  # each built into _build/html/<lang>/
CACHE = "_build/.jupyter_cache"  # the one execution cache, shared by every edition


def load_config(root: Path = ROOT, language: str | None = None) -> dict:
    """``_config.yml``, with ``_config.<language>.yml`` laid over it (dictionaries merged key by key)."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    if language:
        overlay_path = root / f"_config.{language}.yml"
        if not overlay_path.is_file():
            raise FileNotFoundError(f"{overlay_path} is missing: each language besides English needs its "
                                    "settings file (title, footer, language) next to _config.yml")
        _merge(config, yaml.safe_load(overlay_path.read_text(encoding="utf-8")) or {})
    return config


def _merge(base: dict, overlay: dict) -> None:
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _absolute_extension_paths(config: dict, root: Path) -> None:
    """Jupyter Book resolves local extension folders against the config file's folder; ours is a temporary one."""
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in extensions.items():
        extensions[name] = str((root / path).resolve())


def write_config(config: dict, folder: Path, root: Path = ROOT) -> Path:
    config = copy.deepcopy(config)
    _absolute_extension_paths(config, root)
    path = folder / "_config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _sphinx_config(config: dict) -> dict:
    return config.setdefault("sphinx", {}).setdefault("config", {})


def extraction_config(root: Path = ROOT) -> dict:
    """The English settings with execution off: extracting messages must not run a notebook."""
    config = load_config(root)
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    sphinx = _sphinx_config(config)
    sphinx["gettext_compact"] = False  # one catalogue per page: <docname>.pot
    sphinx["gettext_location"] = False  # line numbers would churn every catalogue at every edit
    sphinx["gettext_uuid"] = False
    return config


def _jupyter_book(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run([str(exe), *args], cwd=cwd, text=True, capture_output=True)


def extract(pot_dir: Path, root: Path = ROOT) -> Path:
    """One ``<docname>.pot`` per page of ``_toc.yml`` under ``pot_dir`` (made afresh), no notebook executed."""
    pot_dir = Path(pot_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="course-gettext-") as tmp:
        tmp = Path(tmp)
        config = write_config(extraction_config(root), tmp, root)
        done = _jupyter_book("build", str(root), "--config", str(config), "--path-output", str(tmp),
                             "--builder", "custom", "--custom-builder", "gettext", "--all", cwd=root)
        if done.returncode != 0:
            raise RuntimeError(f"the gettext extraction failed (exit {done.returncode}):\n"
                               f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        built = tmp / "_build" / "gettext"
        if pot_dir.exists():
            shutil.rmtree(pot_dir)
        shutil.copytree(built, pot_dir, ignore=shutil.ignore_patterns(".doctrees", "sphinx.pot"))
    return pot_dir


def extract_quizzes(pot_dir: Path, root: Path = ROOT) -> list[Path]:
    """``quizzes/<name>.pot`` for each chapter's quiz and ``quizzes/ui.pot`` for the quiz's own words.

    The quizzes are data (chapters/quizzes/*.json) that the book shows through an executed cell, so Sphinx never
    sees their texts; book/quiz/translations.py says which texts are messages and reads the translations back.
    """
    sys.path.insert(0, str(root))
    from book.quiz import read_quiz
    from book.quiz.translations import UI_CATALOGUE, quiz_messages, ui_messages

    folder = Path(pot_dir) / "quizzes"
    folder.mkdir(parents=True, exist_ok=True)
    catalogues = {path.stem: quiz_messages(read_quiz(path))
                  for path in sorted((root / "chapters" / "quizzes").glob("*.json"))}
    if UI_CATALOGUE in catalogues:
        raise ValueError(f"chapters/quizzes/{UI_CATALOGUE}.json would share its catalogue with the quiz's own "
                         "words (quizzes/ui.po): rename it")
    catalogues[UI_CATALOGUE] = ui_messages()
    return [write_template(folder / f"{name}.pot", messages, root) for name, messages in catalogues.items()]


def write_template(path: Path, messages, root: Path = ROOT) -> Path:
    """A message template (``.pot``) at ``path`` holding ``messages``, in order, once each."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalogue = Catalog(project=load_config(root).get("title", ""), fuzzy=False)
    for message in messages:
        catalogue.add(message)
    with open(path, "wb") as handle:
        write_po(handle, catalogue, width=0, omit_header=False)
    return path


def extract_exercises(pot_dir: Path, root: Path = ROOT) -> list[Path]:
    """``exercises/<name>.pot`` for each exercise: the Markdown paragraphs of exercises/solutions/<name>.ipynb.

    One message per paragraph (:func:`grader.exercise_cells.markdown_messages`), as Sphinx makes of a page: an
    edit to one paragraph marks only that one fuzzy, and a heading is a message of its own. Code cells, fenced
    code blocks and the solutions-only cells (which the learner notebooks leave out) are not messages.
    """
    sys.path.insert(0, str(root))
    from grader.exercise_cells import markdown_messages, read_notebook

    folder = Path(pot_dir) / "exercises"
    folder.mkdir(parents=True, exist_ok=True)
    return [write_template(folder / f"{notebook.stem}.pot", markdown_messages(read_notebook(notebook)), root)
            for notebook in sorted((root / "exercises" / "solutions").glob("*.ipynb"))]


def update(languages=LANGUAGES, root: Path = ROOT) -> list[Path]:
    """Extract the messages, then ``sphinx-intl update`` every language's catalogues; returns the .po files."""
    with tempfile.TemporaryDirectory(prefix="course-pot-") as tmp:
        pot_dir = extract(Path(tmp) / "pot", root)
        extract_quizzes(pot_dir, root)
        extract_exercises(pot_dir, root)
        intl = Path(sys.executable).parent / "sphinx-intl"
        command = [str(intl), "update", "-p", str(pot_dir), "-d", str(root / LOCALES), "-w", "0", "-j", "1"]
        for language in languages:
            command += ["-l", language]
        subprocess.run(command, cwd=root, check=True)
    tidy(languages, root)
    return sorted((root / LOCALES).glob("*/LC_MESSAGES/**/*.po"))


# --- the catalogues' headers and flags ------------------------------------------------------------------------

# Babel, which sphinx-intl writes the catalogues with, flags any message that looks like a format string:
# "90% one-hot" as python-format ("% o"), "$\\{x\\}$" as python-brace-format, and `msgfmt -c` then checks
# translations against formats nobody fills. The course fills placeholders only in the quiz's own words
# (book/quiz/page.py: "{right} of {total}", "{answer}"), so those keep python-brace-format, and nothing else
# keeps either flag.
FORMAT_FLAGS = ("python-format", "python-brace-format")
FORMATTED = {"quizzes/ui": "python-brace-format"}  # catalogue (inside LC_MESSAGES, no .po) -> the flag it keeps


def header_values(root: Path = ROOT) -> dict:
    """The catalogues' header, from the course's own files: _config.yml (title, author, copyright year,
    repository) and pyproject.toml (version)."""
    import tomllib

    config = load_config(root)
    version = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    repository = (config.get("repository") or {}).get("url", "").rstrip("/")
    return {"project": config["title"], "version": version, "team": config["author"],
            "year": str(config.get("copyright") or datetime.date.today().year),
            "bugs": f"{repository}/issues" if repository else ""}


def _revision_date(path: Path, root: Path) -> datetime.datetime:
    """When the catalogue's translations were last revised: its last commit, or now if it has none."""
    done = subprocess.run(["git", "log", "-1", "--format=%cI", "--", str(path)], cwd=root, text=True,
                          capture_output=True)
    stamp = done.stdout.strip() if done.returncode == 0 else ""
    return datetime.datetime.fromisoformat(stamp) if stamp else datetime.datetime.now(datetime.timezone.utc)


def tidy(languages=LANGUAGES, root: Path = ROOT) -> list[Path]:
    """Every catalogue of ``languages`` with its header filled in (project and version, the course's team as
    translator and team, where to report a message) and no format flag the course does not use
    (:data:`FORMAT_FLAGS`); a file is rewritten only when that changes it. Returns the files rewritten."""
    from babel.messages.pofile import read_po, write_po

    values = header_values(root)
    translator = values["team"] + (f" <{values['bugs']}>" if values["bugs"] else "")
    changed = []
    for language in languages:
        folder = root / LOCALES / language / "LC_MESSAGES"
        for path in sorted(folder.rglob("*.po")):
            with open(path, "rb") as handle:
                catalogue = read_po(handle, locale=language)
            name = path.relative_to(folder).with_suffix("").as_posix()
            kept = FORMATTED.get(name)
            for message in [*catalogue, *catalogue.obsolete.values()]:
                for flag in FORMAT_FLAGS:
                    if flag != kept:
                        message.flags.discard(flag)
            catalogue.project, catalogue.version = values["project"], values["version"]
            catalogue.copyright_holder = values["team"]
            catalogue.msgid_bugs_address = values["bugs"]
            catalogue.last_translator = translator
            catalogue.language_team = f"{catalogue.locale.english_name}: {translator}"
            catalogue.fuzzy = False  # the header is filled in, not a guess
            if not isinstance(catalogue.revision_date, datetime.datetime):  # still "YEAR-MO-DA HO:MI+ZONE"
                catalogue.revision_date = _revision_date(path, root)
            catalogue.header_comment = (
                f"# {catalogue.locale.english_name} translation of {values['project']}: {name}.\n"
                f"# Copyright (C) {values['year']} {values['team']}\n"
                f"# This file is distributed under the same license as the {values['project']} project.\n"
                f"# Translated by {values['team']}, {values['year']}.\n#")
            data = io.BytesIO()
            write_po(data, catalogue, width=0, omit_header=False)
            if data.getvalue() != path.read_bytes():
                path.write_bytes(data.getvalue())
                changed.append(path)
    return changed


# --- the site: both editions ----------------------------------------------------------------------------------

def compile_catalogues(language: str, out_dir: Path, root: Path = ROOT) -> Path:
    """Every ``.po`` of ``language`` compiled to ``.mo`` under ``out_dir`` (the repository gets no build files).

    Returns the folder to give Sphinx as ``locale_dirs``. Fuzzy translations are left out, as Sphinx does.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    source = root / LOCALES / language / "LC_MESSAGES"
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is missing: run `make catalogues` to make {language}'s catalogues")
    target = out_dir / language / "LC_MESSAGES"
    wanted = set()
    for po in sorted(source.rglob("*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        wanted.add(mo)
        with open(po, "rb") as handle:
            catalogue = read_po(handle, locale=language)
        data = io.BytesIO()
        write_mo(data, catalogue, use_fuzzy=False)
        # Rewritten only when it changed: Sphinx reads again every page whose catalogue is newer than its doctree.
        if not mo.is_file() or mo.read_bytes() != data.getvalue():
            mo.parent.mkdir(parents=True, exist_ok=True)
            mo.write_bytes(data.getvalue())
        # Sphinx finds catalogues by their .po files, and makes each page depend on its .mo only then.
        copy_po = mo.with_suffix(".po")
        wanted.add(copy_po)
        if not copy_po.is_file() or copy_po.read_bytes() != po.read_bytes():
            shutil.copyfile(po, copy_po)
    for stale in set(target.rglob("*.[mp]o")) - wanted if target.is_dir() else ():
        stale.unlink()
    return out_dir


def edition_config(out: Path, language: str | None, root: Path = ROOT) -> dict:
    """The settings of one edition built under ``out``: every edition reads and writes one execution cache."""
    config = load_config(root, language)
    config.setdefault("execute", {})["cache"] = str((out / CACHE).resolve())
    if language:
        sphinx = _sphinx_config(config)
        sphinx["language"] = language
        sphinx["locale_dirs"] = [str(compile_catalogues(language, out / "_build" / language / "locales", root))]
        sphinx["gettext_auto_build"] = False  # we compiled them, outside the repository
        sphinx["gettext_compact"] = False  # one catalogue per page, as extracted
    return config


EXECUTING = "Executing notebook using"  # what myst-nb logs before it runs a notebook


def build_edition(out: Path, language: str | None, strict: bool = True, root: Path = ROOT,
                  log=sys.stdout) -> float:
    """Build one edition: English into ``out/_build/html``, another into ``out/_build/html/<language>``.

    Returns the seconds it took. Raises RuntimeError when the build fails, or when an edition other than the
    first executed a notebook (it must find every one in the English edition's execution cache).
    """
    out = Path(out).resolve()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-config-") as tmp:
        config = write_config(edition_config(out, language, root), Path(tmp), root)
        path_output = out if language is None else out / "_build" / language
        flags = ["-W", "-n", "--keep-going"] if strict else []
        exe = Path(sys.executable).parent / "jupyter-book"
        process = subprocess.Popen([str(exe), "build", str(root), *flags, "--config", str(config),
                                    "--path-output", str(path_output)],
                                   cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        executed = []
        for line in process.stdout:
            log.write(line)
            log.flush()
            if EXECUTING in line:
                executed.append(line.strip())
        code = process.wait()
    if code != 0:
        raise RuntimeError(f"the {language or 'English'} edition's build failed (exit {code}); see its log above")
    if language is not None:
        if executed:
            raise RuntimeError(f"the {language} edition executed notebooks ({len(executed)}), which the English "
                               "edition's execution cache should have held: build the English edition first, "
                               f"with the same cache ({(out / CACHE)})")
        built = path_output / "_build" / "html"
        site = out / "_build" / "html" / EDITIONS[language][0].rstrip("/")
        if site.exists():
            shutil.rmtree(site)
        shutil.copytree(built, site)
    return time.perf_counter() - start


def build(out: Path = ROOT, strict: bool = True, languages=LANGUAGES, root: Path = ROOT, log=sys.stdout) -> dict:
    """Every edition into ``out/_build/html``: English first (it executes what changed), then the others.

    A chapter whose figures were drawn with an older figure table (or before figures were drawn in every
    language) is first dropped from the execution cache, so that the English edition draws it again: the other
    editions show the drawings the execution made (book/figure_language.py)."""
    cache = Path(out) / CACHE
    if cache.is_dir():
        from book.figure_language import redraw

        for language in languages:
            redraw(cache, language)
    seconds = {"en": build_edition(out, None, strict, root, log)}
    for language in languages:
        seconds[language] = build_edition(out, language, strict, root, log)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update", help="extract the messages and update every catalogue (make catalogues)")
    sub.add_parser("tidy", help="only fill the catalogues' headers and drop spurious format flags")
    ext = sub.add_parser("extract", help="only extract: one <docname>.pot per page into DIR")
    ext.add_argument("dir", type=Path)
    bld = sub.add_parser("build", help="build every edition into PATH/_build/html (make book)")
    bld.add_argument("--path-output", type=Path, default=ROOT, help="the folder that gets _build/ (default: .)")
    bld.add_argument("--no-strict", action="store_true", help="without -W -n --keep-going")
    bld.add_argument("--only", choices=["en", *LANGUAGES], help="one edition (a second one needs the first's cache)")
    args = parser.parse_args(argv)
    if args.command == "build":
        strict = not args.no_strict
        if args.only:
            language = None if args.only == "en" else args.only
            seconds = {args.only: build_edition(args.path_output, language, strict)}
        else:
            seconds = build(args.path_output, strict)
        for language, took in seconds.items():
            print(f"built the {language} edition in {took:.1f} s")
        return 0
    if args.command == "update":
        for po in update():
            print(po.relative_to(ROOT))
    elif args.command == "tidy":
        for po in tidy():
            print(po.relative_to(ROOT))
    elif args.command == "extract":
        print(extract(args.dir))
        extract_quizzes(args.dir)
        extract_exercises(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
