"""Kaggle's side of the Otto Group Product Classification Challenge: its metric and its CSV files.

    >>> from book.kaggle import log_loss, load_otto_csv, write_submission, score_submission
    >>> log_loss(probabilities, labels)                 # Kaggle's multi-class log loss (clipped, renormalised)
    >>> table = load_otto_csv("train.csv")              # Kaggle's file: id, feat_1..feat_93, target
    >>> table.features.shape, table.labels[:3]          # int64 (61878, 93), int64 class indices 0..8
    >>> write_submission("submission.csv", ids, probabilities)   # id, Class_1..Class_9
    >>> score_submission("submission.csv", ids, labels)          # the log loss Kaggle would report

**The metric.** Kaggle scores a submission with the multi-class log loss

    logloss = -(1/N) * sum_i log p_i[y_i]

after two repairs of the submitted probabilities: every entry is clipped to ``[1e-15, 1 - 1e-15]`` (so a
confident mistake costs at most ``-log 1e-15 = 34.5`` instead of infinity), then each row is divided by its sum
(rows need not sum to one). :func:`log_loss` does exactly that.

**The files.** Kaggle's ``train.csv`` has the columns ``id, feat_1, ..., feat_93, target`` with integer counts
and targets ``Class_1`` ... ``Class_9``; ``test.csv`` lacks ``target``; a submission has ``id, Class_1, ...,
Class_9`` with one row of probabilities per test id. Bad files raise :class:`OttoFormatError` naming the file,
the line and the column, and saying what was expected.

The data itself cannot be shipped with the course (the competition's rules): download it from the
competition's page on Kaggle after accepting the rules, or use :mod:`book.otto`, which generates data of the
same shape.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

CLASSES = tuple(f"Class_{i}" for i in range(1, 10))
FEATURES = tuple(f"feat_{j}" for j in range(1, 94))
EPS = 1e-15  # Kaggle's clipping constant
KAGGLE_HINT = ("Kaggle's files come from the competition page (Otto Group Product Classification Challenge, "
               "'Data' tab, after accepting the rules); book.otto generates data in the same layout.")


class OttoFormatError(ValueError):
    """A CSV file that is not in the layout Kaggle uses for the Otto challenge."""


# --- the metric ----------------------------------------------------------------------------------------------

def log_loss(probabilities, labels, eps: float = EPS) -> float:
    """Kaggle's multi-class log loss: clip to ``[eps, 1 - eps]``, divide each row by its sum, average ``-log p_y``.

    Rows need not sum to one, but pass probabilities: an entry above 1 is clipped to ``1 - eps`` like any other.

    ``probabilities``: (N, q) non-negative numbers, one row per example (a tensor, an array or nested lists);
    ``labels``: N class indices in ``0..q-1``. Computed in float64. Raises ``ValueError`` for logits (negative
    entries), NaN, a shape mismatch or labels out of range.
    """
    if isinstance(probabilities, torch.Tensor):
        p = probabilities.detach().to("cpu", torch.float64)
    else:  # lists, arrays: read as float64 directly (torch would make float32 of Python floats)
        p = torch.as_tensor(probabilities, dtype=torch.float64)
    y = torch.as_tensor(labels).detach().cpu()
    if p.dim() != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (N, q) with N >= 1 and q >= 2 classes, "
                         f"got shape {tuple(p.shape)}")
    if y.shape != (p.shape[0],):
        raise ValueError(f"expected one label per row of probabilities, i.e. shape ({p.shape[0]},), "
                         f"got shape {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise ValueError(f"labels must be integer class indices 0..{p.shape[1] - 1}, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must be class indices in 0..{p.shape[1] - 1} (the probabilities have "
                         f"{p.shape[1]} columns), got labels from {int(y.min())} to {int(y.max())}")
    if not torch.isfinite(p).all():
        raise ValueError("the probabilities contain NaN or infinite values: check the model's output "
                         "(a diverged training run gives NaN)")
    if (p < 0).any():
        raise ValueError(f"probabilities must be >= 0, got a smallest entry of {p.min().item():.4g}: these look "
                         "like logits or log-probabilities; apply softmax (torch.softmax(logits, dim=1)) first")
    if not 0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), got {eps}")
    p = p.clamp(eps, 1 - eps)
    p = p / p.sum(dim=1, keepdim=True)
    return -p.gather(1, y.long().unsqueeze(1)).log().mean().item()


# --- reading Kaggle's train.csv / test.csv -------------------------------------------------------------------

@dataclass(frozen=True)
class OttoTable:
    """One Otto CSV file in memory: ids (N,), counts (N, 93) and, for train.csv, class indices (N,); all int64."""

    ids: torch.Tensor
    features: torch.Tensor
    labels: torch.Tensor | None
    path: Path

    def __repr__(self) -> str:
        what = "labelled" if self.labels is not None else "unlabelled"
        return f"OttoTable({self.path.name}: {len(self.ids):,} {what} rows of {self.features.shape[1]} counts)"


def _open_csv(path: str | Path) -> tuple[Path, list[str], csv.reader, object]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. {KAGGLE_HINT}")
    handle = path.open(newline="", encoding="utf-8-sig")  # -sig: a byte-order mark is not part of 'id'
    reader = csv.reader(handle)
    header = next(reader, None)
    if not header:
        handle.close()
        raise OttoFormatError(f"{path}: the file is empty; expected a header line such as 'id,feat_1,...'")
    header = [name.strip() for name in header]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        handle.close()
        raise OttoFormatError(f"{path}, line 1: the header names these columns more than once: {duplicates}")
    return path, header, reader, handle


def _integer(text: str, path: Path, line: int, column: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise OttoFormatError(f"{path}, line {line}, column {column!r}: expected {what}, got {text!r}") from None
    if value < 0:
        raise OttoFormatError(f"{path}, line {line}, column {column!r}: expected {what}, got {value}")
    return value


def _data_rows(reader, header: list[str], id_col: int, path: Path, id_wanted: str, unique_hint: str):
    """(line number, id, fields) of each non-blank data row; wrong field counts and repeated ids stop with the line."""
    first_line = {}
    for line, fields in enumerate(reader, start=2):
        if not fields:  # a blank line (often the last one)
            continue
        if len(fields) != len(header):
            raise OttoFormatError(f"{path}, line {line}: {len(fields)} fields, but the header has "
                                  f"{len(header)} columns")
        row_id = _integer(fields[id_col], path, line, "id", id_wanted)
        if row_id in first_line:
            raise OttoFormatError(f"{path}, line {line}, column 'id': id {row_id} already appeared on line "
                                  f"{first_line[row_id]}; {unique_hint}")
        first_line[row_id] = line
        yield line, row_id, fields


def load_otto_csv(path: str | Path, require_target: bool = True) -> OttoTable:
    """Read Kaggle's Otto ``train.csv`` (``id, feat_1..feat_93, target``) into int64 tensors.

    Columns are found by name, in any order. ``require_target=False`` also accepts ``test.csv``, which has no
    ``target`` column (``labels`` is then None). Targets ``Class_1`` ... ``Class_9`` become 0 ... 8. Every
    problem -- a missing or unknown column, a row with too few or too many fields, a count that is not a
    non-negative integer, an unknown class, a repeated id -- raises :class:`OttoFormatError` naming the line
    (the header is line 1) and the column.
    """
    path, header, reader, handle = _open_csv(path)
    with handle:
        expected = ["id", *FEATURES] + (["target"] if require_target else [])
        missing = [name for name in expected if name not in header]
        unknown = [name for name in header if name not in (*expected, "target")]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"missing columns {_names(missing)}")
            if unknown:
                problems.append(f"unknown columns {_names(unknown)}")
            layout = "id, feat_1 ... feat_93, target" + ("" if require_target else " (target optional)")
            hint = (" (a submission file? read it with read_submission)" if any(n in CLASSES for n in unknown)
                    else "")
            raise OttoFormatError(f"{path}, line 1: {' and '.join(problems)}; expected the columns {layout}{hint}")
        id_col = header.index("id")
        feature_cols = [header.index(name) for name in FEATURES]
        target_col = header.index("target") if "target" in header else None
        class_index = {name: i for i, name in enumerate(CLASSES)}
        ids, rows, labels = [], [], []
        for line, row_id, fields in _data_rows(reader, header, id_col, path, "a non-negative integer id",
                                               "every row needs its own id"):
            try:
                counts = [int(fields[c]) for c in feature_cols]
            except ValueError:
                counts = None
            if counts is None or min(counts) < 0:  # find the culprit only when there is one (fast path above)
                for name, c in zip(FEATURES, feature_cols):
                    _integer(fields[c], path, line, name, "a non-negative integer count")
            if target_col is not None:
                target = fields[target_col].strip()
                if target not in class_index:
                    raise OttoFormatError(f"{path}, line {line}, column 'target': unknown class {target!r}; "
                                          f"expected one of Class_1 ... Class_9")
                labels.append(class_index[target])
            ids.append(row_id)
            rows.append(counts)
    if not ids:
        raise OttoFormatError(f"{path}: the header is there but no data rows follow")
    return OttoTable(ids=torch.tensor(ids, dtype=torch.int64), features=torch.tensor(rows, dtype=torch.int64),
                     labels=torch.tensor(labels, dtype=torch.int64) if target_col is not None else None, path=path)


def write_otto_csv(path: str | Path, ids, features, labels=None) -> Path:
    """Write counts (N, 93) -- and class indices, if given -- in Kaggle's layout: ``id, feat_1..feat_93[, target]``.

    The inverse of :func:`load_otto_csv`: with it, generated data looks to any tool exactly like Kaggle's files.
    """
    ids = _ids(ids)
    features = torch.as_tensor(features)
    if features.shape != (len(ids), len(FEATURES)) or features.is_floating_point():
        raise ValueError(f"expected integer counts of shape ({len(ids)}, {len(FEATURES)}), one row per id, got "
                         f"{features.dtype} of shape {tuple(features.shape)}")
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (len(ids),) or labels.min() < 0 or labels.max() >= len(CLASSES):
            raise ValueError(f"expected {len(ids)} class indices in 0..{len(CLASSES) - 1}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *FEATURES] + (["target"] if labels is not None else []))
        for i, (row_id, row) in enumerate(zip(ids.tolist(), features.tolist())):
            writer.writerow([row_id, *row] + ([CLASSES[labels[i]]] if labels is not None else []))
    return path


# --- submissions ---------------------------------------------------------------------------------------------

def _ids(ids) -> torch.Tensor:
    ids = torch.as_tensor(ids)
    if ids.dim() != 1 or ids.is_floating_point():
        raise ValueError(f"ids must be a 1-D sequence of integers, got {ids.dtype} of shape {tuple(ids.shape)}")
    if len(torch.unique(ids)) != len(ids):
        raise ValueError("ids must be unique: every row of a submission is one product")
    return ids.long()


def write_submission(path: str | Path, ids, probabilities) -> Path:
    """Write a Kaggle submission: the header ``id,Class_1,...,Class_9``, then one row per id.

    ``probabilities`` (N, 9) must be finite and non-negative (rows need not sum to 1: Kaggle renormalises).
    Written with 9 significant digits, so the score of the file equals the score of the tensor to about 1e-8.
    """
    ids = _ids(ids)
    p = torch.as_tensor(probabilities).detach().to("cpu", torch.float64)
    if p.shape != (len(ids), len(CLASSES)):
        raise ValueError(f"expected probabilities of shape ({len(ids)}, {len(CLASSES)}) -- one row per id, one "
                         f"column per class -- got shape {tuple(p.shape)}")
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ValueError("probabilities must be finite and >= 0; for logits, apply torch.softmax(logits, dim=1)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        handle.write(",".join(["id", *CLASSES]) + "\n")
        for row_id, row in zip(ids.tolist(), p.tolist()):
            handle.write(f"{row_id}," + ",".join(f"{v:.9g}" for v in row) + "\n")
    return path


def read_submission(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a submission file: (ids int64 (N,), probabilities float64 (N, 9) in the order Class_1..Class_9).

    Class columns may come in any order. Raises :class:`OttoFormatError` naming the line and column for a
    wrong header, a row of the wrong length, an id that is not an integer or repeats, and a probability that is
    not a finite number >= 0.
    """
    path, header, reader, handle = _open_csv(path)
    with handle:
        missing = [name for name in ("id", *CLASSES) if name not in header]
        unknown = [name for name in header if name not in ("id", *CLASSES)]
        if missing or unknown:
            problems = ([f"missing columns {_names(missing)}"] if missing else []) + (
                [f"unknown columns {_names(unknown)}"] if unknown else [])
            raise OttoFormatError(f"{path}, line 1: {' and '.join(problems)}; a submission has exactly the "
                                  f"columns id, Class_1, ..., Class_9")
        id_col = header.index("id")
        class_cols = [header.index(name) for name in CLASSES]
        ids, rows = [], []
        for line, row_id, fields in _data_rows(reader, header, id_col, path, "an integer id",
                                               "submit one row per id"):
            row = []
            for name, c in zip(CLASSES, class_cols):
                try:
                    value = float(fields[c])
                except ValueError:
                    value = math.nan
                if not math.isfinite(value) or value < 0:
                    raise OttoFormatError(f"{path}, line {line}, column {name!r}: expected a probability (a "
                                          f"finite number >= 0), got {fields[c]!r}")
                row.append(value)
            ids.append(row_id)
            rows.append(row)
    if not ids:
        raise OttoFormatError(f"{path}: the header is there but no rows of probabilities follow")
    return torch.tensor(ids, dtype=torch.int64), torch.tensor(rows, dtype=torch.float64)


