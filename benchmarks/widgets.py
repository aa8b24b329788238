"""How much the training monitor costs, and how fast the learning-rate explorer re-trains.

    .venv/bin/python benchmarks/widgets.py

Prints a Markdown table. The monitor is measured where it is dearest: in a real Jupyter kernel (executed
through nbclient, so every widget update travels as a comm message), in ``widget`` mode, on softmax regression
from scratch (Fashion-MNIST, 10 epochs, batch 256, lr 0.1: the model of the scratch chapter), five interleaved runs
with and without it. The monitor also counts the time spent inside its own methods (``cost_seconds``),
which is the precise figure; the end-to-end difference is shown beside it.
"""

import json
import statistics
import sys
import time

import nbclient
import nbformat

SETUP = r'''
import json, time
import matplotlib.pyplot  # imported by every chapter anyway: not a cost of the monitor
import torch
from book.data import load_dataset, FastLoader
from book.monitor import TrainingMonitor

data = load_dataset("fashion-mnist")
train_iter = FastLoader(data.train_images, data.train_labels, 256, device="cpu")
test_iter = FastLoader(data.test_images, data.test_labels, 256, shuffle=False, device="cpu")

def train_scratch(epochs=10, lr=0.1, monitor=None):
    torch.manual_seed(0)
    W = torch.normal(0, 0.01, (784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    def net(X):
        O = X.reshape(-1, 784) @ W + b
        E = (O - O.max(1, keepdim=True).values).exp()
        return E / E.sum(1, keepdim=True)
    start = time.perf_counter()
    cost_before = (monitor.cost_seconds, monitor.final_figure_seconds) if monitor else (0.0, 0.0)
    run = monitor.run(epochs, len(train_iter)) if monitor else __import__("contextlib").nullcontext()
    with run:
        for epoch in range(epochs):
            loss_sum = correct = n = 0
            for X, y in train_iter:
                y_hat = net(X)
                l = -torch.log(y_hat[range(len(y)), y])
                l.sum().backward()
                with torch.no_grad():
                    for p in (W, b):
                        p -= lr * p.grad / len(y)
                        p.grad.zero_()
                loss_sum += l.sum().item(); correct += (y_hat.argmax(1) == y).sum().item(); n += len(y)
                if monitor:
                    monitor.step(loss=l.mean().item())
            with torch.no_grad():
                test_acc = sum((net(X).argmax(1) == y).sum().item() for X, y in test_iter) / len(test_iter.y)
            if monitor:
                monitor.epoch(train_loss=loss_sum / n, train_acc=correct / n, test_acc=test_acc)
    if not monitor:
        return time.perf_counter() - start, 0.0, 0.0
    return (time.perf_counter() - start, monitor.cost_seconds - cost_before[0],
            monitor.final_figure_seconds - cost_before[1])
'''

MEASURE = r'''
train_scratch(epochs=1); train_scratch(epochs=1, monitor=TrainingMonitor(mode="widget"))  # warm-up
plain, monitored, cost, final = [], [], [], []
for _ in range(5):  # interleaved, so a slow spell of the machine hits both
    plain.append(train_scratch()[0])
    seconds, inside, figure = train_scratch(monitor=TrainingMonitor("softmax regression", mode="widget"))
    monitored.append(seconds)
    cost.append(inside)
    final.append(figure)
print("RESULT" + json.dumps({"plain": plain, "monitored": monitored, "cost": cost, "final": final}))
'''


def monitor_overhead() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(MEASURE)]
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.output_type == "stream")
    result = json.loads(text.split("RESULT", 1)[1].splitlines()[0])
    plain, monitored = statistics.median(result["plain"]), statistics.median(result["monitored"])
    cost, final = statistics.median(result["cost"]), statistics.median(result["final"])
    training = monitored - cost
    return {"plain_s": plain, "monitored_s": monitored, "end_to_end_pct": 100 * (monitored - plain) / plain,
            "cost_s": cost, "cost_pct": 100 * cost / training,
            "live_s": cost - final, "live_pct": 100 * (cost - final) / training, "final_s": final}


def main() -> int:
    from book.explorers import measure_retrain_seconds

    m = monitor_overhead()
    retrain = measure_retrain_seconds()
    print("| measurement | value |")
    print("| --- | --- |")
    print(f"| scratch softmax regression, 10 epochs, no monitor (median of 5) | {m['plain_s']:.2f} s |")
    print(f"| the same with TrainingMonitor in widget mode (median of 5) | {m['monitored_s']:.2f} s |")
    print(f"| live monitoring: steps, progress, table, throttled redraws (median) | {m['live_s'] * 1000:.0f} ms = "
          f"{m['live_pct']:.1f} % of training |")
    print(f"| the static figure the run ends with (one matplotlib drawing) | {m['final_s'] * 1000:.0f} ms |")
    print(f"| everything inside the monitor | {m['cost_s'] * 1000:.0f} ms = {m['cost_pct']:.1f} % of training |")
    print(f"| end-to-end difference (noisy on a shared 2-core machine) | {m['end_to_end_pct']:+.1f} % |")
    print(f"| learning-rate explorer: re-train + redraw at its defaults (median) | {retrain:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
