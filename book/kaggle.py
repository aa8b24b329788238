"""Kaggle's side of the Otto Group Product Classification Challenge: its metric and its CSV files.

    >>> from book.kaggle import log_loss, load_otto_csv, write_submission, score_submission
    >>> log_loss(probabilities, labels)                 # Kaggle's multi-class log loss (clipped, renormalised)
    >>> row_log_losses(probabilities, labels)           # its N terms: their sd / sqrt(N) is its standard error
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
Class_9`` with one row of probabilities per test id. The readers take Kaggle's downloads as they come (a
``.zip`` holding the CSV file, or gzipped) and expect UTF-8 text. Bad files raise :class:`OttoFormatError`
naming the file, the line (as a text editor counts lines) and the column, and saying what was expected.

The data itself cannot be shipped with the course (the competition's rules): download it from the
competition's page on Kaggle after accepting the rules, or use :mod:`book.otto`, which generates data of the
same shape.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
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
    return row_log_losses(probabilities, labels, eps).mean().item()


def row_log_losses(probabilities, labels, eps: float = EPS) -> torch.Tensor:
    """The N terms that :func:`log_loss` averages, ``-log p_i[y_i]`` after Kaggle's clipping and renormalising,
    as a float64 tensor (N,). Their standard deviation over ``sqrt(N)`` is the standard error of the log loss;
    the difference of two models' terms, row by row, gives the standard error of the difference of their log
    losses. Same arguments and checks as :func:`log_loss`.
    """
    if isinstance(probabilities, torch.Tensor):
        if probabilities.is_complex():
            raise ValueError(f"probabilities must be real numbers, got {probabilities.dtype}")
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
    return -p.gather(1, y.long().unsqueeze(1)).squeeze(1).log()


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


def _decode(data: bytes, where: str) -> str:
    """The bytes of a CSV file as text: UTF-8 (ASCII, as Kaggle's files are), or an error naming the encoding."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                          (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise OttoFormatError(f"{where}: the file is {encoding} text (it opens with the byte-order mark "
                                  f"{bom!r}, as a spreadsheet's 'Unicode text' does); expected UTF-8, as Kaggle's "
                                  f"files are. Save it again as 'CSV UTF-8', or convert it: "
                                  f"iconv -f {encoding} -t UTF-8 old.csv > new.csv")
    if b"\x00" in data[:4096]:
        raise OttoFormatError(f"{where}: the file holds NUL bytes: it is UTF-16 text without a byte-order mark, or "
                              "not a text file at all; expected UTF-8 CSV text, as Kaggle's files are")
    try:
        return data.decode("utf-8-sig")  # -sig: a byte-order mark is not part of 'id'
    except UnicodeDecodeError as exc:
        line = len(_LINE_END.findall(data, 0, exc.start)) + 1
        raise OttoFormatError(f"{where}, line {line}: the byte {data[exc.start:exc.start + 1]!r} is not UTF-8; "
                              "expected UTF-8 text, as Kaggle's files are. A spreadsheet may have saved it as "
                              "Latin-1 / Windows-1252: save it again as 'CSV UTF-8', or convert it: "
                              "iconv -f WINDOWS-1252 -t UTF-8 old.csv > new.csv") from None


_LINE_END = re.compile(rb"\r\n|\r|\n")  # what the csv module counts as the end of a line


