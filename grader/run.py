"""One run of a graded notebook under nbval: sandboxed (or not), with the grader's plan, read back as data.

A run gets a fresh workspace (a temporary folder of the grader's):

- ``in/plans/<q>/``  -- the planned cases of each question (:mod:`book.protocol`), read-only in the sandbox;
- ``work/``         -- the sandbox's writable folder and the kernel's working directory: the graded notebook, the
  records the check cells write (``work/records/<q>/``), the outcomes nbval's plugin writes;
- ``log``            -- what pytest printed (the grader keeps only its end).

Everything read back from ``work/`` was written inside the sandbox and is treated as untrusted data: regular files
only, size limits, a fixed schema (:func:`read_outcomes`). The workspace is removed afterwards, whatever the run
left in it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from book.nbval_outcomes import OUTCOMES_ENV
from book.plain_data import PayloadError, read_regular
from book.protocol import PLANS_ENV, RECORDS_ENV
from book.questions import RESULTS_ENV
from grader import sandbox
from grader.exercise_cells import notebook_text
from grader.stage import PACKAGE_DIR

PACKAGE_PARENT = PACKAGE_DIR.parent  # the repository: PYTHONPATH of an unsandboxed run (its `book` is the course's)
# `python -m pytest`, except that jsonschema (imported by nbval through nbformat) is kept from importing
# rfc3987_syntax: it only checks "iri" strings, which notebook schemas never use, and takes seconds to import.
PYTEST_BOOTSTRAP = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); import pytest; "
                    "sys.exit(pytest.main(sys.argv[1:]))")
MAX_OUTCOMES_BYTES = 8 << 20
MAX_CELLS = 10_000


class Workspace:
    """The temporary folder of one grading (see the module docstring); a context manager that removes it."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="grade-"))
        self.root.chmod(0o711)  # the sandbox's uid must reach in/ and work/ (and nothing else here)
        self.plans = self.root / "in" / "plans"
        self.plans.mkdir(parents=True)
        for folder in (self.root / "in", self.plans):
            folder.chmod(0o755)
        self.work = self.root / "work"
        self.log = self.root / "log"

    def readable_plans(self) -> None:
        """Let the sandbox's uid read the plans written so far."""
        sandbox.readable_tree(self.plans)

    def fresh_work(self) -> None:
        """An empty work folder for the next run (each run starts from nothing the previous one left)."""
        sandbox.remove_tree(self.work)
        self.work.mkdir()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        sandbox.remove_tree(self.root)


@dataclass
class Run:
    """What came back from one run: cell outcomes (untrusted), errors, the end of pytest's output."""

    outcomes: dict[int, dict]
    errors: list[str]
    readable: bool        # False when the outcomes were missing or malformed (the run ended abnormally)
    exit_status: int | None
    tail: str