def score_submission(path: str | Path, ids, labels) -> float:
    """The log loss of the submission file at ``path`` against the held-out ``labels`` of the rows ``ids``.

    Rows are matched by id, so their order in the file does not matter; every id must appear exactly once and
    no other id may appear, otherwise :class:`OttoFormatError` lists the ids missing or not expected.
    """
    expected = _ids(ids)
    labels = torch.as_tensor(labels)
    if labels.shape != expected.shape:
        raise ValueError(f"expected one label per id ({len(expected)}), got shape {tuple(labels.shape)}")
    got_ids, probabilities = read_submission(path)
    row_of = {i: r for r, i in enumerate(got_ids.tolist())}
    missing = [i for i in expected.tolist() if i not in row_of]
    wanted = set(expected.tolist())
    unexpected = [i for i in got_ids.tolist() if i not in wanted]
    if missing or unexpected:
        problems = ([f"{len(missing)} ids missing (e.g. {missing[:5]})"] if missing else []) + (
            [f"{len(unexpected)} ids that are not in the test set (e.g. {unexpected[:5]})"] if unexpected else [])
        raise OttoFormatError(f"{path}: {' and '.join(problems)}; a submission has exactly one row for each of "
                              f"the {len(expected):,} test ids")
    order = torch.tensor([row_of[i] for i in expected.tolist()])
    return log_loss(probabilities[order], labels)


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
