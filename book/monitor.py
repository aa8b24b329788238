"""Watch a model train: live curves in Jupyter, a static figure in the built book, a text line in a terminal.

    monitor = TrainingMonitor("softmax regression")
    with monitor.run(epochs=10, steps_per_epoch=len(train_loader)):
        for epoch in range(10):
            for X, y in train_loader:
                ...
                monitor.step(loss=loss.item())          # optional, per minibatch
            monitor.epoch(train_loss=..., train_acc=..., test_acc=...)
    monitor.history                                     # [{"epoch": 1, "train_loss": ..., ...}, ...]
    monitor.animation()                                 # the curves growing epoch by epoch (HTML/JS)

Where it runs decides how it shows (``mode="auto"``):

- **live** -- a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab, Binder): one HTML output with a progress
  bar, rate and ETA, a table of the latest numbers and the curves. The kernel only sends numbers (the per-step
  values averaged into at most a few hundred bins, raw and smoothed, and the per-epoch rows) and replaces the
  output in place a few times a second (``refresh``, and never more often than keeps the sending within
  ``max_overhead``, 2 %, of the training time); the browser draws the curves (``book/web/monitor.js``, with the
  explorers' charts), so they move from the first steps on. When the run ends the live view is replaced by one
  static figure, an ordinary ``image/png`` output: that is what a headless execution (the book build, nbval,
  nbclient) keeps in the notebook, and what the rendered book shows. ``"widget"`` is accepted as the old name.
- **static** -- chosen by hand: one printed line per epoch, then the same final figure.
- **text** -- a plain Python script or terminal: a tqdm progress bar and one line per epoch.
- **silent** -- nothing at all, not even on errors; the history is kept.

Stopping (the Jupyter stop button, Ctrl-C) draws what the run has and keeps the history, then lets the
``KeyboardInterrupt`` go on: a Run All stops there, and no later cell goes on with a half-trained model. In
Jupyter its traceback is one short paragraph that says what was kept. The next ``run`` of the same monitor numbers
its epochs after the finished ones (the steps of an epoch that never finished are dropped then, so that they
are not drawn twice); whether the *model* continues depends on the cell: one that builds its model afresh starts
again from scratch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import itertools
import json
import math
import re
import sys
import time
import uuid
from collections.abc import Mapping

from book.figure_language import chosen_language, two_languages
from book.plots import figure_png
from book.web_page import inline_asset

MODES = ("auto", "live", "static", "text", "silent")
OLD_NAMES = {"widget": "live"}  # the live view's name when it was made of ipywidgets


def detect_mode() -> str:
    """``live`` in a Jupyter kernel, ``text`` anywhere else (a script, the terminal IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return "text"
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return "text"  # no frontend to draw in
    return "live"


def _group(key: str) -> str:
    """Which panel a metric is drawn in."""
    k = key.lower()
    if "loss" in k:
        return "loss"
    if "acc" in k:
        return "accuracy"
    if k in ("lr", "learning_rate") or "lr" in k.split("_"):
        return "learning rate"
    return key


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}:{seconds % 3600 // 60:02d}h"


NOT_DRAWN = ("epoch", "step", "step_in_epoch", "time", "diverged")


def _drawn_keys(history: list[Mapping], steps: list[Mapping]) -> list[str]:
    """The keys that get curves, in order of first appearance: numbers, not bookkeeping."""
    keys = dict.fromkeys(k for r in [*history, *steps] for k, v in r.items()
                         if k not in NOT_DRAWN and isinstance(v, (int, float)) and not isinstance(v, bool))
    return list(keys)


def _twin(key: str, keys) -> str:
    """A per-step ``loss`` takes the colour of the per-epoch ``train_loss`` it averages into."""
    return f"train_{key}" if f"train_{key}" in keys else key


def plot_history(history: list[Mapping], steps: list[Mapping] | None = None, title: str | None = None,
                 upto: int | None = None, figsize=None, xmax: float | None = None,
                 steps_per_epoch: int | None = None, ylims: list | None = None, fig=None):
    """Draw per-epoch curves (and faint per-step curves) as a ``matplotlib.figure.Figure``, one panel per group.

    Groups: every key containing ``loss`` shares a panel, so does ``acc``, so does ``lr``; any other key gets its
    own. ``upto`` draws only the first ``upto`` epochs and ``xmax``/``ylims`` fix the axes (for animations);
    ``fig`` draws into an existing figure after clearing it. Uses no pyplot state, so nothing is displayed unless
    the caller displays it.
    """
    from matplotlib.figure import Figure

    rows = list(history[:upto] if upto is not None else history)
    step_rows = [s for s in (steps or []) if upto is None or s["epoch"] <= upto]
    keys = _drawn_keys(history, steps or [])
    groups = list(dict.fromkeys(_group(k) for k in keys)) or ["loss"]
    if fig is None:
        # no constrained layout: it doubles the cost of every redraw
        fig = Figure(figsize=figsize or (min(4.2 * len(groups), 13), 3.3))
    else:
        fig.clear()
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    per_epoch = {}  # steps seen in each epoch: places step k of epoch e at x = e - 1 + k / n
    for s in step_rows:
        per_epoch[s["epoch"]] = max(per_epoch.get(s["epoch"], 0), s["step_in_epoch"])
    for i, (ax, group) in enumerate(zip(axes, groups)):
        colors: dict[str, str] = {}
        for key in (k for k in keys if _group(k) == group):
            color = colors.setdefault(_twin(key, keys), f"C{len(colors) % 10}")
            points = [(s["epoch"] - 1 + s["step_in_epoch"] / (steps_per_epoch or per_epoch[s["epoch"]]), s[key])
                      for s in step_rows if key in s]
            if points:
                ax.plot(*_binned(points), color=color, alpha=0.35, lw=0.8, label=f"{key} (per step)")
            points = [(r["epoch"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), "o-", color=color, ms=3.5, lw=1.6, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(group)
        ax.grid(alpha=0.3)
        if group == "learning rate":
            ax.set_yscale("log")
        if xmax:
            ax.set_xlim(0, xmax)
        if ylims:
            ax.set_ylim(ylims[i])
        if ax.lines:  # a fixed corner: loc="best" costs more than the rest of the redraw
            ax.legend(fontsize=8, loc={"loss": "upper right", "accuracy": "lower right"}.get(group, "best"))
    last = rows[-1] if rows else {}
    summary = "  ".join(f"{k} {_fmt(v)}" for k, v in last.items() if k not in ("time", "diverged"))
    fig.suptitle("\n".join(s for s in (title, summary) if s), fontsize=10)
    fig.subplots_adjust(left=0.08 / len(groups) + 0.02, right=0.98, bottom=0.16, top=0.8, wspace=0.28)
    return fig


def _binned(points: list[tuple[float, float]], bins: int = 200) -> tuple[list[float], list[float]]:
    """At most ``bins`` points, each the mean of a run of neighbours: thousands of minibatch losses would only
    add noise to the picture and time to every redraw."""
    size = max(1, -(-len(points) // bins))
    xs, ys = [], []
    for i in range(0, len(points), size):
        chunk = points[i:i + size]
        xs.append(sum(p[0] for p in chunk) / len(chunk))
        ys.append(sum(p[1] for p in chunk) / len(chunk))
    return xs, ys


def _costed(method):
    """Add the wall time spent in a monitor method to ``monitor.cost_seconds`` (what monitoring costs)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.cost_seconds += time.perf_counter() - start
    return wrapper


# --- the animation player --------------------------------------------------------------------------------------

# matplotlib's player draws its buttons with Font Awesome 4 fetched from a CDN: offline (the built book) that is a
# blocked request and blank buttons. Text symbols are no cure: no font installed with Debian's Chromium has
# U+23EE/U+23ED (first/last frame), which then show as empty boxes. Each button gets a small inline SVG icon
# instead (16 x 16, filled with the button's text colour), which needs no font at all; its name stays in the
# button's title and aria-label.
PLAYER_ICONS = {
    "fa fa-minus": "M3 7h10v2H3z",
    "fa fa-fast-backward": "M1 3h2v10H1zM8.5 3v10L3.5 8zM15 3v10l-5-5z",
    "fa fa-step-backward": "M3 3h2v10H3zM13 3v10L6 8z",
    "fa fa-play fa-flip-horizontal": "M12 3v10L4 8z",
    "fa fa-pause": "M4 3h3v10H4zM9 3h3v10H9z",
    "fa fa-play": "M4 3v10l8-5z",
    "fa fa-step-forward": "M3 3v10l7-5zM11 3h2v10h-2z",
    "fa fa-fast-forward": "M1 3v10l5-5zM7.5 3v10l5-5zM13 3h2v10h-2z",
    "fa fa-plus": "M7 3h2v4h4v2H9v4H7V9H3V7h4z",
}
PLAYER_STYLE = """<style>
.animation { max-width: 100%; }
.animation img { max-width: 100%; height: auto; }
.animation input[type=range].anim-slider { width: min(640px, 100%); height: 1.6rem; }
.animation .anim-buttons button {
  display: inline-flex; align-items: center; justify-content: center;
  width: 2.5rem; height: 2rem; margin: 0 1px; padding: 0; color: inherit; cursor: pointer;
}
.animation .anim-icon { width: 16px; height: 16px; fill: currentColor; }
</style>
"""


def offline_player(html_text: str) -> str:
    """matplotlib's ``to_jshtml`` output without its Font Awesome stylesheet link, each button an SVG icon."""
    html_text = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html_text)
    for icon, path in PLAYER_ICONS.items():
        html_text = html_text.replace(
            f'<i class="{icon}"></i>',
            f'<svg class="anim-icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="{path}"/></svg>')
    return html_text + PLAYER_STYLE


# --- the monitor ------------------------------------------------------------------------------------------------

class TrainingMonitor:
    """Collects per-step and per-epoch numbers from a training loop and shows them as training goes.

    ``history`` holds one dict per epoch (``{"epoch": n, **values, "time": seconds}``), ``steps`` one per logged
    minibatch (``{"epoch", "step", "step_in_epoch", **values}``); both grow across runs.
    """

    def __init__(self, title: str | None = None, mode: str = "auto", refresh: float = 0.25,
                 max_overhead: float = 0.02, figsize=None):
        mode = OLD_NAMES.get(mode, mode)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not (isinstance(refresh, (int, float)) and refresh > 0):
            raise ValueError(f"refresh must be a positive number of seconds between live updates, got {refresh!r}")
        if not (isinstance(max_overhead, (int, float)) and 0 < max_overhead <= 1):
            raise ValueError(f"max_overhead must be a fraction of the training time in (0, 1], e.g. 0.02, "
                             f"got {max_overhead!r}")
        self.title, self.figsize = title, figsize
        self.mode = detect_mode() if mode == "auto" else mode
        self.refresh, self.max_overhead = refresh, max_overhead
        self.history: list[dict] = []
        self.steps: list[dict] = []
        self._view = None
        self._session = None
        self._step_in_epoch = 0
        self.total_steps = 0
        self.cost_seconds = 0.0  # time spent inside the monitor, all runs together...
        self.final_figure_seconds = 0.0  # ...of which drawing the static figure each run ends with

    # --- what a training loop calls ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def run(self, epochs: int | None = None, steps_per_epoch: int | None = None):
        """Show a run of ``epochs`` more epochs; ends with the static figure, also when stopped.

        An interrupt (the stop button, Ctrl-C) or an error ends the run with what it has, then goes on.
        """
        self.start(epochs, steps_per_epoch)
        try:
            yield self
        except KeyboardInterrupt as stop:
            note = self._interrupted_note()
            self.finish()
            self._explain(stop, note)
            raise
        except BaseException:
            self.finish()
            drawn = ", the figure shows the epochs before it" if self.history and self.mode != "text" else ""
            self._say(f"training stopped by an error during epoch {self.epochs_done + 1}{drawn}")
            raise
        else:
            self.finish()

    @_costed
    def step(self, **values) -> None:
        """Record one minibatch (values are optional: ``monitor.step()`` only advances the progress bar)."""
        self._ensure_started()
        self._step_in_epoch += 1
        self.total_steps += 1
        if values:
            values = _plain(values)
            self.steps.append({"epoch": self.epochs_done + 1, "step": self.total_steps,
                               "step_in_epoch": self._step_in_epoch, **values})
        self._session["steps"] += 1
        self._view.on_step(self, values)

    @_costed
    def epoch(self, **values) -> dict:
        """Record the end of an epoch with its numbers (train_loss=..., test_acc=..., lr=..., anything)."""
        self._ensure_started()
        row = {"epoch": self.epochs_done + 1, **_plain(values),
               "time": round(time.perf_counter() - self._session["start"], 4)}
        self.history.append(row)
        self._session["epochs"] += 1
        if self._session["steps_per_epoch"]:
            self._session["steps"] = self._session["epochs"] * self._session["steps_per_epoch"]
        self._step_in_epoch = 0
        self._view.on_epoch(self, row)
        return row

    # --- state -------------------------------------------------------------------------------------------------

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def latest(self) -> dict:
        return dict(self.history[-1]) if self.history else {}

    @_costed
    def start(self, epochs: int | None = None, steps_per_epoch: int | None = None) -> None:
        for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive whole number or None (unknown), got {value!r}")
        if self._view is not None:
            self.finish()
        # the steps of an epoch that never finished (a run stopped part-way) would be drawn twice, under the
        # steps of the epoch that now takes its number
        self.steps = [s for s in self.steps if s["epoch"] <= self.epochs_done]
        self._session = {"epochs_planned": epochs, "steps_per_epoch": steps_per_epoch, "epochs": 0, "steps": 0,
                         "start": time.perf_counter(), "first_epoch": self.epochs_done + 1}
        self._step_in_epoch = 0
        view = {"live": LiveView, "static": StaticView, "text": TextView, "silent": SilentView}[self.mode]
        self._view = view(self)

    @_costed
    def finish(self, note: str | None = None) -> None:
        """End the current run: replace the live view with the final static figure (no-op if not running)."""
        if self._view is not None:
            view, self._view = self._view, None
            view.close(self)
        if note:
            self._say(note)

    def _ensure_started(self) -> None:
        if self._view is None:
            self.start()

    def _say(self, text: str) -> None:
        """A note about the run: on stderr in a terminal, in the cell's output in Jupyter, nowhere when silent."""
        if self.mode != "silent":
            print(text, file=sys.stderr if self.mode == "text" else sys.stdout, flush=True)

    def _interrupted_note(self) -> str:
        s = self._session or {"epochs_planned": None, "first_epoch": 1, "steps_per_epoch": None}
        epoch = self.epochs_done + 1
        planned = f" of {s['first_epoch'] - 1 + s['epochs_planned']:,}" if s["epochs_planned"] else ""
        steps = ""
        if self._step_in_epoch:
            of = f" of its {s['steps_per_epoch']}" if s["steps_per_epoch"] else ""
            steps = f", after {self._step_in_epoch:,}{of} steps"
        done = self.epochs_done
        kept = ("No epoch had finished" if done == 0 else
                f"The monitor's history keeps the {'finished epoch' if done == 1 else f'{done} finished epochs'}")
        drawn = ", drawn above" if done and self.mode in ("live", "static") else ""
        return (f"Training interrupted during epoch {epoch:,}{planned}{steps}. {kept}{drawn}; the "
                "model keeps the weights it had at that moment. The interrupt goes on, so nothing queued after "
                "this training runs (in a Run All: the cells below).")

    def _explain(self, stop: KeyboardInterrupt, note: str) -> None:
        """Say what was kept: in Jupyter as the interrupt's whole (short) traceback, in a terminal before it."""
        if self.mode == "silent":
            return
        if self.mode == "text":
            self._say(note)
        elif not hasattr(stop, "_render_traceback_"):  # an inner monitor may have explained it already
            # IPython shows what this returns instead of the frames of the training loop
            stop._render_traceback_ = lambda: [f"KeyboardInterrupt: {note}"]

    # --- pictures ----------------------------------------------------------------------------------------------

    def figure(self, upto: int | None = None, xmax: float | None = None, **kwargs):
        spe = self._session["steps_per_epoch"] if self._session else None
        return plot_history(self.history, self.steps, self.title, upto=upto, xmax=xmax, figsize=self.figsize,
                            steps_per_epoch=spe, **kwargs)

    def animation(self, fps: float = 2.0, dpi: int = 80):
        """The curves growing epoch by epoch, as an HTML/JS player that needs no kernel (``to_jshtml``)."""
        from IPython.display import HTML
        from matplotlib.animation import FuncAnimation
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        if not self.history:
            raise ValueError("nothing to animate yet: the monitor has no epochs in its history")
        xmax = len(self.history) + 0.5
        fig = self.figure(xmax=xmax)  # the full picture fixes the axes, so frames do not jump
        FigureCanvasAgg(fig)
        ylims = [ax.get_ylim() for ax in fig.get_axes()]
        anim = FuncAnimation(fig, lambda k: self.figure(upto=k + 1, xmax=xmax, ylims=ylims, fig=fig),
                             frames=len(self.history), interval=1000 / fps, blit=False, repeat=False)
        fig.set_dpi(dpi)
        return HTML(offline_player(anim.to_jshtml(fps=fps, default_mode="once")))

    def final_png(self) -> bytes:
        """The static figure a run ends with; its drawing time is kept apart in ``final_figure_seconds``."""
        return self.final_image()[0]

    def final_image(self) -> tuple[bytes, dict]:
        """The static figure a run ends with, as (PNG, metadata): drawn in English and, in the metadata, in the
        book's other languages (book.figure_language). Its drawing time is kept in ``final_figure_seconds``."""
        start = time.perf_counter()
        image = two_languages(self.figure(), figure_png)
        self.final_figure_seconds += time.perf_counter() - start
        return image

    def _repr_png_(self):  # a monitor left at the end of a cell shows its curves (PNG and metadata)
        return two_languages(self.figure(), figure_png) if self.history else None


def _plain(values: Mapping) -> dict:
    """Numbers as Python floats/ints (tensors and numpy scalars have .item())."""
    out = {}
    for key, value in values.items():
        if type(value) is float:  # the common case, on every minibatch
            out[key] = value
            continue
        if hasattr(value, "item"):
            value = value.item()
        if not isinstance(value, (int, float, str, bool)):
            raise TypeError(f"{key}={value!r}: the monitor records numbers (int, float, 0-d tensor) or strings")
        out[key] = value
    return out


# --- the views: how a run is shown -----------------------------------------------------------------------------

class _Progress:
    """Rate and ETA from steps (when steps_per_epoch is known) or epochs."""

    @staticmethod
    def status(monitor: TrainingMonitor) -> dict:
        """The status line's numbers, formatted: epoch (and planned), a rate, the ETA, the time elapsed. The
        browser writes them in the page's language (web/monitor.js); :meth:`line` writes them in English."""
        s = monitor._session
        elapsed = time.perf_counter() - s["start"]
        planned, spe = s["epochs_planned"], s["steps_per_epoch"]
        status = {"epoch": monitor.epochs_done + (1 if monitor._step_in_epoch else 0)}
        if planned:
            status["planned"] = s["first_epoch"] - 1 + planned
        if spe and s["steps"]:
            rate = s["steps"] / elapsed if elapsed > 0 else float("nan")
            status["steps_per_second"] = f"{rate:,.0f}"
            if planned:
                status["eta"] = _duration((planned * spe - s["steps"]) / rate if rate else float("inf"))
        elif s["epochs"]:
            rate = elapsed / s["epochs"]
            status["seconds_per_epoch"] = f"{rate:.2f}"
            if planned:
                status["eta"] = _duration((planned - s["epochs"]) * rate)
        status["elapsed"] = _duration(elapsed)
        return status

    @staticmethod
    def line(monitor: TrainingMonitor, status: dict | None = None) -> str:
        status = status or _Progress.status(monitor)
        parts = [f"epoch {status['epoch']}" + (f"/{status['planned']}" if "planned" in status else "")]
        if "steps_per_second" in status:
            parts.append(f"{status['steps_per_second']} steps/s")
        if "seconds_per_epoch" in status:
            parts.append(f"{status['seconds_per_epoch']} s/epoch")
        if "eta" in status:
            parts.append(f"ETA {status['eta']}")
        parts.append(f"elapsed {status['elapsed']}")
        return " · ".join(parts)

    @staticmethod
    def fraction(monitor: TrainingMonitor) -> float | None:
        s = monitor._session
        if not s["epochs_planned"]:
            return None
        if s["steps_per_epoch"]:
            return min(1.0, s["steps"] / (s["epochs_planned"] * s["steps_per_epoch"]))
        return min(1.0, s["epochs"] / s["epochs_planned"])


class SilentView:
    def __init__(self, monitor):
        pass

    def on_step(self, monitor, values):
        pass

    def on_epoch(self, monitor, row):
        pass

    def close(self, monitor):
        pass


class TextView(SilentView):
    """A tqdm bar on stderr plus one line per epoch: for scripts and terminals."""

    def __init__(self, monitor):
        from tqdm import tqdm

        s = monitor._session
        self.by_step = bool(s["steps_per_epoch"])  # count steps when their number is known, else epochs
        total = s["epochs_planned"] and (s["epochs_planned"] * (s["steps_per_epoch"] or 1))
        self.bar = tqdm(total=total or None, desc=monitor.title or "training",
                        unit="step" if self.by_step else "epoch", leave=False, file=sys.stderr, mininterval=0.5)

    def on_step(self, monitor, values):
        if self.by_step:
            self.bar.update(1)

    def on_epoch(self, monitor, row):
        self.bar.write(_epoch_line(row))
        self.bar.n = monitor._session["steps"] if self.by_step else monitor._session["epochs"]
        self.bar.refresh()

    def close(self, monitor):
        self.bar.close()


def _epoch_line(row: Mapping) -> str:
    return "  ".join(f"{k} {_fmt(v)}" for k, v in row.items() if k != "time") + f"  ({row['time']:.1f} s)"


def _show_final_figure(monitor, handle=None) -> None:
    """The static figure of the run (display it, or put it in place of the live output ``handle``)."""
    from IPython.display import Image, Markdown, display

    if monitor.history or monitor.steps:
        png, metadata = monitor.final_image()
        shown = Image(png, metadata=metadata)
    else:
        shown = Markdown("*(the run ended before its first step: nothing to draw)*")
    if handle is None:
        display(shown)
    else:
        handle.update(shown)


class StaticView(SilentView):
    """Chosen by hand (``mode="static"``): a printed line per epoch, then the figure."""

    def on_epoch(self, monitor, row):
        print(_epoch_line(row), flush=True)

    def close(self, monitor):
        if monitor.history:
            _show_final_figure(monitor)


# --- the live view ----------------------------------------------------------------------------------------------

class _StepCurve:
    """The per-step values of one key, as the live view sends them: means over bins of ``width`` consecutive
    steps (never two epochs in one bin), of the raw values and of their exponential moving average. When the bins
    outgrow their budget their width doubles and neighbours merge, so each step costs O(1) and a payload stays a
    few hundred points however long the run."""

    def __init__(self, smoothing: float, budget: int = 120):
        self.beta = smoothing
        self.limit = 2 * budget
        self.width = 1
        self.bins: list[list] = []  # [epoch, sum of step_in_epoch, sum of values, sum of averages, count]
        self.average = None

    def add(self, epoch: int, step_in_epoch: int, value: float) -> None:
        if math.isfinite(value):
            self.average = value if self.average is None else self.beta * self.average + (1 - self.beta) * value
        average = self.average if self.average is not None else value
        bins = self.bins
        if not bins or bins[-1][0] != epoch or bins[-1][4] >= self.width:
            if len(bins) >= self.limit:
                self._merge()
                bins = self.bins
            if not bins or bins[-1][0] != epoch or bins[-1][4] >= self.width:
                bins.append([epoch, 0, 0.0, 0.0, 0])
        last = bins[-1]
        last[1] += step_in_epoch
        last[2] += value
        last[3] += average
        last[4] += 1

    def _merge(self) -> None:
        before = len(self.bins)
        self.width *= 2
        merged: list[list] = []
        for b in self.bins:
            m = merged[-1] if merged else None
            if m is not None and m[0] == b[0] and m[4] + b[4] <= self.width:
                for i in (1, 2, 3, 4):
                    m[i] += b[i]
            else:
                merged.append(b)
        self.bins = merged
        if len(merged) > 0.75 * before:  # bins short of one epoch each cannot merge further: allow more of them
            self.limit = 2 * len(merged)

    def points(self, steps_in: Mapping[int, int]) -> tuple[list, list]:
        """(raw, smoothed) as [x, y] pairs, x in epochs: step k of an epoch of n steps at epoch - 1 + k / n; y to
        5 significant digits (the payload stays small), None (a gap) where a value was nan or inf."""
        raw, smooth = [], []
        for epoch, sie, total, average, count in self.bins:
            x = round(epoch - 1 + sie / (count * steps_in[epoch]), 4)
            raw.append([x, _json_number(total / count)])
            smooth.append([x, _json_number(average / count)])
        return raw, smooth


def _json_number(value: float):
    """The value to 5 significant digits, or None (a gap in the curve) for nan and inf, which JSON cannot hold."""
    return float(f"{value:.5g}") if value - value == 0 else None


def _is_number(value) -> bool:
    return type(value) is float or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _web(name: str) -> str:
    """A front-end file shipped with the package: ``book/web/<name>``."""
    return inline_asset("book", f"web/{name}")


@functools.cache
def _live_assets() -> tuple[str, str]:
    """(stylesheet, code) of the live view: the explorers' shared code and charts, then the monitor's own, each
    kept once per page and version in ``globalThis.__softmaxCourse`` (the explorers' registry)."""
    from book.explorers.page import asset

    core, own = asset("core.js"), _web("monitor.js")
    digest = hashlib.sha256(core.encode()).hexdigest()[:12]
    own_key = hashlib.sha256(f"{core}\0{own}".encode()).hexdigest()[:12]
    css = asset("explorers.css") + _web("monitor.css")
    code = ("const registry = (globalThis.__softmaxCourse ??= {});\n"
            f'const core = (registry["core@{digest}"] ??= (\n{core}\n));\n'
            f'const monitor = (registry["monitor@{own_key}"] ??= (\n{own}\n)(core));\n')
    return css, code


def _x_range(now: float, planned: int | None) -> int:
    """The epoch axis of the live view: the first of 1, 2, 5, 10, 20, 50... with room beyond ``now`` (the epochs
    done so far), but not past the planned end. The curves are readable from the first steps of a long run, and
    the axis changes only a few times."""
    for power in itertools.count():
        for mantissa in (1, 2, 5):
            end = mantissa * 10 ** power
            if end >= 1.2 * now:
                return min(end, planned) if planned and planned >= now else end


# Shown where scripts do not run, in both languages; the stylesheet shows the page's own (explorers.css).
NO_SCRIPTS = (
    '<p class="tm-waiting sx-fallback"><span class="sx-lang-en" lang="en">The curves are drawn here by JavaScript: '
    "if this line stays, scripts do not run in this view (trust the notebook); the figure comes when the run "
    'ends.</span><span class="sx-lang-zh_CN" lang="zh-CN">曲线由 JavaScript 在这里绘制：如果这一行一直显示，说明这里'
    "不运行脚本（请信任这个笔记本）；训练结束时会显示图。</span></p>")


class LiveView(SilentView):
    """One HTML output, replaced in place a few times a second: progress, status line, latest numbers (plain
    HTML, shown even where scripts do not run) and the data of the curves, which the browser draws. Ends as the
    static figure."""

    def __init__(self, monitor):
        from IPython.display import display

        self.element_id = f"tm-{uuid.uuid4().hex[:12]}"
        # the page's language decides the words (web/monitor.js), unless the learner chose one (BOOK_LANGUAGE)
        chosen = chosen_language()
        self.lang = f' data-lang="{chosen.replace("_", "-")}"' if chosen else ""
        s = monitor._session
        # an average over a few percent of an epoch (1 to 20 steps): smooth, and lagging only a little
        window = min(20, max(1, round((s["steps_per_epoch"] or 100) / 25)))
        self.smoothing = 1 - 2 / (window + 1)
        self.curves: dict[str, _StepCurve] = {}
        self.steps_in: dict[int, int] = {}  # steps seen per epoch, for x when steps_per_epoch is unknown
        self.epoch_points: dict[str, list] = {}  # key -> [[epoch, value], ...]
        for row in monitor.steps:  # earlier runs of this monitor: their curves go on
            self._add_step(row["epoch"], row["step_in_epoch"], row)
        for row in monitor.history:
            self._add_epoch(row)
        self.last_sent = 0.0
        self.send_seconds = 0.0  # what one update costs the kernel (measured); sets the interval
        self.handle = display(self._bundle(monitor), raw=True, display_id=True)
        self.last_sent = time.perf_counter()

    def _add_step(self, epoch: int, step_in_epoch: int, values: Mapping) -> None:
        if self.steps_in.get(epoch, 0) < step_in_epoch:
            self.steps_in[epoch] = step_in_epoch
        for key, value in values.items():
            curve = self.curves.get(key)
            if curve is None:
                if key in NOT_DRAWN or not _is_number(value):
                    continue
                curve = self.curves[key] = _StepCurve(self.smoothing)
            curve.add(epoch, step_in_epoch, float(value))

    def _add_epoch(self, row: Mapping) -> None:
        for key, value in row.items():
            if key not in NOT_DRAWN and _is_number(value):
                self.epoch_points.setdefault(key, []).append([row["epoch"], _json_number(float(value))])

    def on_step(self, monitor, values):
        if values:
            self._add_step(monitor.epochs_done + 1, monitor._step_in_epoch, values)
        if time.perf_counter() - self.last_sent >= monitor.refresh:
            self._maybe_send(monitor)

    def on_epoch(self, monitor, row):
        self._add_epoch(row)
        self._maybe_send(monitor)

    def _maybe_send(self, monitor) -> None:
        now = time.perf_counter()
        if now - self.last_sent >= max(monitor.refresh, self.send_seconds / monitor.max_overhead):
            self.handle.update(self._bundle(monitor), raw=True)
            self.last_sent = time.perf_counter()
            self.send_seconds = self.last_sent - now

    # --- what is sent ----------------------------------------------------------------------------------------

    def payload(self, monitor) -> dict:
        """The numbers the browser draws: panels of series ([x, y] points, x in epochs) and the x range."""
        s = monitor._session
        if s["steps_per_epoch"]:
            steps_in = dict.fromkeys(self.steps_in, s["steps_per_epoch"])
        else:  # the running epoch is as long as the last finished one, as far as anyone knows yet
            steps_in = dict(self.steps_in)
            previous = steps_in.get(monitor.epochs_done)
            for e in steps_in:
                if e > monitor.epochs_done and previous:
                    steps_in[e] = max(steps_in[e], previous)
        keys = list(dict.fromkeys([*self.epoch_points, *self.curves]))
        panels: dict[str, dict] = {}
        colors: dict[str, dict[str, int]] = {}
        for key in keys:
            group = _group(key)
            panel = panels.setdefault(group, {"name": group, "group": group, "series": [],
                                              "unit": group == "accuracy", "log": group == "learning rate"})
            color = colors.setdefault(group, {}).setdefault(_twin(key, keys), len(colors[group]))
            if key in self.curves:
                raw, smooth = self.curves[key].points(steps_in)
                panel["series"].append({"points": raw, "color": color, "faint": True})
                panel["series"].append({"points": smooth, "color": color, "label": f"{key} per batch",
                                        "key": key, "range": True, "smooth": True})
            if key in self.epoch_points:
                panel["series"].append({"points": self.epoch_points[key], "color": color, "label": key,
                                        "key": key, "dots": True, "range": True,
                                        "dash": bool({"test", "val"} & set(re.split(r"[_ ]", key)))})
        now = monitor.epochs_done + (monitor._step_in_epoch / steps_in[monitor.epochs_done + 1]
                                     if monitor._step_in_epoch and steps_in.get(monitor.epochs_done + 1) else 0)
        planned = s["first_epoch"] - 1 + s["epochs_planned"] if s["epochs_planned"] else None
        return {"xmax": _x_range(now, planned), "panels": list(panels.values()),
                "status": _Progress.status(monitor)}

    def _bundle(self, monitor) -> dict:
        css, code = _live_assets()
        fraction = _Progress.fraction(monitor)
        payload = self.payload(monitor)
        line = _Progress.line(monitor, payload["status"])
        progress = (f'<progress max="1" value="{fraction:.4f}"></progress>' if fraction is not None
                    else "<progress></progress>")
        latest = monitor.latest()
        cells = "".join(f'<div data-key="{html.escape(k)}"><b>{html.escape(k)}</b>{html.escape(_fmt(v))}</div>'
                        for k, v in latest.items() if k not in ("time", "diverged"))
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
        title = f'<div class="tm-title">{html.escape(monitor.title)}</div>' if monitor.title else ""
        body = (
            f'<div class="sx-root tm-root" id="{self.element_id}" data-kind="monitor"{self.lang}>{title}'
            f'<div class="tm-status">{progress}<span class="tm-line">{html.escape(line)}</span></div>'
            f'<div class="tm-table">{cells}</div>'
            f'<div class="tm-charts">{NO_SCRIPTS}</div>'
            f'<script type="application/json" class="tm-data">{data}</script></div>\n'
            f"<style>\n{css}</style>\n"
            # A classic script, not a module: Jupyter runs it the moment the output is put in place, so the
            # curves are drawn before the page is painted again (no flicker). The block keeps its names local.
            f"<script>\n{{\n{code}"
            "const host = document.currentScript ? document.currentScript.parentNode : document;\n"
            f'const root = host.querySelector("#{self.element_id}");\n'
            'monitor.render(root, JSON.parse(root.querySelector(".tm-data").textContent));\n}\n</script>\n'
        )
        return {"text/html": body, "text/plain": f"{monitor.title or 'training'}: {line}"}

    def close(self, monitor):
        _show_final_figure(monitor, self.handle)
