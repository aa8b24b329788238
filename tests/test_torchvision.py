"""torchvision works on the course's files, and the import fix is applied only where it is needed."""

import subprocess
import sys
import textwrap

import pytest
import torch

from book.data import load_dataset, to_float, torchvision_root
from book.torchvision_compat import import_torchvision


@pytest.fixture(scope="module")
def torchvision():
    return import_torchvision()


@pytest.mark.parametrize("name, cls", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_datasets_read_the_same_files(torchvision, name, cls):
    ours = load_dataset(name, download=False)
    root = torchvision_root(name, download=False)
    for train, images, labels in [(True, ours.train_images, ours.train_labels),
                                  (False, ours.test_images, ours.test_labels)]:
        ds = getattr(torchvision.datasets, cls)(root=root, train=train, download=False)
        assert len(ds) == len(labels)
        assert torch.equal(ds.data, images) and torch.equal(ds.targets, labels)
    if cls == "FashionMNIST":
        assert tuple(ds.classes) == ours.classes


def test_to_tensor_pipeline_equals_to_float(torchvision):
    from torchvision import datasets, transforms

    ds = datasets.FashionMNIST(root=torchvision_root("fashion-mnist", download=False), train=False,
                               download=False, transform=transforms.ToTensor())
    image, label = ds[7]
    ours = load_dataset("fashion-mnist", download=False)
    assert torch.equal(image, to_float(ours.test_images[7:8])[0]) and label == ours.test_labels[7].item()


def test_make_grid_and_transforms_v2_work(torchvision):
    from torchvision.transforms import v2
    from torchvision.utils import make_grid

    assert make_grid(torch.rand(8, 1, 28, 28), nrow=4, padding=2).shape == (3, 62, 122)
    assert v2.Normalize((0.5,), (0.5,))(torch.ones(1, 2, 2)).eq(1).all()


def test_torchvision_root_is_reused(torchvision):
    root = torchvision_root("mnist", download=False)
    raw = root / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    before = raw.stat().st_mtime_ns
    assert torchvision_root("mnist", download=False) == root
    assert raw.stat().st_mtime_ns == before  # checked, not rewritten


def run_with_fake_torchvision(tmp_path, body):
    """Run book.torchvision_compat against a stand-in torchvision package placed first on sys.path."""
    pkg = tmp_path / "torchvision"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(body))
    code = ("import book.torchvision_compat as c; tv = c.import_torchvision(); "
            "print(tv.__name__, tv.FAKE, c.patched)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""})


def test_a_working_torchvision_is_left_alone(tmp_path):
    result = run_with_fake_torchvision(tmp_path, "FAKE = 'ok'\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["torchvision", "ok", "False"]


def test_other_import_errors_are_not_hidden(tmp_path):
    result = run_with_fake_torchvision(tmp_path, "raise RuntimeError('something else broke')\n")
    assert result.returncode != 0 and "something else broke" in result.stderr


def test_the_schema_fix_repairs_the_nms_failure(tmp_path):
    # the check torchvision/_meta_registrations.py makes, which fails while the schema is undefined
    body = """
        import torch
        torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::nms", "Meta")
        FAKE = 'repaired'
    """
    result = run_with_fake_torchvision(tmp_path, body)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["torchvision", "repaired", "True"]
