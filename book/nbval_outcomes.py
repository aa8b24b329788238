"""A pytest plugin the grader loads into its nbval run (``-p book.nbval_outcomes``): what happened in each cell.

For every notebook cell nbval executes it keeps: did nbval pass it (or skip it, for an ``nbval-skip`` tag), the error it raised (name and value), whether
the cell ran past the time limit, whether the kernel was lost (nbval could not interrupt it), and the check
verdicts that :mod:`book.questions` appended to the results file *while this cell ran* -- so a verdict is tied
to the cell that produced it. At the end of the session it writes them, as JSON, to the file named by
``COURSE_GRADING_OUTCOMES``.
"""

from __future__ import annotations

import json
import os

import pytest

from book.questions import RESULTS_ENV

OUTCOMES_ENV = "COURSE_GRADING_OUTCOMES"

_cells: list[dict] = []
_errors: list[str] = []
_results_read = 0  # bytes of the results file already given to a cell


def _new_verdicts() -> list[dict]:
    global _results_read
    path = os.environ.get(RESULTS_ENV)
    try:
        with open(path, "rb") as f:
            f.seek(_results_read)
            data = f.read()
    except (OSError, TypeError):
        return []
    _results_read += len(data)
    verdicts = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            verdict = json.loads(line)
        except ValueError:
            continue
        if isinstance(verdict, dict):
            verdicts.append(verdict)
    return verdicts


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    cell_num = getattr(item, "cell_num", None)
    if cell_num is None:
        return report
    if report.when == "setup" and report.failed and not _errors:  # e.g. the kernel did not start
        crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
        _errors.append(f"cell {cell_num} could not start: {crash or report.longreprtext.strip()[-500:]}")
    if report.when != "call":
        return report
    skipped = report.skipped and not hasattr(report, "wasxfail")  # an nbval-skip cell, not a failure after a timeout
    entry = {"cell": cell_num, "passed": report.passed, "skipped": skipped, "verdicts": _new_verdicts()}
    if not report.passed and not skipped and call.excinfo is not None:
        message = str(call.excinfo.value)
        errors = [o for o in (getattr(item, "test_outputs", None) or []) if o.get("output_type") == "error"]
        entry.update(
            message=message.splitlines()[0] if message else type(call.excinfo.value).__name__,
            ename=errors[-1].get("ename") if errors else None,
            evalue=errors[-1].get("evalue") if errors else None,
            timed_out="Timeout of" in message,
            kernel_lost="Failed to interrupt kernel" in message or "Kernel dead" in message
            or "exceeded waiting for output" in message,
        )
    _cells.append(entry)
    return report


def pytest_collectreport(report):
    if report.failed:
        _errors.append(f"collecting {report.nodeid} failed: {report.longreprtext.strip()[-2000:]}")


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(OUTCOMES_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"cells": _cells, "errors": _errors}, f)
