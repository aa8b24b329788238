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

- **widget** -- an IPython kernel with ipywidgets (JupyterLab, Notebook, VS Code, Colab, Binder): a progress bar
  with rate and ETA, a table of the latest numbers and the curves, all updated in place. The curves are an
  image whose bytes are replaced, so nothing is cleared and nothing flickers. Redraws are throttled so that
  they cost at most ``max_overhead`` (2%) of the time spent training. When the run ends the live view is
  replaced by one static figure, an ordinary ``image/png`` output: that is what a headless execution (the book
  build, nbval, nbclient) keeps in the notebook, and what the rendered book shows.
- **static** -- a kernel without ipywidgets: one printed line per epoch, then the same final figure.
- **text** -- a plain Python script or terminal: a tqdm progress bar and one line per epoch; no widgets touched.

Stopping (the Jupyter stop button, Ctrl-C) ends the run cleanly: the figure is drawn, the history kept, and the
next ``run`` continues counting epochs where this one stopped.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import time
from collections.abc import Mapping

from book.plots import figure_png

MODES = ("auto", "widget", "static", "text", "silent")


def detect_mode() -> str:
    """``widget`` in a kernel with ipywidgets, ``static`` in a kernel without, ``text`` anywhere else."""
    try:
        from IPython import get_ipython
    except ImportError:
        return "text"
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return "text"  # a script, or the terminal IPython: no frontend to draw widgets
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return "static"
    return "widget"


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
    keys = [k for k in dict.fromkeys(k for r in [*history, *(steps or [])] for k in r)
            if k not in ("epoch", "step", "step_in_epoch", "time", "diverged")]
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
            # a per-step "loss" takes the colour of the per-epoch "train_loss" it averages into
            twin = f"train_{key}" if f"train_{key}" in keys else key
            color = colors.setdefault(twin, f"C{len(colors) % 10}")
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
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.cost_seconds += time.perf_counter() - start
    return wrapper


# matplotlib's player draws its buttons with Font Awesome 4 fetched from a CDN: offline (the built book) that is a
# blocked request and, where no other Font Awesome is loaded, blank buttons. Plain text symbols need no font.
PLAYER_SYMBOLS = {
    "fa fa-minus": "\u2212", "fa fa-fast-backward": "\u23ee\ufe0e", "fa fa-step-backward": "\u25c1",
    "fa fa-play fa-flip-horizontal": "\u25c0\ufe0e", "fa fa-pause": "\u275a\u275a", "fa fa-play": "\u25b6\ufe0e",
    "fa fa-step-forward": "\u25b7", "fa fa-fast-forward": "\u23ed\ufe0e", "fa fa-plus": "+",
}


def offline_player(html: str) -> str:
    """matplotlib's ``to_jshtml`` output without its Font Awesome stylesheet link, buttons as text symbols."""
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html)
    for icon, symbol in PLAYER_SYMBOLS.items():
        html = html.replace(f'<i class="{icon}"></i>', f'<span aria-hidden="true">{symbol}</span>')
    return html