def _read_text(path: str | Path) -> tuple[str, str]:
    """``(where, text)`` of a CSV file as Kaggle ships it: plain, gzipped, or a ``.zip`` holding one file.

    ``where`` names the file (and the archive member) in error messages. Compression is recognised by the
    file's first bytes, not its name.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. {KAGGLE_HINT}")
    data, where = path.read_bytes(), str(path)
    if data[:2] == b"\x1f\x8b":  # gzip's magic number
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise OttoFormatError(f"{where}: a gzip file that cannot be decompressed ({exc}); the download is "
                                  "damaged: fetch it again") from None
    elif data[:4] == b"PK\x03\x04":  # a zip archive, as Kaggle's train.csv.zip
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.infolist()
                           if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
                if len(members) != 1:
                    raise OttoFormatError(f"{where}: a zip archive of {len(members)} files "
                                          f"({_names([m.filename for m in members])}); expected exactly one CSV "
                                          "file, as in Kaggle's train.csv.zip: unpack the one you mean")
                data, where = archive.read(members[0]), f"{path} ({members[0].filename})"
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
            raise OttoFormatError(f"{where}: a zip archive that cannot be read ({exc}); the download is damaged: "
                                  "fetch it again") from None
    return where, _decode(data, where)


def _records(text: str, where: str):
    """``(line, fields)`` for each CSV record, ``line`` being the file line on which the record starts.

    That is the line a text editor shows, also after a quoted field that spans several lines.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # NUL bytes, a field over the size limit...
            raise OttoFormatError(f"{where}, line {line}: not a valid CSV record ({exc})") from None
        yield line, fields


def _open_csv(path: str | Path) -> tuple[str, list[str], Iterator[tuple[int, list[str]]]]:
    """``(where, header, records)``: the header checked (present, no repeated names), the data records to come."""
    where, text = _read_text(path)
    records = _records(text, where)
    line, header = next(records, (1, []))
    if not header:
        what = "the file is empty" if not text.strip() else f"line {line} is blank"
        raise OttoFormatError(f"{where}: {what}; expected a header line such as 'id,feat_1,...' first")
    header = [name.strip() for name in header]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise OttoFormatError(f"{where}, line {line}: the header names these columns more than once: {duplicates}")
    return where, header, records


INT64_MAX = 2 ** 63 - 1
_INTEGER = re.compile(r" *(-?[0-9]+) *")  # ASCII digits only: int() would also take '1_000' and '١٢'
_COUNTS = re.compile(r" *[0-9]+ *(?:; *[0-9]+ *)*")  # a row's counts joined by ';' (fast path)
_DECIMAL = r" *[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *"
_NUMBER = re.compile(_DECIMAL)
_NUMBERS = re.compile(f"{_DECIMAL}(?:;{_DECIMAL})*")


def _integer(text: str, where: str, line: int, column: str, what: str) -> int:
    match = _INTEGER.fullmatch(text)
    if not match:  # '2.5', '1_000', '1e3', '١٢' (Arabic-Indic digits), ''
        raise OttoFormatError(f"{where}, line {line}, column {column!r}: expected {what} written with the "
                              f"digits 0-9 only, got {text!r}")
    value = int(match.group(1))
    if value < 0:
        raise OttoFormatError(f"{where}, line {line}, column {column!r}: expected {what}, got {value}")
    if value > INT64_MAX:
        raise OttoFormatError(f"{where}, line {line}, column {column!r}: expected {what}, got {value}, which is "
                              f"more than an int64 holds ({INT64_MAX})")
    return value


def _counts(fields: list[str], columns: list[int], where: str, line: int) -> list[int]:
    """The row's 93 counts as ints, or an OttoFormatError naming the first bad one."""
    texts = [fields[c] for c in columns]
    if _COUNTS.fullmatch(";".join(texts)):  # the common case, checked at once (a field holding ';' fails int)
        try:
            counts = [int(text) for text in texts]
        except ValueError:
            counts = None
        if counts is not None and max(counts) <= INT64_MAX:
            return counts
    for name, text in zip(FEATURES, texts):  # find the culprit
        _integer(text, where, line, name, "a non-negative integer count")
    raise AssertionError("unreachable: a row of counts failed the fast check but every count passed")


def _probabilities(fields: list[str], columns: list[int], where: str, line: int) -> list[float]:
    """The row's 9 probabilities as floats (finite, >= 0, written in ASCII), or an error naming the bad one."""
    texts = [fields[c] for c in columns]
    values = None
    if _NUMBERS.fullmatch(";".join(texts)):
        try:
            values = [float(text) for text in texts]
        except ValueError:
            values = None
    if values is not None and all(math.isfinite(v) and v >= 0 for v in values):
        return values
    for name, text in zip(CLASSES, texts):
        value = float(text) if _NUMBER.fullmatch(text) else math.nan
        if not math.isfinite(value) or value < 0:
            raise OttoFormatError(f"{where}, line {line}, column {name!r}: expected a probability (a finite "
                                  f"number >= 0, digits 0-9), got {text!r}")
    raise AssertionError("unreachable: a row of probabilities failed the fast check but every one passed")


