"""book.bench: the three pipelines feed the same batches and reach the same accuracy; the tables and the JSON
have their rows and columns. Speed is never asserted: timings belong to `python -m book.bench`."""

import json
import sys
import textwrap

import pytest

from book import bench  # before torch: importing book sets OMP_WAIT_POLICY=PASSIVE, without which 2 busy cores crawl
from book.bench import __main__ as bench_command
from book.data import REPO_ROOT
from book.device import default_device
from benchmarks import whole_course

import torch  # noqa: E402,I001


@pytest.fixture(scope="module")
def softmax_comparison():
    return bench.compare_pipelines("softmax", epochs=2, train_size=6000)


def test_the_three_pipelines_reach_the_same_accuracy_softmax(softmax_comparison):
    accuracy = {row["pipeline"]: row["test_acc"] for row in softmax_comparison["rows"]}
    assert sorted(accuracy) == ["a", "b", "c"]
    assert min(accuracy.values()) > 0.6, accuracy  # it learned something (chance is 0.1)
    assert max(accuracy.values()) - min(accuracy.values()) <= bench.ACCURACY_TOLERANCE, accuracy


def test_the_three_pipelines_reach_the_same_accuracy_mlp():
    # two epochs: the pipelines take turns, and each must keep its own dropout masks across the turns
    result = bench.compare_pipelines("mlp", epochs=2, train_size=3000)
    accuracy = {row["pipeline"]: row["test_acc"] for row in result["rows"]}
    assert min(accuracy.values()) > 0.6, accuracy
    assert max(accuracy.values()) - min(accuracy.values()) <= bench.ACCURACY_TOLERANCE, accuracy
    alone = bench.compare_pipelines("mlp", epochs=2, train_size=3000, pipelines=("a",), device=result["device"])
    assert alone["rows"][0]["test_acc"] == accuracy["a"]  # taking turns changed nothing it computed


@pytest.mark.parametrize("normalize", [False, True])
def test_the_pipelines_yield_the_same_batches(normalize):
    """Same images, same labels, same order -- which is why their accuracies agree."""
    epochs = 2
    a, a_test = bench.make_pipeline("a", epochs, train_size=1000, normalize=normalize, device="cpu")
    b, b_test = bench.make_pipeline("b", epochs, train_size=1000, normalize=normalize)
    c, c_test = bench.make_pipeline("c", epochs, train_size=1000, normalize=normalize, device="cpu")
    with bench.allow_many_workers():
        for _ in range(epochs):  # the second epoch is reshuffled, alike in all three
            batches = [list(a), list(b), list(c)]
            assert [len(x) for x in batches] == [len(a)] * 3 == [4] * 3  # 3 x 256 + 232
            for (Xa, ya), (Xb, yb), (Xc, yc) in zip(*batches):
                assert Xa.shape == Xb.shape == Xc.shape and Xb.dtype == torch.float32
                assert torch.equal(ya, yb) and torch.equal(ya, yc)
                assert torch.allclose(Xa, Xb, atol=1e-5) and torch.equal(Xa, Xc)
        (Xa, ya), (Xb, yb), (Xc, yc) = next(iter(a_test)), next(iter(b_test)), c_test[0]
    assert torch.equal(ya, yb) and torch.equal(ya, yc) and torch.allclose(Xa, Xb, atol=1e-5)
    if normalize:  # standardised: mean about 0 over a batch, no longer in [0, 1]
        assert Xa.min() < 0 and abs(Xa.mean().item()) < 0.3
    else:
        assert Xa.min() >= 0 and Xa.max() <= 1


def test_prebatched_epochs_are_used_up():
    loader = bench.PreBatched(torch.rand(10, 3), torch.arange(10), batch_size=4, epochs=1, device="cpu")
    assert len(loader) == 3 and [len(y) for _, y in loader] == [4, 4, 2]
    with pytest.raises(RuntimeError, match="larger epochs="):
        iter(loader)


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match="unknown model"):
        bench.compare_pipelines("resnet")
    with pytest.raises(ValueError, match="train_size must be an integer from 1 to 60000"):
        bench.compare_pipelines("softmax", train_size=0, pipelines=("a",))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        bench.compare_pipelines("softmax", epochs=0)
    with pytest.raises(ValueError, match="unknown pipeline"):
        bench.make_pipeline("d", 1)


