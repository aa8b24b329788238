"""book.monitor: exact history, stop and resume, and the right output where it runs (kernel, script, no widgets)."""

import json
import subprocess
import sys
import textwrap

import nbclient
import nbformat
import pytest
import torch

from book.monitor import TrainingMonitor, detect_mode, plot_history

KNOWN = [  # a known sequence: three epochs of two steps each
    ([0.9, 0.7], {"train_loss": 0.8, "train_acc": 0.5, "test_acc": 0.55}),
    ([0.6, 0.5], {"train_loss": 0.55, "train_acc": 0.7, "test_acc": 0.68}),
    ([0.45, 0.4], {"train_loss": 0.42, "train_acc": 0.8, "test_acc": 0.74}),
]


def feed(monitor, sequence, first_epoch=1):
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


def test_interrupt_keeps_history_and_the_next_run_continues(capsys):
    monitor = TrainingMonitor(mode="silent")
    with monitor.run(epochs=3, steps_per_epoch=2):
        feed(monitor, KNOWN[:1])
        monitor.step(loss=0.6)
        raise KeyboardInterrupt  # the stop button, mid-epoch
    assert "stopped during epoch 2" in capsys.readouterr().out
    assert [r["epoch"] for r in monitor.history] == [1]
    with monitor.run(epochs=2, steps_per_epoch=2):
        feed(monitor, KNOWN[1:])
    assert [r["epoch"] for r in monitor.history] == [1, 2, 3]
    assert without_time(monitor.history)[2] == {"epoch": 3, **KNOWN[2][1]}


def test_other_errors_propagate_after_finishing():
    monitor = TrainingMonitor(mode="silent")
    with pytest.raises(ZeroDivisionError):
        with monitor.run(epochs=2):
            monitor.epoch(train_loss=1.0)
            1 / 0
    assert len(monitor.history) == 1 and monitor._view is None


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


def test_animation_has_a_frame_per_epoch():
    monitor = TrainingMonitor(mode="silent")
    feed(monitor, KNOWN)
    html = monitor.animation().data
    assert "<script" in html and html.count("data:image/png;base64") == len(KNOWN)
    with pytest.raises(ValueError, match="nothing to animate"):
        TrainingMonitor(mode="silent").animation()


SCRIPT = """
import sys
{hide}
from book.monitor import TrainingMonitor
monitor = TrainingMonitor("script")
print("mode", monitor.mode)
with monitor.run(epochs=2, steps_per_epoch=3):
    for epoch in range(2):
        for step in range(3):
            monitor.step(loss=1.0 / (epoch * 3 + step + 1))
        monitor.epoch(train_loss=0.5 / (epoch + 1))
print("epochs", [r["epoch"] for r in monitor.history])
"""


@pytest.mark.parametrize("hide", ["", "sys.modules['ipywidgets'] = None  # as if not installed"])
def test_plain_script_gets_a_text_progress_line(hide):
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(hide=hide)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "mode text" in result.stdout and "epochs [1, 2]" in result.stdout
    assert "epoch 2  train_loss 0.25" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and "widget" not in result.stderr.lower()


def test_detect_mode_outside_a_kernel():
    assert detect_mode() == "text"


def execute(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    return nb


TRAIN_CELL = """
import torch
from book.monitor import TrainingMonitor
torch.manual_seed(0)
X, y = torch.randn(512, 5), torch.randint(0, 3, (512,))
model = torch.nn.Linear(5, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
monitor = TrainingMonitor("nbclient")
print("mode", monitor.mode)
with monitor.run(epochs=4, steps_per_epoch=8):
    for epoch in range(4):
        for i in range(8):
            loss = torch.nn.functional.cross_entropy(model(X[i * 64:(i + 1) * 64]), y[i * 64:(i + 1) * 64])
            opt.zero_grad(); loss.backward(); opt.step()
            monitor.step(loss=loss)
        monitor.epoch(train_loss=loss, train_acc=(model(X).argmax(1) == y).float().mean())
"""


def test_headless_kernel_keeps_a_static_png_in_the_cell():
    nb = execute([TRAIN_CELL, "monitor.animation()"])
    outputs = nb.cells[0].outputs
    assert any(o.output_type == "stream" and "mode widget" in o.text for o in outputs)
    images = [o for o in outputs if "data" in o and "image/png" in o.data]
    assert len(images) == 1, "the live view must end as exactly one static figure"
    assert not [o for o in outputs if "data" in o and "application/vnd.jupyter.widget-view+json" in o.data]
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    assert len(json.dumps(state)) < 20_000  # no stale live pictures in the saved widget state
    leftovers = [b for m in state.values() for b in m.get("buffers", []) if b["data"]]
    assert not leftovers, "a PNG was left in the saved widget state"
    animation = nb.cells[1].outputs[0]
    assert "text/html" in animation.data and animation.data["text/html"].count("data:image/png;base64") == 4


def test_kernel_without_ipywidgets_prints_lines_and_keeps_the_png():
    nb = execute(["import sys; sys.modules['ipywidgets'] = None", TRAIN_CELL])
    outputs = nb.cells[1].outputs
    text = "".join(o.text for o in outputs if o.output_type == "stream")
    assert "mode static" in text and "epoch 4  train_loss" in text
    assert [o for o in outputs if "data" in o and "image/png" in o.data]


def test_animation_player_needs_no_network_and_no_icon_font():
    monitor = TrainingMonitor(mode="silent")
    with monitor.run(epochs=2):
        for epoch in range(2):
            monitor.epoch(train_loss=1.0 / (epoch + 1))
    html = monitor.animation().data
    assert "font-awesome" not in html and "https://" not in html
    assert 'class="fa ' not in html, "a Font Awesome icon was left in the player"
    assert "\u25b6" in html and "\u275a\u275a" in html  # play and pause as text
