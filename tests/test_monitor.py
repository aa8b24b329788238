"""book.monitor: exact history, the live view's numbers, stopping (an interrupt goes on), and the right output
where it runs (kernel, script, silent). tests/test_jupyterlab_live.py drives the live view in a real JupyterLab."""

import json
import math
import random
import subprocess
import sys
import textwrap
import time

import nbclient
import nbformat
import pytest
import torch
from torch import nn

from book.data import FastLoader
from book.monitor import (LiveView, TrainingMonitor, _StepCurve, _x_range, detect_mode, offline_player,
                          plot_history)
from book.train import train

KNOWN = [  # a known sequence: three epochs of two steps each
    ([0.9, 0.7], {"train_loss": 0.8, "train_acc": 0.5, "test_acc": 0.55}),
    ([0.6, 0.5], {"train_loss": 0.55, "train_acc": 0.7, "test_acc": 0.68}),
    ([0.45, 0.4], {"train_loss": 0.42, "train_acc": 0.8, "test_acc": 0.74}),
]


def feed(monitor, sequence):
    for losses, values in sequence:
        for loss in losses:
            monitor.step(loss=loss)
        monitor.epoch(**values)


def without_time(rows):
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def test_history_is_exact_for_a_known_sequence():
    monitor = TrainingMonitor(mode="silent")
    with monitor.run(epochs=3, steps_per_epoch=2):
        feed(monitor, KNOWN)
    assert without_time(monitor.history) == [{"epoch": e + 1, **values} for e, (_, values) in enumerate(KNOWN)]
    assert [(s["epoch"], s["step"], s["step_in_epoch"], s["loss"]) for s in monitor.steps] == [
        (1, 1, 1, 0.9), (1, 2, 2, 0.7), (2, 3, 1, 0.6), (2, 4, 2, 0.5), (3, 5, 1, 0.45), (3, 6, 2, 0.4)]
    assert all(r["time"] >= 0 for r in monitor.history)
    assert monitor.latest()["test_acc"] == 0.74


def test_tensors_become_numbers_and_junk_is_refused():
    monitor = TrainingMonitor(mode="silent")
    row = monitor.epoch(train_loss=torch.tensor(0.25), note="warm-up")
    assert row["train_loss"] == 0.25 and isinstance(row["train_loss"], float) and row["note"] == "warm-up"
    with pytest.raises(TypeError, match="records numbers"):
        monitor.epoch(train_loss=[0.1, 0.2])
    with pytest.raises(ValueError, match="mode must be one of"):
        TrainingMonitor(mode="fancy")
    with pytest.raises(ValueError, match="refresh must be a positive number"):
        TrainingMonitor(mode="silent", refresh=0)
    with pytest.raises(ValueError, match="epochs must be a positive whole number"):
        TrainingMonitor(mode="silent").start(epochs=2.5)
    assert TrainingMonitor(mode="widget").mode == "live"  # the old name still works


def test_an_interrupt_keeps_the_history_then_goes_on(capsys):
    monitor = TrainingMonitor(mode="silent")
    with pytest.raises(KeyboardInterrupt):
        with monitor.run(epochs=3, steps_per_epoch=2):
            feed(monitor, KNOWN[:1])
            monitor.step(loss=0.6)
            raise KeyboardInterrupt  # the stop button, mid-epoch
    assert capsys.readouterr() == ("", "")  # silent means silent
    assert [r["epoch"] for r in monitor.history] == [1] and monitor._view is None
    with monitor.run(epochs=2, steps_per_epoch=2):
        feed(monitor, KNOWN[1:])
    assert [r["epoch"] for r in monitor.history] == [1, 2, 3]
    assert without_time(monitor.history)[2] == {"epoch": 3, **KNOWN[2][1]}
    # the step of the unfinished epoch 2 is dropped (not drawn under the new epoch 2); the step count goes on
    assert [(s["epoch"], s["step"], s["loss"]) for s in monitor.steps] == [
        (1, 1, 0.9), (1, 2, 0.7), (2, 4, 0.6), (2, 5, 0.5), (3, 6, 0.45), (3, 7, 0.4)]


