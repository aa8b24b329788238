"""MNIST and Fashion-MNIST as tensors, found offline first and checked byte for byte.

    >>> from book.data import load_dataset, FastLoader
    >>> fmnist = load_dataset("fashion-mnist")
    >>> fmnist.train_images.shape, fmnist.classes[0]
    (torch.Size([60000, 28, 28]), 'T-shirt/top')
    >>> for X, y in FastLoader(fmnist.train_images, fmnist.train_labels, batch_size=256):
    ...     pass                                  # X: (256, 1, 28, 28) float32 in [0, 1]

Where the files come from, in this order (the first place that has all four wins):

1. ``root=`` given to :func:`load_dataset` -- then *only* that folder (and a download into it);
2. the folder in the ``COURSE_DATA_DIR`` environment variable;
3. the copy kept in this repository (``data/mnist/``; MNIST only);
4. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``);
5. earlier downloads in the user cache (``~/.cache/softmax-course``, or ``COURSE_CACHE_DIR``);
6. the standard download, from torchvision's own mirrors, when online.

A folder may hold the four IDX files gzipped or not, directly, under ``<folder>/<name>/``, or in
torchvision's layout ``<folder>/FashionMNIST/raw/``. Every file is checked against the SHA-256 of its
*uncompressed* bytes, so a copy that was recompressed (Debian's is) still checks, and a damaged one never
loads silently. A labels file may be held out (see :func:`held_out`): a class grader's sandbox shows a
character device in its place, read as :data:`HELD_OUT_LABEL` for every image.

Run ``python -m book.data`` to see which source each data set resolves to.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDORED_DIR = REPO_ROOT / "data"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FILES = {  # role -> file name (the same four names for both data sets)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGES_OF = {FILES[f"{split}_labels"]: FILES[f"{split}_images"] for split in ("train", "test")}
HELD_OUT_LABEL = 255  # what a held-out label reads as: no class of either data set (both have ten)


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # our name, as passed to load_dataset
    torchvision_name: str  # the torchvision class, and its folder name under root
    classes: tuple[str, ...]
    sha256: dict[str, str]  # file name -> SHA-256 of the *uncompressed* IDX bytes
    fix: str  # the command that puts the files in place


DATASETS = {
    "mnist": DatasetInfo(
        name="mnist",
        torchvision_name="MNIST",
        classes=tuple(str(d) for d in range(10)),
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        fix="git checkout -- data/mnist   (the repository keeps MNIST)\n"
        "    or, online:  python -m book.data download mnist",
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        torchvision_name="FashionMNIST",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        fix="sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu; `make data` does it)\n"
        "    or, online:  python -m book.data download fashion-mnist",
    ),
}


class DataNotFoundError(FileNotFoundError):
    """No source had all four files of a data set."""


class ChecksumError(ValueError):
    """A data file exists but its bytes are not the published ones (truncated, corrupt, or another file)."""


class NotADataFileError(ValueError):
    """Something other than a file sits where a data file should be (a folder, a named pipe, a device...)."""


@dataclass(frozen=True)
class ImageDataset:
    """One data set in memory: uint8 images (N, 28, 28), int64 labels (N,), and the class names."""

    name: str
    classes: tuple[str, ...]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Path  # the folder the files were read from

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}: {len(self.train_labels):,} train / "
                f"{len(self.test_labels):,} test images of {tuple(self.train_images.shape[1:])}, "
                f"{len(self.classes)} classes)")


def info(name: str) -> DatasetInfo:
    if not isinstance(name, str):
        raise TypeError(f"the data set's name must be a string, one of {sorted(DATASETS)}; got {name!r}")
    key = name.lower().replace("_", "-")
    key = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: expected one of {sorted(DATASETS)}")
    return DATASETS[key]


def cache_dir() -> Path:
    """Where downloads and torchvision's uncompressed copies go (``COURSE_CACHE_DIR`` overrides)."""
    return Path(os.environ.get("COURSE_CACHE_DIR") or Path.home() / ".cache" / "softmax-course")


# --- finding the files -------------------------------------------------------------------------------------

def candidate_folders(name: str) -> list[Path]:
    """The folders searched (in order) when no explicit root is given."""
    ds = info(name)
    folders = []
    if os.environ.get("COURSE_DATA_DIR"):
        folders.append(Path(os.environ["COURSE_DATA_DIR"]))
    folders.append(VENDORED_DIR)
    if ds.name == "fashion-mnist":
        folders.append(DEBIAN_FASHION_MNIST)
    folders.append(cache_dir())
    return folders