class TrainingMonitor:
    """Collects per-step and per-epoch numbers from a training loop and shows them as training goes.

    ``history`` holds one dict per epoch (``{"epoch": n, **values, "time": seconds}``), ``steps`` one per logged
    minibatch (``{"epoch", "step", "step_in_epoch", **values}``); both grow across runs.
    """

    def __init__(self, title: str | None = None, mode: str = "auto", refresh: float = 0.5,
                 max_overhead: float = 0.02, figsize=None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
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
        """Show a run of ``epochs`` more epochs; ends with the static figure, also when interrupted."""
        self.start(epochs, steps_per_epoch)
        try:
            yield self
        except KeyboardInterrupt:
            self.finish(note=f"stopped during epoch {self.epochs_done + 1}: the history is kept; "
                             "run again to continue from here")
        except BaseException:
            self.finish(note="stopped by an error")
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
            self.steps.append({"epoch": self.epochs_done + 1, "step": self.total_steps,
                               "step_in_epoch": self._step_in_epoch, **_plain(values)})
        self._session["steps"] += 1
        self._view.on_step(self)

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
        if self._view is not None:
            self.finish()
        self._session = {"epochs_planned": epochs, "steps_per_epoch": steps_per_epoch, "epochs": 0, "steps": 0,
                         "start": time.perf_counter(), "first_epoch": self.epochs_done + 1}
        self._step_in_epoch = 0
        view = {"widget": WidgetView, "static": StaticView, "text": TextView, "silent": SilentView}[self.mode]
        self._view = view(self)

    @_costed
    def finish(self, note: str | None = None) -> None:
        """End the current run: replace the live view with the final static figure (no-op if not running)."""
        if self._view is not None:
            view, self._view = self._view, None
            view.close(self)
        if note:
            print(note)

    def _ensure_started(self) -> None:
        if self._view is None:
            self.start()

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
        start = time.perf_counter()
        png = figure_png(self.figure())
        self.final_figure_seconds += time.perf_counter() - start
        return png

    def _repr_png_(self) -> bytes | None:  # a monitor left at the end of a cell shows its curves
        return figure_png(self.figure()) if self.history else None


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
    def line(monitor: TrainingMonitor) -> str:
        s = monitor._session
        elapsed = time.perf_counter() - s["start"]
        planned, spe = s["epochs_planned"], s["steps_per_epoch"]
        epoch_now = monitor.epochs_done + (1 if monitor._step_in_epoch else 0)
        parts = [f"epoch {epoch_now}" + (f"/{s['first_epoch'] - 1 + planned}" if planned else "")]
        if spe and s["steps"]:
            rate = s["steps"] / elapsed if elapsed > 0 else float("nan")
            parts.append(f"{rate:,.0f} steps/s")
            if planned:
                parts.append(f"ETA {_duration((planned * spe - s['steps']) / rate if rate else float('inf'))}")
        elif s["epochs"]:
            rate = elapsed / s["epochs"]
            parts.append(f"{rate:.2f} s/epoch")
            if planned:
                parts.append(f"ETA {_duration((planned - s['epochs']) * rate)}")
        parts.append(f"elapsed {_duration(elapsed)}")
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

    def on_step(self, monitor):
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

    def on_step(self, monitor):
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


class StaticView(SilentView):
    """A kernel without ipywidgets: print a line per epoch (keeps nbval's output timeout fed), then the figure."""

    def on_epoch(self, monitor, row):
        print(_epoch_line(row), flush=True)

    def close(self, monitor):
        from IPython.display import Image, display

        if monitor.history:
            display(Image(monitor.final_png()))


class WidgetView(SilentView):
    """Progress bar, status line, latest-numbers table and curves, updated in place; ends as one image."""

    def __init__(self, monitor):
        import ipywidgets as w
        from IPython.display import display

        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="60%"))
        self.status = w.HTML()
        self.table = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.box = w.VBox([w.HBox([self.bar, self.status]), self.table, self.image])
        self.handle = display(self.box, display_id=True)
        self.last_ui = self.last_draw = 0.0
        self.draw_seconds = 0.1  # what one redraw costs (measured after the first); sets the interval
        self._update_ui(monitor)

    def _update_ui(self, monitor):
        fraction = _Progress.fraction(monitor)
        self.bar.value = fraction if fraction is not None else 0.0
        self.bar.bar_style = "info"
        self.status.value = f"<code>{_Progress.line(monitor)}</code>"
        self.last_ui = time.perf_counter()

    def on_step(self, monitor):
        if time.perf_counter() - self.last_ui > 0.2:
            self._update_ui(monitor)

    def on_epoch(self, monitor, row):
        self._update_ui(monitor)
        cells = "".join(f"<td style='padding:0 .8em'><b>{k}</b><br>{_fmt(v)}</td>"
                        for k, v in row.items() if k != "time")
        self.table.value = f"<table><tr>{cells}</tr></table>"
        # Redraw only while drawing stays within max_overhead of the time passed since the last drawing.
        now = time.perf_counter()
        since = now - (self.last_draw or monitor._session["start"])
        if since >= max(monitor.refresh, self.draw_seconds / monitor.max_overhead):
            self.image.value = figure_png(monitor.figure(), dpi=72)
            self.last_draw = time.perf_counter()
            self.draw_seconds = self.last_draw - now

    def close(self, monitor):
        from IPython.display import Image, Markdown

        if monitor.history:
            self.handle.update(Image(monitor.final_png()))
        else:
            self.handle.update(Markdown("*(no epoch finished: nothing to plot)*"))
        # A headless executor (nbclient) keeps the last state of every widget it saw, closed or not, in the
        # notebook: empty the picture first so that no stale PNG rides along into the book.
        self.image.value = b""
        for widget in (self.bar, self.status, self.table, self.image, self.box):
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None), widget):
                if part is not None:
                    part.close()  # no leftover widget state in the saved notebook