def test_the_note_says_what_was_kept():
    monitor = TrainingMonitor(mode="static")
    monitor.start(epochs=10, steps_per_epoch=235)
    feed(monitor, [([0.5] * 235, {"train_loss": 0.5}), ([0.4] * 235, {"train_loss": 0.4})])
    for _ in range(57):
        monitor.step(loss=0.3)
    note = monitor._interrupted_note()
    assert note.startswith("Training interrupted during epoch 3 of 10, after 57 of its 235 steps.")
    assert "2 finished epochs, drawn above" in note and "nothing queued after this training runs" in note


def test_other_errors_propagate_after_finishing(capsys):
    monitor = TrainingMonitor(mode="silent")
    with pytest.raises(ZeroDivisionError):
        with monitor.run(epochs=2):
            monitor.epoch(train_loss=1.0)
            1 / 0
    assert len(monitor.history) == 1 and monitor._view is None
    assert capsys.readouterr() == ("", "")


def test_cost_is_accounted():
    monitor = TrainingMonitor(mode="silent")
    with monitor.run(epochs=3, steps_per_epoch=2):
        feed(monitor, KNOWN)
    assert 0 < monitor.cost_seconds < 1


def test_plot_groups_metrics_into_panels():
    history = [{"epoch": 1, "train_loss": 1.0, "test_loss": 1.1, "train_acc": 0.5, "lr": 0.1, "grad_norm": 3.0}]
    fig = plot_history(history)
    assert [ax.get_title() for ax in fig.get_axes()] == ["loss", "accuracy", "learning rate", "grad_norm"]
    assert len(fig.get_axes()[0].lines) == 2


# --- the live view's numbers -------------------------------------------------------------------------------------

def test_the_epoch_axis_grows_in_few_steps_up_to_the_planned_end():
    assert [_x_range(now, 10) for now in (0, 0.5, 0.9, 1.6, 4.0, 4.2, 9.9)] == [1, 1, 2, 2, 5, 10, 10]
    assert [_x_range(now, None) for now in (3, 9, 17, 90)] == [5, 20, 50, 200]
    assert _x_range(2.9, 3) == 3


def test_step_curve_bins_are_exact_means_and_never_span_epochs():
    curve = _StepCurve(smoothing=0.0, budget=4)  # no smoothing: the average is the value itself
    values = {}
    rng = random.Random(0)
    for epoch in (1, 2, 3):
        for k in range(1, 38):
            values[(epoch, k)] = rng.random()
            curve.add(epoch, k, values[(epoch, k)])
    assert len(curve.bins) <= 8 + 3 and curve.width > 1  # merged, within its budget (plus one per epoch)
    assert sum(b[4] for b in curve.bins) == 3 * 37  # every step counted once
    start = {1: 1, 2: 1, 3: 1}
    for epoch, sie, total, average, count in curve.bins:  # each bin: consecutive steps of one epoch, exact mean
        steps = range(start[epoch], start[epoch] + count)
        start[epoch] += count
        assert sie == sum(steps)
        assert total == pytest.approx(sum(values[(epoch, k)] for k in steps), abs=1e-12)
        assert average == pytest.approx(total, abs=1e-12)
    raw, smooth = curve.points({1: 37, 2: 37, 3: 37})
    assert raw == smooth and all(0 < x <= 3 for x, _ in raw) and raw == sorted(raw)


def test_step_curve_smooths_and_leaves_gaps_for_nan():
    curve = _StepCurve(smoothing=0.5)
    for k, value in enumerate([1.0, 3.0, float("nan"), 5.0], 1):
        curve.add(1, k, value)
    raw, smooth = curve.points({1: 4})
    assert [y for _, y in raw] == [1.0, 3.0, None, 5.0]  # nan is a gap: JSON has no nan
    assert [y for _, y in smooth] == [1.0, 2.0, 2.0, 3.5]
    assert [x for x, _ in raw] == [0.25, 0.5, 0.75, 1.0]