def _layouts(folder: Path, ds: DatasetInfo) -> list[Path]:
    """The places inside one folder where the four files may sit."""
    return [folder / ds.name, folder / ds.torchvision_name / "raw", folder]


def _find_file(directory: Path, filename: str) -> Path | None:
    """The path of ``filename`` (gzipped or not) in ``directory``, whatever sits there: reading it says what
    is wrong with a folder or a pipe of that name, rather than looking past it."""
    for candidate in (directory / filename, directory / (filename + ".gz")):
        if candidate.exists():
            return candidate
    return None


def _complete_set(folder: Path, ds: DatasetInfo) -> dict[str, Path] | None:
    for directory in _layouts(folder, ds):
        found = {f: _find_file(directory, f) for f in ds.sha256}
        if all(found.values()):
            return found
    return None


def find_files(name: str, root: str | Path | None = None, download: bool = True) -> dict[str, Path]:
    """Return ``{file name: path}`` for the four files of a data set, or raise DataNotFoundError.

    Files are located, not yet checked: :func:`read_verified` checks each one as it is read.
    """
    ds = info(name)
    folders = [Path(root).expanduser()] if root is not None else candidate_folders(name)
    for folder in folders:
        found = _complete_set(folder, ds)
        if found:
            return found
    target = folders[0] if root is not None else cache_dir()
    tried = [str(d) for folder in folders for d in _layouts(folder, ds)]
    download_error = None
    if download:
        try:
            return download_files(name, target)
        except OSError as exc:  # no network, mirror down, disk full...
            download_error = exc
            tried.append(f"download into {target} -> {exc}")
    else:
        tried.append("download (not attempted: download=False)")
    raise DataNotFoundError(
        f"{ds.name}: the four IDX files ({', '.join(ds.sha256)}, gzipped or not) were not found.\n"
        "Tried, in order:\n  - " + "\n  - ".join(tried) + "\n"
        f"Fix it with:\n    {ds.fix}\n"
        "    or point COURSE_DATA_DIR (or root=) at a folder that holds the files."
    ) from download_error


def download_files(name: str, target: str | Path) -> dict[str, Path]:
    """Download the four gzipped files from torchvision's mirrors into ``target/<name>/`` and check them."""
    from book.torchvision_compat import import_torchvision

    ds = info(name)
    tv = import_torchvision()
    dataset_class = getattr(tv.datasets, ds.torchvision_name)
    dest = Path(target) / ds.name
    dest.mkdir(parents=True, exist_ok=True)
    found = {}
    for filename in ds.sha256:
        errors = []
        for mirror in dataset_class.mirrors:
            try:
                tv.datasets.utils.download_url(mirror + filename + ".gz", str(dest))
                break
            except Exception as exc:  # torchvision raises URLError, HTTPError, RuntimeError...
                errors.append(f"{mirror}: {exc}")
        else:
            raise OSError(f"could not download {filename}.gz: " + "; ".join(errors))
        found[filename] = dest / (filename + ".gz")
        read_verified(found[filename], ds.sha256[filename])
    return found


# --- reading and checking ----------------------------------------------------------------------------------

def held_out(path: str | Path) -> bool:
    """Whether ``path`` is a held-out labels file: a character device where a labels file should be.

    A class grader must not let the notebooks it grades read the test labels (its checkers score trained
    models on them), yet each notebook's own ``load_dataset(...)`` must still load. So its sandbox binds
    ``/dev/null``, a character device, over every test-labels file, and :func:`read_file` reads such a file
    as :data:`HELD_OUT_LABEL` (no class) for each image of its split: a loss computed with them fails and an
    accuracy is nil, never a score. Data files are never devices, so outside the sandbox nothing changes.
    """
    path = Path(path)
    return path.name.removesuffix(".gz") in IMAGES_OF and path.is_char_device()


def _kind(path: Path) -> str:
    """What sits at ``path`` when it is not a regular file, in words."""
    for test, kind in ((Path.is_dir, "a folder"), (Path.is_fifo, "a named pipe (FIFO)"),
                       (Path.is_socket, "a socket"), (Path.is_char_device, "a character device"),
                       (Path.is_block_device, "a block device")):
        if test(path):
            return kind
    return "not a regular file"