def test_command_prints_the_tables_and_writes_the_same_as_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert bench_command.main(["--epochs", "1", "--train-size", "1024", "--accuracy-epochs", "1",
                               "--json", str(path)]) == 0
    out = capsys.readouterr().out
    results = json.loads(path.read_text())

    assert [c["model"] for c in results["pipelines"]] == ["softmax", "mlp"]
    for comparison in results["pipelines"]:
        assert comparison["train_size"] == 1024 and comparison["epochs"] == 1
        assert [r["pipeline"] for r in comparison["rows"]] == ["a", "b", "c"]
        for row in comparison["rows"]:
            assert {"label", "epoch_seconds", "median_s", "ratio_to_a", "test_acc"} <= set(row)
            assert len(row["epoch_seconds"]) == 1 and 0 <= row["test_acc"] <= 1
            assert f"| {row['label']} | {row['median_s']:.3f} |" in out
        assert comparison["rows"][0]["ratio_to_a"] == 1
    assert sorted((r["model"], r["dataset"]) for r in results["accuracy"]) == [
        ("mlp", "fashion-mnist"), ("mlp", "mnist"), ("softmax", "fashion-mnist"), ("softmax", "mnist")]
    assert len(results["loading"]) == 6 and results["loading"][-1]["label"] == bench.PIPELINES["b"]
    if default_device().type == "cpu":  # thread counts are a CPU matter; on a GPU the table is left out
        threads = sorted({1, torch.get_num_threads()})
        assert [(r["model"], r["threads"]) for r in results["threads"]] == [
            (model, n) for model in ("softmax", "mlp") for n in threads]
        assert "| model | torch threads | s/epoch |" in out
    else:
        assert "threads" not in results
    assert "book_build" not in results and "grading" not in results  # python -m benchmarks.whole_course
    assert results["d2l_reference"]["softmax_fashion_mnist_acc"] == bench.D2L_SOFTMAX_FASHION_MNIST_ACC

    for header in ["| pipeline | median s/epoch | ratio to (a) | test accuracy after 1 epoch |",
                   "| model | Fashion-MNIST | MNIST |", "| target | measured | met |"]:
        assert header in out
    assert "| 83.70% |" in out  # d2l's published figure, beside ours
    assert "**Book and grader**" not in out  # that table is benchmarks.whole_course's
    assert [t["measured"] for t in results["targets"]][-3:] == [bench.report.ELSEWHERE] * 3
    assert len(results["targets"]) == 7 and [t["met"] for t in results["targets"]][-3:] == [None] * 3


def test_command_rejects_bad_numbers(capsys):
    with pytest.raises(SystemExit):
        bench_command.main(["--epochs", "0"])
    assert "--epochs must be a positive integer" in capsys.readouterr().err


def comparison(model, a, b, c, acc_a=0.8, acc_b=0.8):
    rows = [{"pipeline": "a", "median_s": a, "test_acc": acc_a}, {"pipeline": "b", "median_s": b, "test_acc": acc_b},
            {"pipeline": "c", "median_s": c, "test_acc": acc_a}]
    return {"model": model, "rows": rows}


def test_targets_are_judged_from_the_measurements():
    results = {"pipelines": [comparison("softmax", 0.2, 5.0, 0.15), comparison("mlp", 1.0, 3.0, 0.4, acc_b=0.7)],
               "book_build": {"cold_s": 250.0, "cached_s": 40.0, "ok": True, "error": None},
               "grading": {"seconds": 4.0, "status": "ok"}}
    verdicts = [t["met"] for t in bench.targets(results)]
    # softmax: 25x and equal accuracy, within 2x of (c); mlp: 3x and unequal accuracy, 2.5x of (c);
    # cold build under 300 s, cached over 30 s, grading under 10 s
    assert verdicts == [True, True, False, False, True, False, True]
    failed = {"cold_s": None, "cached_s": None, "ok": False, "error": "the cold build failed (exit 1):\n..."}
    rows = bench.targets({"pipelines": [], "book_build": failed, "grading": None})
    assert rows[0]["met"] is None and rows[0]["measured"].startswith("failed: the cold build failed")