def environment(ws: Workspace, threads: int | None, sandboxed: bool) -> dict[str, str]:
    """The environment of the run: a clean one in the sandbox (nothing of the grader's leaks in)."""
    bin_dir = str(Path(sys.executable).parent)
    grading = {PLANS_ENV: str(ws.plans), RECORDS_ENV: str(ws.work / "records"),
               OUTCOMES_ENV: str(ws.work / "outcomes.json"), RESULTS_ENV: str(ws.work / "results.jsonl"),
               "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if sandboxed:
        env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONPATH": str(PACKAGE_PARENT), "PYTHONNOUSERSITE": "1",
               "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        for name, folder in data_folders().items():
            env[name] = str(folder)
    else:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), env.get("PYTHONPATH")]))
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on a shared CPU
    env.update(grading)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    elif "OMP_NUM_THREADS" in os.environ:
        env["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
    return env


def data_folders() -> dict[str, Path]:
    """The course's data the sandbox may read (shown read-only): the data folder and the download cache."""
    out = {}
    if os.environ.get("COURSE_DATA_DIR") and Path(os.environ["COURSE_DATA_DIR"]).is_dir():
        out["COURSE_DATA_DIR"] = Path(os.environ["COURSE_DATA_DIR"]).resolve()
    cache = Path(os.environ.get("COURSE_CACHE_DIR") or Path.home() / ".cache" / "softmax-course")
    if cache.is_dir():
        out["COURSE_CACHE_DIR"] = cache.resolve()
    return out


def run_notebook(nb, ws: Workspace, *, timeout: float, kernel: str | None, threads: int | None,
                 staged_package: Path | None, limits: sandbox.Limits | None = None, started=None) -> Run:
    """Execute ``nb`` with pytest --nbval-lax, in the sandbox when ``staged_package`` is given (the reduced
    ``book`` it shows), else directly. ``started()`` runs while it starts (the grader writes the plans then)."""
    ws.fresh_work()
    notebook = ws.work / "graded.ipynb"
    notebook.write_text(notebook_text(nb), encoding="utf-8")
    ini = ws.root / "in" / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")  # no addopts/testpaths from the repository or anywhere else
    ini.chmod(0o644)
    # only the two plugins the run needs (other installed plugins -- hypothesis's takes 2 s to load -- stay
    # out), and no assertion rewriting of them: both cost seconds of CPU per run and change nothing here
    command = [sys.executable, "-c", PYTEST_BOOTSTRAP, str(notebook), "-c", str(ini), "--rootdir", str(ws.work),
               "--noconftest", "--assert=plain", "-p", "no:cacheprovider", "-p", "nbval.plugin",
               "-p", "book.nbval_outcomes", "-q", "--no-header", "--nbval-lax", f"--nbval-cell-timeout={timeout:g}"]
    command += ["--nbval-kernel-name", kernel] if kernel else ["--nbval-current-env"]
    n_cells = sum(c["cell_type"] == "code" for c in nb["cells"])
    budget = timeout * (n_cells + 2) + 120
    sandboxed = staged_package is not None
    env = environment(ws, threads, sandboxed)
    with open(ws.log, "w+b") as log:
        if sandboxed:
            limits = limits or sandbox.Limits()
            box = sandbox.Sandbox(readonly=[ws.root / "in", PACKAGE_PARENT / "data", *data_folders().values()],
                                  writable=[ws.work], overlays={PACKAGE_DIR: staged_package},
                                  limits=sandbox.Limits(**{**limits.__dict__, "cpu_seconds": int(budget) + 60}))
            status = box.run(command, cwd=ws.work, env=env, timeout=budget, output=log, started=started)
        else:
            status = sandbox.run_unsandboxed(command, cwd=ws.work, env=env, timeout=budget, output=log,
                                             started=started)
        log.seek(max(0, os.fstat(log.fileno()).st_size - 4000))
        tail = log.read().decode("utf-8", errors="replace")
    outcomes, errors, readable = read_outcomes(ws.work / "outcomes.json")
    if status is None:
        errors.append(f"the run did not finish within {budget:g} s and was stopped")
    elif status == sandbox.OVER_QUOTA:
        errors.append(f"it wrote more than {(limits or sandbox.Limits()).disk_bytes >> 20} MB into its folder and "
                      "was stopped")
    return Run(outcomes, errors, readable, status, tail)


def _text(value, limit: int = 2000) -> str | None:
    return None if value is None else str(value)[:limit]


def read_outcomes(path: Path) -> tuple[dict[int, dict], list[str], bool]:
    """The cell outcomes the run's plugin wrote, validated field by field; ({}, [], False) if unusable."""
    try:
        data = json.loads(read_regular(path, MAX_OUTCOMES_BYTES).decode("utf-8"))
    except (PayloadError, ValueError, RecursionError, UnicodeDecodeError):
        return {}, [], False
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or not isinstance(data.get("errors"),
                                                                                              list):
        return {}, [], False
    outcomes = {}
    for raw in data["cells"][:MAX_CELLS]:
        if not isinstance(raw, dict) or type(raw.get("cell")) is not int or not isinstance(raw.get("passed"), bool):
            return {}, [], False
        verdicts = [v for v in raw.get("verdicts", []) if isinstance(v, dict)][:100] \
            if isinstance(raw.get("verdicts"), list) else []
        outcomes[raw["cell"]] = {
            "cell": raw["cell"], "passed": raw["passed"], "skipped": raw.get("skipped") is True,
            "verdicts": [{k: _text(v.get(k)) for k in ("exercise", "question", "status", "message")}
                         for v in verdicts],
            "message": _text(raw.get("message")), "ename": _text(raw.get("ename"), 200),
            "evalue": _text(raw.get("evalue")), "timed_out": raw.get("timed_out") is True,
            "kernel_lost": raw.get("kernel_lost") is True, "dead_on_start": raw.get("dead_on_start") is True,
            "died": raw.get("died") is True, "asked_exit": raw.get("asked_exit") is True}
    errors = [_text(e) for e in data["errors"][:20]]
    return outcomes, errors, True