def read_file(ds: DatasetInfo, files: dict[str, Path], filename: str) -> bytes:
    """The uncompressed bytes of data file ``filename`` of ``ds`` among ``files`` (as :func:`find_files` gives
    them), checked; for a held-out labels file (:func:`held_out`), an IDX file of :data:`HELD_OUT_LABEL`, one
    per image of its split (the images file is read, and checked, to count them)."""
    if not held_out(files[filename]):
        return read_verified(files[filename], ds.sha256[filename])
    images = IMAGES_OF[filename]
    count = len(parse_idx(read_verified(files[images], ds.sha256[images]), files[images]))
    return b"\x00\x00\x08\x01" + count.to_bytes(4, "big") + bytes([HELD_OUT_LABEL]) * count


def read_verified(path: str | Path, sha256: str) -> bytes:
    """The uncompressed bytes of an IDX file (gzipped or not), after checking their SHA-256."""
    path = Path(path)
    if path.exists() and not path.is_file():  # never opened: a named pipe would wait for a writer for ever
        raise NotADataFileError(
            f"{path}: {_kind(path)} sits where a data file should be; expected the IDX file itself "
            "(gzipped or not). Remove it and fetch the data again, or point COURSE_DATA_DIR (or root=) at "
            "the folder that holds the files. (Only a labels file can be held out, and only as a "
            "character device: that is how a class grader's sandbox hides test labels.)")
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ChecksumError(f"{path}: cannot be decompressed ({exc}); the file is damaged. "
                            "Delete it and fetch it again.") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ChecksumError(f"{path}: SHA-256 of its uncompressed bytes is {digest}, expected {sha256}. "
                            "The file is damaged or is not the file it is named after: "
                            "delete it and fetch it again.")
    return data