def _data_rows(records, header: list[str], id_col: int, where: str, id_wanted: str, unique_hint: str):
    """(line, id, fields) of each non-blank data row; wrong field counts and repeated ids stop with the line."""
    first_line = {}
    for line, fields in records:
        if not fields:  # a blank line (often the last one)
            continue
        if len(fields) != len(header):
            raise OttoFormatError(f"{where}, line {line}: {len(fields)} fields, but the header has "
                                  f"{len(header)} columns")
        row_id = _integer(fields[id_col], where, line, "id", id_wanted)
        if row_id in first_line:
            raise OttoFormatError(f"{where}, line {line}, column 'id': id {row_id} already appeared on line "
                                  f"{first_line[row_id]}; {unique_hint}")
        first_line[row_id] = line
        yield line, row_id, fields


def load_otto_csv(path: str | Path, require_target: bool = True) -> OttoTable:
    """Read Kaggle's Otto ``train.csv`` (``id, feat_1..feat_93, target``) into int64 tensors.

    Columns are found by name, in any order. ``require_target=False`` also accepts ``test.csv``, which has no
    ``target`` column (``labels`` is then None). Targets ``Class_1`` ... ``Class_9`` become 0 ... 8. The file may
    be Kaggle's download as it is (``train.csv.zip``) or gzipped; its text must be UTF-8. Every problem -- a
    missing or unknown column, a row with too few or too many fields, a count that is not a non-negative
    integer of ASCII digits that fits in int64, an unknown class, a repeated id, another encoding -- raises
    :class:`OttoFormatError` naming the line (the header is line 1; lines as a text editor counts them) and the
    column.
    """
    where, header, records = _open_csv(path)
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
        raise OttoFormatError(f"{where}, line 1: {' and '.join(problems)}; expected the columns {layout}{hint}")
    id_col = header.index("id")
    feature_cols = [header.index(name) for name in FEATURES]
    target_col = header.index("target") if "target" in header else None
    class_index = {name: i for i, name in enumerate(CLASSES)}
    ids, rows, labels = [], [], []
    for line, row_id, fields in _data_rows(records, header, id_col, where, "a non-negative integer id",
                                           "every row needs its own id"):
        rows.append(_counts(fields, feature_cols, where, line))
        if target_col is not None:
            target = fields[target_col].strip()
            if target not in class_index:
                raise OttoFormatError(f"{where}, line {line}, column 'target': unknown class {target!r}; "
                                      f"expected one of Class_1 ... Class_9")
            labels.append(class_index[target])
        ids.append(row_id)
    if not ids:
        raise OttoFormatError(f"{where}: the header is there but no data rows follow")
    return OttoTable(ids=torch.tensor(ids, dtype=torch.int64), features=torch.tensor(rows, dtype=torch.int64),
                     labels=torch.tensor(labels, dtype=torch.int64) if target_col is not None else None,
                     path=Path(path))


def _integers(values, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """An integer tensor of the given shape with no negative entries, or a ValueError saying what it got."""
    tensor = torch.as_tensor(values)
    if tensor.shape != shape or tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"expected {name} as integers of shape {shape}, got {tensor.dtype} of shape "
                         f"{tuple(tensor.shape)}")
    if tensor.numel() and tensor.min() < 0:
        raise ValueError(f"expected {name} >= 0, got {tensor.min().item()}")
    return tensor.long()


