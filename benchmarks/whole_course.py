"""The whole course's times: building a copy of the book (cold, then cached) and grading one notebook.

    python -m benchmarks.whole_course                 # both whole-book builds, then one grading; tables on stdout
    python -m benchmarks.whole_course --skip-book     # only the grading
    make bench                                        # this, after python -m book.bench (pipelines, accuracy)

Both run the course's own commands in a subprocess (``jupyter-book build``, ``python -m grader``), so this
module imports neither the book's build nor the grader. The verdicts are the targets of
:func:`book.bench.targets` (cold build, cached rebuild, one grading), the same that the Performance page lists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from book.bench.report import build_markdown, machine, targets, targets_markdown
from book.data import REPO_ROOT
from grader.make_exercises import SOLUTIONS_DIR

BOOK_SOURCES = ["_config.yml", "_toc.yml", "intro.md", "chapters", "scripts"]


def copy_book_sources(dest: str | Path, root: Path = REPO_ROOT) -> Path:
    """Copy what ``jupyter-book build`` reads into ``dest``: config, table of contents, pages, the local
    Sphinx extension (no ``_build``, so nothing is cached). The npm web assets are linked, not copied."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    toc_text = (root / "_toc.yml").read_text()
    for name in BOOK_SOURCES:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif source.is_file():
            shutil.copy2(source, dest / name)
    # Pages the table of contents names outside those folders (e.g. exercises/README) come along too.
    for line in toc_text.splitlines():
        entry = line.strip().removeprefix("- ").strip()
        if entry.startswith("file:"):
            stem = entry.split(":", 1)[1].strip()
            for candidate in (root / stem).parent.glob(Path(stem).name + ".*"):
                target = dest / candidate.relative_to(root)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(candidate, target)
    if (root / ".web_assets").is_dir():
        (dest / ".web_assets").symlink_to(root / ".web_assets", target_is_directory=True)
    return dest


def book_build_times(timeout: float = 900, log: Callable[[str], None] | None = None) -> dict:
    """Build a copy of the book twice into a fresh folder: cold (empty execution cache), then cached.

    The copy keeps the measurement away from anyone's ``_build`` and from files edited meanwhile.
    Returns ``{"cold_s", "cached_s", "ok", "error"}``; a failed build is reported, not raised.
    """
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    if not jupyter_book.exists():
        return {"cold_s": None, "cached_s": None, "ok": False,
                "error": f"{jupyter_book} not found: install the course environment (make venv)"}
    env = dict(os.environ)  # with the OMP_WAIT_POLICY that importing `book` set
    result = {"cold_s": None, "cached_s": None, "ok": True, "error": None}
    with tempfile.TemporaryDirectory(prefix="bench-book-") as tmp:
        source = copy_book_sources(Path(tmp) / "src")
        output = Path(tmp) / "out"
        for key in ("cold_s", "cached_s"):
            if log:
                log(f"book build ({key.split('_')[0]}) ...")
            start = time.perf_counter()
            try:
                completed = subprocess.run(
                    [str(jupyter_book), "build", str(source), "-W", "-n", "--keep-going", "--path-output", str(output)],
                    capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
            except subprocess.TimeoutExpired:
                result.update(ok=False, error=f"the {key[:-2]} build took longer than {timeout:.0f} s")
                break
            result[key] = time.perf_counter() - start
            if log:
                log(f"  {result[key]:.1f} s")
            if completed.returncode != 0:
                result.update(ok=False, error=f"the {key[:-2]} build failed (exit {completed.returncode}):\n"
                                              + (completed.stdout + completed.stderr)[-3000:])
                break
    return result


def repository_environment() -> dict[str, str]:
    """This process's environment (with the OMP_WAIT_POLICY that importing `book` set) for a command run in a
    scratch folder: the repository first on PYTHONPATH, so that ``python -m grader`` is found from there too
    (the grader is the repository's tooling, not installed with ``book``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def grading_time(notebook: str | Path | None = None, module: str = "grader", timeout: float = 300) -> dict:
    """Seconds for ``python -m grader <notebook>`` on one solution notebook (a learner's whole wait).

    Without the grader (no ``grader`` package on the path) or without a solution notebook the row says so instead.
    """
    if importlib.util.find_spec(module) is None:
        return {"seconds": None, "status": "n/a (grader not installed)", "notebook": None}
    if notebook is None:
        solutions = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
        if not solutions:
            return {"seconds": None, "status": "n/a (no notebook in exercises/solutions)", "notebook": None}
        notebook = solutions[0]
    notebook = Path(notebook).resolve()
    env = repository_environment()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:  # whatever the grader writes lands here
        start = time.perf_counter()
        try:
            completed = subprocess.run([sys.executable, "-m", module, str(notebook)], capture_output=True,
                                       text=True, timeout=timeout, cwd=tmp, env=env)
        except subprocess.TimeoutExpired:
            return {"seconds": None, "status": f"timed out after {timeout:.0f} s", "notebook": str(notebook)}
        seconds = time.perf_counter() - start
    output = (completed.stdout + completed.stderr)[-300:]
    status = "ok" if completed.returncode == 0 else f"exit {completed.returncode}: {output}"
    return {"seconds": seconds, "status": status, "notebook": str(notebook), "returncode": completed.returncode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.whole_course", description=__doc__.split("\n")[0])
    parser.add_argument("--skip-book", action="store_true", help="skip the cold and cached whole-book builds")
    parser.add_argument("--skip-grading", action="store_true", help="skip timing the grader")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "_build" / "bench_whole_course.json",
                        help="where to write the results as JSON (default: _build/bench_whole_course.json)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = {"machine": machine(),
               "book_build": None if args.skip_book else book_build_times(log=_progress),
               "grading": None if args.skip_grading else grading_time()}
    results["targets"] = targets(results)
    results["total_s"] = time.perf_counter() - start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    print(f"## The whole course\n\n{m['cpu_count']} CPUs, Python {m['python']}, load average at start "
          f"{m['load_average_1min']}; total {results['total_s']:.0f} s\n")
    print(build_markdown(results) + "\n\n" + targets_markdown(results))
    print(f"(JSON written to {args.json})")
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # the tables go to stdout


if __name__ == "__main__":
    raise SystemExit(main())