class FakeDisplay:
    """Stands in for IPython's display: records the bundles the live view sends, and when."""

    def __init__(self):
        self.sent, self.at = [], []

    def display(self, obj, raw=False, display_id=None):
        assert raw and display_id is True
        self.update(obj)
        return self

    def update(self, obj, raw=False):
        self.sent.append(obj)
        self.at.append(time.perf_counter())


@pytest.fixture
def fake_display(monkeypatch):
    import IPython.display

    fake = FakeDisplay()
    monkeypatch.setattr(IPython.display, "display", fake.display)
    return fake


def data_of(bundle):
    text = bundle["text/html"]
    start = text.index('<script type="application/json" class="tm-data">') + len(
        '<script type="application/json" class="tm-data">')
    return json.loads(text[start:text.index("</script>", start)])


def test_live_view_sends_the_curves_from_the_first_steps(fake_display):
    monitor = TrainingMonitor("live", mode="live", refresh=0.01, max_overhead=1.0)
    monitor.start(epochs=4, steps_per_epoch=5)
    assert isinstance(monitor._view, LiveView) and len(fake_display.sent) == 1
    for k in range(3):  # the first epoch has not ended: the per-step curve is there already
        time.sleep(0.2)  # longer than refresh and than one update takes: each step is sent
        monitor.step(loss=1.0 - 0.25 * k)
    assert len(fake_display.sent) == 4
    data = data_of(fake_display.sent[-1])
    assert data["xmax"] == 1  # the axis spans the first epoch while it runs, not all four
    (loss_panel,) = data["panels"]
    raw, smooth = (s["points"] for s in loss_panel["series"])
    assert raw == [[0.2, 1.0], [0.4, 0.75], [0.6, 0.5]]  # step k of 5 at x = k / 5
    assert smooth == raw  # smoothing spans a few percent of an epoch: here less than one step
    for _ in range(2):
        monitor.step(loss=0.7)
    monitor.epoch(train_loss=0.8, val_loss=0.9, val_acc=0.6)
    data = data_of(monitor._view._bundle(monitor))
    assert [p["name"] for p in data["panels"]] == ["loss", "accuracy"]
    series = {s.get("label"): s for s in data["panels"][0]["series"]}
    assert series["train_loss"]["points"] == [[1, 0.8]] and series["val_loss"]["points"] == [[1, 0.9]]
    assert series["loss per batch"]["color"] == series["train_loss"]["color"] != series["val_loss"]["color"]
    bundle = monitor._view._bundle(monitor)
    assert "<img" not in bundle["text/html"] and "<b>val_acc</b>0.6<" in bundle["text/html"]
    assert "epoch 1/4 · " in bundle["text/html"] and bundle["text/plain"].startswith("live: epoch 1/4")
    monitor.finish()
    assert fake_display.sent[-1].data[:8] == b"\x89PNG\r\n\x1a\n"  # the live view gave way to the figure


def test_a_second_run_goes_on_drawing_the_first(fake_display):
    monitor = TrainingMonitor(mode="live")
    with monitor.run(epochs=1, steps_per_epoch=2):
        feed(monitor, KNOWN[:1])
    with monitor.run(epochs=2, steps_per_epoch=2):
        data = data_of(fake_display.sent[-1])
        feed(monitor, KNOWN[1:])
    assert data["xmax"] == 2  # one epoch done: room for the next one (of the three planned)
    series = {s.get("label"): s["points"] for s in data["panels"][0]["series"]}
    assert series["train_loss"] == [[1, 0.8]] and series["loss per batch"][0] == [0.5, 0.9]


