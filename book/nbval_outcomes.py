"""A pytest plugin the grader loads into its nbval run (``-p book.nbval_outcomes``): what happened in each cell.

For every notebook cell nbval executes it keeps: did nbval pass it (or skip it, for an ``nbval-skip`` tag), the
error it raised (name and value), whether the cell ran past the time limit, whether the kernel was lost (nbval
could not interrupt it, or it died), and the check verdicts that :mod:`book.questions` appended to the results
file *while this cell ran* -- so a verdict is tied to the cell that produced it. At the end of the session it
writes them, as JSON, to the file named by ``COURSE_GRADING_OUTCOMES``.

It also makes nbval notice a kernel that died in the middle of a cell (``os._exit``, a crash, the memory limit)
within a second, instead of waiting out the cell's whole time limit for a reply that cannot come.

In a class grading this runs inside the sandbox, next to the learner's kernel: the grader reads what it wrote as
untrusted data (:func:`grader.run.read_outcomes`) that can explain a failure but never earn a point.
"""

from __future__ import annotations

import json
import os
import time
from queue import Empty

import pytest

from book.questions import RESULTS_ENV

OUTCOMES_ENV = "COURSE_GRADING_OUTCOMES"

_cells: list[dict] = []
_errors: list[str] = []
_results_read = 0  # bytes of the results file already given to a cell
_died = False      # the kernel process ended while the current cell ran (rather than hanging)
_asked_exit = False  # the current cell asked for the kernel to end (quit(), exit())
_exit_pending = False  # some cell asked for it: a kernel that stops answering now is not worth waiting for


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


def _notice_dead_kernels() -> None:
    """nbval's wait for a cell's reply, in one-second slices: a kernel that died gives up at once (instead of
    waiting out the cell's time limit), and a reply asking the front end to end the kernel (``quit()``,
    ``exit()``: the kernel stops answering a moment later) is noted for that cell."""
    from nbval.kernel import RunningKernel

    if getattr(RunningKernel.await_reply, "_course_patched", False):
        return

    def await_reply(self, msg_id, timeout=None):
        global _died, _asked_exit, _exit_pending
        if _exit_pending:
            timeout = 3.0 if timeout is None else min(float(timeout), 3.0)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise Empty()
            try:
                msg = self.get_message(stream="shell", timeout=1.0 if left is None else min(1.0, left))
            except Empty:
                if not self.is_alive():  # no reply will come: nbval reports this cell as the one that lost it
                    _died = True
                    raise
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                payload = msg["content"].get("payload") or []
                if any(isinstance(p, dict) and p.get("source") == "ask_exit" for p in payload):
                    _asked_exit = _exit_pending = True
                if msg["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                return

    await_reply._course_patched = True
    RunningKernel.await_reply = await_reply


def pytest_configure(config):
    _notice_dead_kernels()


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
            dead_on_start="Kernel dead on test start" in message,  # the cell before ended the kernel
            died=_died or "Kernel dead on test start" in message,     # it ended, rather than hung
        )
    entry["asked_exit"] = _asked_exit
    _cells.append(entry)
    _reset_died()
    return report


def _reset_died() -> None:
    global _died, _asked_exit
    _died = _asked_exit = False


def pytest_collectreport(report):
    if report.failed:
        _errors.append(f"collecting {report.nodeid} failed: {report.longreprtext.strip()[-2000:]}")


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(OUTCOMES_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"cells": _cells, "errors": _errors}, f)