def parse_idx(data: bytes, path: str | Path = "<bytes>") -> torch.Tensor:
    """Decode the IDX format (magic 0x0000 0x08 ndim, big-endian sizes, uint8 payload) into a tensor."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ChecksumError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = offset + (torch.Size(shape).numel())
    if len(data) != expected:
        raise ChecksumError(f"{path}: IDX header says {shape} ({expected} bytes) but the file has {len(data)}")
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(shape)


_MEMORY: dict[tuple[str, Path], ImageDataset] = {}


def load_dataset(name: str, root: str | Path | None = None, download: bool = True) -> ImageDataset:
    """Load MNIST (``"mnist"``) or Fashion-MNIST (``"fashion-mnist"``), full size, checked.

    Images are uint8 (N, 28, 28), labels int64. Repeated calls return the copy already in memory.
    """
    ds = info(name)
    files = find_files(ds.name, root, download)
    source = files[FILES["train_images"]].parent
    if (ds.name, source) in _MEMORY:
        return _MEMORY[ds.name, source]
    tensors = {}
    for role, filename in FILES.items():
        tensor = parse_idx(read_file(ds, files, filename), files[filename])
        tensors[role] = tensor.long() if role.endswith("labels") else tensor
    dataset = ImageDataset(name=ds.name, classes=ds.classes, source=source, **tensors)
    _MEMORY[ds.name, source] = dataset
    return dataset


def torchvision_root(name: str, root: str | Path | None = None, download: bool = True) -> Path:
    """A folder that ``torchvision.datasets.<MNIST|FashionMNIST>(root=..., download=False)`` accepts.

    torchvision wants uncompressed files under ``<root>/<ClassName>/raw/``; they are written once (checked)
    into the cache, so torchvision reads exactly the bytes that :func:`load_dataset` reads.
    """
    ds = info(name)
    files = find_files(ds.name, root, download)
    tv_root = cache_dir() / "torchvision"
    raw = tv_root / ds.torchvision_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for filename, sha in ds.sha256.items():
        out = raw / filename
        if out.is_file() and hashlib.sha256(out.read_bytes()).hexdigest() == sha:
            continue  # written (and checked) by an earlier call
        data = read_file(ds, files, filename)
        with tempfile.NamedTemporaryFile(dir=raw, delete=False) as tmp:  # atomic: never a half file
            tmp.write(data)
        shutil.move(tmp.name, out)
    return tv_root


# --- from uint8 images to model inputs ---------------------------------------------------------------------

def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], the layout ``ToTensor()`` gives."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images as loaded by load_dataset, got {images.dtype}")
    return images.unsqueeze(1).float().div_(255)


def mean_std(images: torch.Tensor) -> tuple[float, float]:
    """Pixel mean and standard deviation of uint8 images after scaling to [0, 1] (for ``Normalize``)."""
    x = images.double().div(255)
    return x.mean().item(), x.std().item()


def class_indices(labels) -> torch.Tensor:
    """Labels as int64 class indices, or a ValueError: never a silent ``.long()`` that truncates 0.111 to 0.

    Integer labels must be >= 0; floating ones must be whole numbers >= 0 as well (then they convert exactly).
    """
    y = torch.as_tensor(labels)
    if y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"labels must be class indices 0..q-1 (int64), got dtype {y.dtype}")
    if y.is_floating_point():
        odd = y[~torch.isfinite(y) | (y != y.round()) | (y.abs() > 2 ** 53)]
        if len(odd):
            raise ValueError(f"labels must be whole numbers 0..q-1; got {odd[0].item():.6g} ({y.dtype}): pass "
                             "class indices, e.g. y.long() after checking that y holds whole numbers")
    y = y.long()
    if y.numel() and y.min() < 0:
        raise ValueError(f"labels must be class indices 0..q-1, got {y.min().item()}: a negative label is no "
                         "class (shift them, e.g. y - y.min(), if they start below 0)")
    return y


class FastLoader:
    """A minibatch iterator over tensors already in memory: the drop-in, fast twin of ``DataLoader``.

    Yields ``(X, y)`` like a DataLoader over ``TensorDataset(to_float(images), labels)``: X float32
    (B, 1, 28, 28) in [0, 1] on ``device``, y int64. Each epoch draws a fresh permutation from a generator
    seeded with ``seed``, so the same seed gives the same batches in the same order, epoch after epoch.
    Images may also be any float tensor of features (N, ...), used as is. Labels are class indices
    (see :func:`class_indices`: float labels such as ``y / 9`` are refused, not truncated).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256,
                 shuffle: bool = True, seed: int = 0, device: str | torch.device | None = None,
                 drop_last: bool = False):
        if len(images) != len(labels):
            raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        from book.device import default_device

        self.device = default_device(device)
        features = to_float(images) if images.dtype == torch.uint8 else images.float()
        self.X = features.to(self.device)  # converted once, not per batch
        self.y = class_indices(labels).to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n, b = len(self.y), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator).to(self.device) if self.shuffle else None
        for i in range(len(self)):
            if order is None:
                yield self.X[i * self.batch_size:(i + 1) * self.batch_size], \
                    self.y[i * self.batch_size:(i + 1) * self.batch_size]
            else:
                idx = order[i * self.batch_size:(i + 1) * self.batch_size]
                yield self.X.index_select(0, idx), self.y.index_select(0, idx)


def standard_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256, shuffle: bool = True,
                    seed: int = 0, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """The standard PyTorch pipeline over the same tensors: ``DataLoader(TensorDataset(...))``.

    Same batches' shapes and dtypes as :class:`FastLoader` (on the CPU), so one can replace the other.
    """
    from torch.utils.data import DataLoader, TensorDataset

    features = to_float(images) if images.dtype == torch.uint8 else images.float()
    return DataLoader(TensorDataset(features, class_indices(labels)), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed), num_workers=num_workers)


def describe_sources() -> str:
    """One line per data set: where it is found now (or why not)."""
    lines = []
    for name in DATASETS:
        try:
            files = find_files(name, download=False)
            lines.append(f"{name:14s} {files[FILES['train_images']].parent}")
        except DataNotFoundError as exc:
            lines.append(f"{name:14s} MISSING\n{exc}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m book.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("status", help="show where each data set is found (default)")
    dl = sub.add_parser("download", help="download a data set into the cache (needs network)")
    dl.add_argument("name", choices=sorted(DATASETS))
    check = sub.add_parser("check", help="load every data set and verify every checksum")
    check.add_argument("name", nargs="*", default=sorted(DATASETS))
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            print(f"{args.name}: {download_files(args.name, cache_dir())[FILES['train_images']].parent}")
        elif args.command == "check":
            for name in args.name:
                print(load_dataset(name, download=False))
        else:
            print(describe_sources())
    except (DataNotFoundError, ChecksumError, NotADataFileError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
