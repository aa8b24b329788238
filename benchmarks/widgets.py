"""How much the training monitor costs, and how fast the explorers train in the reader's browser.

    python -m benchmarks.widgets        # from the repository's root (make bench runs it)

Prints a Markdown table. The monitor is measured where it is dearest: in a real Jupyter kernel (executed
through nbclient, so every update travels as an update_display_data message), in ``live`` mode, on softmax regression
from scratch (Fashion-MNIST, 10 epochs, batch 256, lr 0.1: the model of the scratch chapter), five interleaved runs
with and without it. The monitor also counts the time spent inside its own methods (``cost_seconds``),
which is the precise figure; the end-to-end difference is shown beside it.

The learning-rate explorer trains in the page (book/explorers/web/train.js): one epoch of softmax regression on
its embedded 2,000 Fashion-MNIST images, median milliseconds in Debian's headless Chromium (the page served on
127.0.0.1, no network), at two batch sizes; and the explorers' sizes in the page, gzipped.
"""

import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
train_scratch(epochs=1); train_scratch(epochs=1, monitor=TrainingMonitor(mode="live"))  # warm-up
plain, monitored, cost, final = [], [], [], []
for _ in range(5):  # interleaved, so a slow spell of the machine hits both
    plain.append(train_scratch()[0])
    seconds, inside, figure = train_scratch(monitor=TrainingMonitor("softmax regression", mode="live"))
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


def in_page_training(batch_sizes=(256, 16), epochs: int = 10, repeats: int = 5) -> dict:
    """{batch size: median ms per epoch} of the learning-rate explorer's training in headless Chromium, and the
    seconds from opening the page to the default run's result (10 epochs, batch 256)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import book_browser
    import book_site
    from playwright.sync_api import sync_playwright

    from book.explorers import learning_rate_explorer, standalone_page

    result = {}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        for batch in batch_sizes:
            Path(folder, f"train-{batch}.html").write_text(standalone_page(learning_rate_explorer(batch_size=batch)))
        browser = playwright.chromium.launch(executable_path=book_browser.find_chromium(),
                                             args=book_browser.CHROMIUM_ARGS, headless=True)
        with book_site.serve(Path(folder)) as base:
            for batch in batch_sizes:
                page = browser.new_page()
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                           else route.abort())
                start = time.perf_counter()
                page.goto(f"{base}/train-{batch}.html")
                page.wait_for_function("document.querySelector('.sx-root').sxExplorer?.values().done",
                                       timeout=120_000)
                if batch == 256:
                    result["first_result_s"] = time.perf_counter() - start
                times = [t for _ in range(repeats) for t in
                         page.evaluate(f"document.querySelector('.sx-root').sxExplorer.timeEpochs({epochs})")]
                result[batch] = statistics.median(times)
                page.close()
        browser.close()
    return result


def explorer_sizes() -> dict:
    from book.explorers import (cross_entropy_explorer, decision_boundary_explorer, learning_rate_explorer,
                                softmax_explorer)

    return {e.title: len(gzip.compress(e._repr_html_().encode(), compresslevel=6, mtime=0))
            for e in (softmax_explorer(), cross_entropy_explorer(), learning_rate_explorer(),
                      decision_boundary_explorer())}


def main() -> int:
    m = monitor_overhead()
    in_page = in_page_training()
    sizes = explorer_sizes()
    print("| measurement | value |")
    print("| --- | --- |")
    print(f"| scratch softmax regression, 10 epochs, no monitor (median of 5) | {m['plain_s']:.2f} s |")
    print(f"| the same with TrainingMonitor in widget mode (median of 5) | {m['monitored_s']:.2f} s |")
    print(f"| live monitoring: steps, progress, table, throttled redraws (median) | {m['live_s'] * 1000:.0f} ms = "
          f"{m['live_pct']:.1f} % of training |")
    print(f"| the static figure the run ends with (one matplotlib drawing) | {m['final_s'] * 1000:.0f} ms |")
    print(f"| everything inside the monitor | {m['cost_s'] * 1000:.0f} ms = {m['cost_pct']:.1f} % of training |")
    print(f"| end-to-end difference (noisy on a shared 2-core machine) | {m['end_to_end_pct']:+.1f} % |")
    for batch in (256, 16):
        print(f"| in-page training, one epoch of 2,000 images at batch size {batch} (median, headless Chromium) | "
              f"{in_page[batch]:.1f} ms |")
    print(f"| in-page training: from opening the page to the 10-epoch result | {in_page['first_result_s']:.2f} s |")
    for title, size in sizes.items():
        print(f"| explorer in the page, gzipped: {title} (code, settings and data) | {size / 1024:.1f} KiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