def write_otto_csv(path: str | Path, ids, features, labels=None) -> Path:
    """Write counts (N, 93) -- and class indices, if given -- in Kaggle's layout: ``id, feat_1..feat_93[, target]``.

    The inverse of :func:`load_otto_csv`: with it, generated data looks to any tool exactly like Kaggle's files.
    Refuses what :func:`load_otto_csv` would refuse to read back: no rows, negative or fractional counts, labels
    outside 0..8.
    """
    ids = _ids(ids)
    if len(ids) == 0:
        raise ValueError("no rows to write: an Otto file needs at least one row")
    features = _integers(features, "counts (one row of 93 per id)", (len(ids), len(FEATURES)))
    if labels is not None:
        labels = _integers(labels, "class indices (one per id)", (len(ids),))
        if labels.max() >= len(CLASSES):
            raise ValueError(f"expected class indices in 0..{len(CLASSES) - 1}, got {labels.max().item()}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *FEATURES] + (["target"] if labels is not None else []))
        targets = [CLASSES[k] for k in labels.tolist()] if labels is not None else None
        for i, (row_id, row) in enumerate(zip(ids.tolist(), features.tolist())):
            writer.writerow([row_id, *row] + ([targets[i]] if targets is not None else []))
    return path


# --- submissions ---------------------------------------------------------------------------------------------

def _ids(ids) -> torch.Tensor:
    ids = torch.as_tensor(ids)
    if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"ids must be a 1-D sequence of integers, got {ids.dtype} of shape {tuple(ids.shape)}")
    if len(ids) and ids.min() < 0:
        raise ValueError(f"ids must be >= 0 (Kaggle's ids are 1, 2, 3, ...), got {ids.min().item()}")
    if len(torch.unique(ids)) != len(ids):
        raise ValueError("ids must be unique: every row of a submission is one product")
    return ids.long()


def write_submission(path: str | Path, ids, probabilities) -> Path:
    """Write a Kaggle submission: the header ``id,Class_1,...,Class_9``, then one row per id.

    ``probabilities`` (N, 9) must be finite and non-negative (rows need not sum to 1: Kaggle renormalises).
    Written with 9 significant digits, so the score of the file equals the score of the tensor to about 1e-8.
    """
    ids = _ids(ids)
    p = torch.as_tensor(probabilities).detach()
    if p.is_complex():
        raise ValueError(f"probabilities must be real numbers, got {p.dtype}")
    p = p.to("cpu", torch.float64)
    if p.shape != (len(ids), len(CLASSES)):
        raise ValueError(f"expected probabilities of shape ({len(ids)}, {len(CLASSES)}) -- one row per id, one "
                         f"column per class -- got shape {tuple(p.shape)}")
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ValueError("probabilities must be finite and >= 0; for logits, apply torch.softmax(logits, dim=1)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write(",".join(["id", *CLASSES]) + "\n")
        for row_id, row in zip(ids.tolist(), p.tolist()):
            handle.write(f"{row_id}," + ",".join(f"{v:.9g}" for v in row) + "\n")
    return path


def read_submission(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a submission file: (ids int64 (N,), probabilities float64 (N, 9) in the order Class_1..Class_9).

    Class columns may come in any order; the file may be plain, gzipped or zipped, in UTF-8. Raises
    :class:`OttoFormatError` naming the line and column for a wrong header, a row of the wrong length, an id
    that is not an integer or repeats, and a probability that is not a finite number >= 0 in ASCII digits.
    """
    where, header, records = _open_csv(path)
    missing = [name for name in ("id", *CLASSES) if name not in header]
    unknown = [name for name in header if name not in ("id", *CLASSES)]
    if missing or unknown:
        problems = ([f"missing columns {_names(missing)}"] if missing else []) + (
            [f"unknown columns {_names(unknown)}"] if unknown else [])
        raise OttoFormatError(f"{where}, line 1: {' and '.join(problems)}; a submission has exactly the "
                              f"columns id, Class_1, ..., Class_9")
    id_col = header.index("id")
    class_cols = [header.index(name) for name in CLASSES]
    ids, rows = [], []
    for line, row_id, fields in _data_rows(records, header, id_col, where, "an integer id >= 0",
                                           "submit one row per id"):
        rows.append(_probabilities(fields, class_cols, where, line))
        ids.append(row_id)
    if not ids:
        raise OttoFormatError(f"{where}: the header is there but no rows of probabilities follow")
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