def test_live_updates_keep_within_max_overhead(fake_display, monkeypatch):
    costs = []  # what building each update cost
    build = LiveView._bundle

    def timed(self, monitor):
        start = time.perf_counter()
        try:
            return build(self, monitor)
        finally:
            costs.append(time.perf_counter() - start)

    monkeypatch.setattr(LiveView, "_bundle", timed)
    monitor = TrainingMonitor(mode="live", refresh=1e-6, max_overhead=0.02)
    with monitor.run(epochs=2, steps_per_epoch=500):
        for epoch in range(2):
            for _ in range(500):
                time.sleep(0.001)  # a minibatch
                monitor.step(loss=0.5)
            monitor.epoch(train_loss=0.5)
    updates = fake_display.at[:-1]  # the last one is the final figure
    assert len(updates) >= 3
    for i in range(1, len(updates) - 1):  # after an update that cost c, the next waits at least c / 2 %
        assert updates[i + 1] - updates[i] >= costs[i] / 0.02


# --- where it runs ----------------------------------------------------------------------------------------------

SCRIPT = """
import sys
from book.monitor import TrainingMonitor
monitor = TrainingMonitor("script")
print("mode", monitor.mode)
with monitor.run(epochs=2, steps_per_epoch=3):
    for epoch in range(2):
        for step in range(3):
            monitor.step(loss=1.0 / (epoch * 3 + step + 1))
        monitor.epoch(train_loss=0.5 / (epoch + 1))
print("epochs", [r["epoch"] for r in monitor.history])
{after}
"""

INTERRUPTED = """
with monitor.run(epochs=5, steps_per_epoch=3):
    monitor.step(loss=0.1)
    raise KeyboardInterrupt  # Ctrl-C
print("after training")
"""


def run_script(after=""):
    return subprocess.run([sys.executable, "-c", SCRIPT.format(after=after)], capture_output=True, text=True,
                          timeout=120)


def test_plain_script_gets_a_text_progress_line():
    result = run_script()
    assert result.returncode == 0, result.stderr
    assert "mode text" in result.stdout and "epochs [1, 2]" in result.stdout
    assert "epoch 2  train_loss 0.25" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_ctrl_c_in_a_script_stops_the_script():
    result = run_script(INTERRUPTED)
    assert result.returncode != 0 and "after training" not in result.stdout
    assert "Training interrupted during epoch 3 of 7, after 1 of its 3 steps." in result.stderr
    assert "2 finished epochs" in result.stderr and "KeyboardInterrupt" in result.stderr


def test_detect_mode_outside_a_kernel():
    assert detect_mode() == "text"