def test_grading_row_without_a_grader():
    result = whole_course.grading_time(module="no_such_grader_for_bench")
    assert result == {"seconds": None, "status": "n/a (grader not installed)", "notebook": None}


@pytest.mark.parametrize("exit_code, status", [(0, "ok"), (3, "exit 3")])
def test_grading_row_times_the_grader_command(tmp_path, monkeypatch, exit_code, status):
    grader = tmp_path / "fake_grader_for_bench.py"
    grader.write_text(textwrap.dedent(f"""
        import sys
        print("graded", sys.argv[1])
        sys.exit({exit_code})
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    notebook = tmp_path / "solution.ipynb"
    notebook.write_text("{}")
    result = whole_course.grading_time(notebook, module="fake_grader_for_bench")
    assert result["seconds"] > 0 and result["status"].startswith(status) and result["returncode"] == exit_code
    sys.modules.pop("fake_grader_for_bench", None)


def test_book_copy_holds_the_sources_and_no_build(tmp_path):
    dest = whole_course.copy_book_sources(tmp_path / "book")
    chapters = sorted(p.name for p in (REPO_ROOT / "chapters").glob("*.ipynb"))
    assert chapters and sorted(p.name for p in (dest / "chapters").glob("*.ipynb")) == chapters
    for name in ["_config.yml", "_toc.yml", "intro.md", "scripts/offline_assets.py", "scripts/render_quizzes.py",
                 "scripts/render_explorers.py"]:
        assert (dest / name).is_file(), name
    assert not (dest / "_build").exists() and not (dest / ".venv").exists()


def test_whole_course_command_says_what_it_skipped(tmp_path, capsys):
    path = tmp_path / "whole.json"
    assert whole_course.main(["--skip-book", "--skip-grading", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    results = json.loads(path.read_text())
    assert results["book_build"] is None and results["grading"] is None
    assert "skipped (--skip-book)" in out and "skipped (--skip-grading)" in out
    assert [t["met"] for t in results["targets"]] == [None] * 3 and "| target | measured | met |" in out


# --- the grading benchmark (python -m benchmarks.grading): its folder and its tables, without grading ----------

def test_grading_benchmark_class_folder_holds_one_copy_per_learner(tmp_path):
    from benchmarks import grading

    folder = grading.class_folder(tmp_path / "class", "01_softmax", 3)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["learner_001.ipynb", "learner_002.ipynb", "learner_003.ipynb"]
    assert {p.read_bytes() for p in folder.iterdir()} == {(grading.SOLUTIONS / "01_softmax.ipynb").read_bytes()}


def test_grading_benchmark_tables_show_medians_and_failures():
    from benchmarks import grading

    table = grading.exercise_table([{"exercise": "01_softmax", "seconds": [4.0, 6.0, 5.0], "median": 5.0,
                                     "full_marks": True},
                                    {"exercise": "02_cross_entropy", "seconds": [7.0], "median": 7.0,
                                     "full_marks": False}])
    assert "| 01_softmax | 5.0 | 4.0, 6.0, 5.0 | yes |" in table and "| 02_cross_entropy | 7.0 | 7.0 | NO |" in table
    row = {"exercise": "01_softmax", "size": 100, "jobs": 2, "seconds": 180.0, "rows": 100, "per_notebook": 1.8,
           "status": "ok"}
    assert "| 01_softmax | 100 | 2 | 180 | 1.80 | 100 | ok |" in grading.class_table(row)


def test_grading_benchmark_refuses_an_unknown_exercise_and_bad_sizes(capsys):
    from benchmarks import grading

    with pytest.raises(FileNotFoundError, match="pick exercises from"):
        grading.exercise_times(["99_nothing"], repeats=1)
    with pytest.raises(SystemExit):
        grading.main(["--repeats", "0"])
    assert "--repeats and --jobs must be at least 1" in capsys.readouterr().err