def execute(cells):
    """Run ``cells`` in a fresh kernel until the end or the first error: (the notebook, the error or None)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3")
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        return nb, error
    return nb, None


TRAIN_CELL = """
import torch
from book.monitor import TrainingMonitor
torch.manual_seed(0)
X, y = torch.randn(512, 5), torch.randint(0, 3, (512,))
model = torch.nn.Linear(5, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
monitor = TrainingMonitor("nbclient"{mode})
print("mode", monitor.mode)
with monitor.run(epochs=4, steps_per_epoch=8):
    for epoch in range(4):
        for i in range(8):
            loss = torch.nn.functional.cross_entropy(model(X[i * 64:(i + 1) * 64]), y[i * 64:(i + 1) * 64])
            opt.zero_grad(); loss.backward(); opt.step()
            monitor.step(loss=loss)
        monitor.epoch(train_loss=loss, train_acc=(model(X).argmax(1) == y).float().mean())
        {stop}
"""


def images(outputs):
    return [o for o in outputs if "data" in o and "image/png" in o.data]


@pytest.fixture(scope="module")
def kernel_run():
    """One headless kernel (nbclient, as the book build and nbval run chapters), without ipywidgets: a live run,
    its animation, a static run, then a live run stopped by an interrupt, and a cell queued after it."""
    return execute([
        "import sys; sys.modules['ipywidgets'] = None  # the monitor needs no widgets",
        TRAIN_CELL.format(mode="", stop=""),
        "monitor.animation()",
        TRAIN_CELL.format(mode=', mode="static"', stop=""),
        TRAIN_CELL.format(mode="", stop="if epoch == 1: raise KeyboardInterrupt  # what the stop button raises"),
        "print('after training')",
    ])


def test_headless_kernel_keeps_one_static_png_in_the_cell(kernel_run):
    nb, _ = kernel_run
    outputs = nb.cells[1].outputs
    assert any(o.output_type == "stream" and "mode live" in o.text for o in outputs)
    assert len(images(outputs)) == 1, "the live view must end as exactly one static figure"
    assert not [o for o in outputs if "data" in o and "text/html" in o.data], "the live HTML was left behind"
    assert "widgets" not in nb.metadata  # no widget state rides along into the book
    animation = nb.cells[2].outputs[0]
    assert "text/html" in animation.data and animation.data["text/html"].count("data:image/png;base64") == 4


def test_static_mode_prints_a_line_per_epoch_then_the_figure(kernel_run):
    nb, _ = kernel_run
    outputs = nb.cells[3].outputs
    text = "".join(o.text for o in outputs if o.output_type == "stream")
    assert "mode static" in text and "epoch 4  train_loss" in text and len(images(outputs)) == 1


def test_an_interrupt_in_a_kernel_draws_what_it_has_and_stops_the_cells_after_it(kernel_run):
    nb, error = kernel_run
    assert error is not None and error.ename == "KeyboardInterrupt"
    outputs = nb.cells[4].outputs
    assert len(images(outputs)) == 1  # the two finished epochs, drawn
    (failure,) = [o for o in outputs if o.output_type == "error"]
    assert failure.ename == "KeyboardInterrupt"
    assert failure.traceback == [
        "KeyboardInterrupt: Training interrupted during epoch 3 of 4. The monitor's history keeps the 2 finished "
        "epochs, drawn above; the model keeps the weights it had at that moment. The interrupt goes on, so nothing "
        "queued after this training runs (in a Run All: the cells below)."]
    assert nb.cells[5].outputs == [] and nb.cells[5].execution_count is None  # never ran


# --- the animation player ---------------------------------------------------------------------------------------

def test_animation_has_a_frame_per_epoch():
    monitor = TrainingMonitor(mode="silent")
    feed(monitor, KNOWN)
    html = monitor.animation().data
    assert "<script" in html and html.count("data:image/png;base64") == len(KNOWN)
    with pytest.raises(ValueError, match="nothing to animate"):
        TrainingMonitor(mode="silent").animation()


def test_animation_player_needs_no_network_and_no_icon_font():
    monitor = TrainingMonitor(mode="silent")
    with monitor.run(epochs=2):
        for epoch in range(2):
            monitor.epoch(train_loss=1.0 / (epoch + 1))
    html = monitor.animation().data
    assert "font-awesome" not in html and "https://" not in html
    assert 'class="fa ' not in html, "a Font Awesome icon was left in the player"
    assert html.count('<svg class="anim-icon"') == 9  # every button draws its own icon (browser test: visible)


def test_offline_player_leaves_other_html_alone():
    assert offline_player("<p>plain</p>").startswith("<p>plain</p>")


# --- book.train names its second loader's split -----------------------------------------------------------------

def toy(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    return FastLoader(X, (X[:, 0] > 0).long(), batch_size=50, seed=seed, device="cpu")


def test_train_names_the_second_split_after_eval_name():
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    default = train(model, toy(), toy(seed=1), nn.CrossEntropyLoss(), 1, torch.optim.SGD(model.parameters(), lr=0.1),
                    monitor=TrainingMonitor(mode="silent"))
    assert set(default[0]) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "time"}
    history = train(model, toy(), toy(seed=1), nn.CrossEntropyLoss(), 2, torch.optim.SGD(model.parameters(), lr=0.1),
                    monitor=TrainingMonitor(mode="silent"), eval_name="val")
    assert set(history[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "time"}
    assert math.isfinite(history[-1]["val_loss"]) and 0 <= history[-1]["val_acc"] <= 1
    for bad in ("", "val loss", "train", 3):
        with pytest.raises(ValueError, match="eval_name names the second loader"):
            train(model, toy(), toy(), nn.CrossEntropyLoss(), 1, torch.optim.SGD(model.parameters(), lr=0.1),
                  monitor=TrainingMonitor(mode="silent"), eval_name=bad)
