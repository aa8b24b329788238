"""Values as plain data -- JSON plus ``.npy`` arrays, never pickle -- and their strict reading.

What crosses the sandbox's boundary in a class grading (:mod:`book.protocol`): the grader writes each question's
planned inputs this way, the check cells write what the learner's code returned this way, and the grader reads
those records back trusting nothing in them: regular files only (no links, FIFOs or devices), size limits per
file and in all, a depth limit, a fixed set of kinds and dtypes (``np.load(..., allow_pickle=False)``), and
anything else refused with :class:`PayloadError`.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

FORMAT = "course-grading/1"

# what a record may hold: enough for any course question, small enough that no submission can flood the grader
MAX_JSON_BYTES = 4 << 20
MAX_ARRAY_BYTES = 64 << 20
MAX_TOTAL_BYTES = 256 << 20
MAX_ARRAYS = 512
MAX_DEPTH = 16
MAX_ITEMS = 20_000
MAX_TEXT = 4000
DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"}
TORCH_ONLY_DTYPES = {"bfloat16": "float32"}  # stored as float32, restored to bfloat16


class PayloadError(ValueError):
    """Recorded data that is not what the protocol allows (too large, malformed, unknown kinds)."""


class NoRecord(Exception):
    """No result was recorded for a planned call (the check cell did not run to the end, or its record is gone)."""


class Opaque:
    """A value the protocol cannot carry (a module, a generator...): its type name and ``repr`` only."""

    def __init__(self, text: str):
        self._text = text

    def __repr__(self) -> str:
        return self._text


def _opaque(type_name: str, text: str) -> Opaque:
    name = "".join(c for c in str(type_name)[:60] if c.isalnum() or c == "_") or "object"
    return type(name, (Opaque,), {})(str(text)[:MAX_TEXT])


def _safe_repr(value) -> str:
    try:
        return repr(value)[:300]
    except BaseException:  # a learner's __repr__ may raise anything
        return f"<{type(value).__name__}>"


class Encoder:
    """Turns values into JSON with the arrays kept aside (``arrays``: name -> numpy array)."""

    def __init__(self):
        self.arrays: dict = {}
        self.total = 0
        self.shared: dict[int, int] = {}  # id of a tensor stored once (a plan's shared inputs) -> its index
        self.hook = None  # hook(encoder, value, depth) -> encoded or None: objects (book.probes)

    def _array(self, array) -> str:
        import numpy as np

        array = np.array(array, copy=True, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        self.total += array.nbytes
        if len(self.arrays) >= MAX_ARRAYS or array.nbytes > MAX_ARRAY_BYTES or self.total > MAX_TOTAL_BYTES:
            raise PayloadError("too much data to record")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = array
        return name

    def tensor(self, t, grad: bool = False) -> dict:
        import torch

        dtype = str(t.dtype).removeprefix("torch.")
        if t.is_sparse or t.is_complex() or t.is_quantized or t.device.type == "meta" or \
                (dtype not in DTYPES and dtype not in TORCH_ONLY_DTYPES):
            return {"$": "object", "type": type(t).__name__, "repr": f"a {dtype} tensor of shape {tuple(t.shape)}"}
        data = torch.Tensor.detach(t).cpu()
        if dtype in TORCH_ONLY_DTYPES:
            data = data.to(getattr(torch, TORCH_ONLY_DTYPES[dtype]))
        out = {"$": "tensor", "array": self._array(data.numpy()), "dtype": dtype,
               "requires_grad": bool(t.requires_grad), "is_leaf": bool(t.is_leaf)}
        if grad:
            out["grad"] = self.tensor(t.grad) if isinstance(t.grad, torch.Tensor) else None
        return out

    def encode(self, value, depth: int = 0, grad: bool = False):
        import numpy as np
        import torch

        if depth > MAX_DEPTH:
            return {"$": "object", "type": type(value).__name__, "repr": "(nested too deeply to record)"}
        if value is None or type(value) is bool:
            return value
        if type(value) is str:
            return value[:MAX_TEXT * 25]
        if type(value) is int:
            return value if abs(value) < 2 ** 63 else {"$": "int", "text": str(value)[:1000]}
        if type(value) is float:
            return value if math.isfinite(value) else {"$": "float", "text": repr(value)}
        if isinstance(value, torch.Tensor):
            if id(value) in self.shared:
                return {"$": "shared", "index": self.shared[id(value)]}
            return self.tensor(value, grad=grad)
        if isinstance(value, np.ndarray) and value.dtype.name in DTYPES:
            return {"$": "ndarray", "array": self._array(value)}
        if isinstance(value, np.generic) and value.dtype.name in DTYPES:
            return {"$": "npscalar", "dtype": value.dtype.name, "value": self.encode(value.item(), depth + 1)}
        if self.hook is not None:
            encoded = self.hook(self, value, depth)
            if encoded is not None:
                return encoded
        if type(value) in (list, tuple):
            items = [self.encode(v, depth + 1, grad) for v in value[:MAX_ITEMS]]
            return {"$": type(value).__name__, "items": items}
        if type(value) is dict:
            pairs = list(value.items())[:MAX_ITEMS]
            return {"$": "dict", "items": [[self.encode(k, depth + 1), self.encode(v, depth + 1, grad)]
                                           for k, v in pairs]}
        if callable(value):
            return {"$": "function", "name": str(getattr(value, "__name__", type(value).__name__))[:200]}
        return {"$": "object", "type": type(value).__name__, "repr": _safe_repr(value)}


def write_payload(folder: Path, value, encoder: Encoder | None = None) -> None:
    """``value`` as ``folder/value.json`` plus ``folder/a<i>.npy``; replaces whatever the folder held."""
    import shutil

    import numpy as np

    encoder = encoder or Encoder()
    document = {"format": FORMAT, "value": encoder.encode(value) if not isinstance(value, Encoded) else value.json}
    folder = Path(folder)
    fresh = folder.with_name(folder.name + ".partial")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    for name, array in encoder.arrays.items():
        np.save(fresh / f"{name}.npy", array, allow_pickle=False)
    (fresh / "value.json").write_text(json.dumps(document, allow_nan=False), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    fresh.rename(folder)


@dataclass
class Encoded:
    """JSON already encoded with an :class:`Encoder` (whose arrays go into the same folder)."""

    json: object


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, refusing links, devices, FIFOs and anything larger than ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise PayloadError(f"cannot open {path.name}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PayloadError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise PayloadError(f"{path.name} is larger than {limit} bytes")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise PayloadError(f"{path.name} is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class Decoder:
    """Reads a payload folder written by :func:`write_payload`, trusting nothing in it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.total = 0
        self.loaded: dict = {}
        self.shared: list = []  # a plan's shared inputs, decoded once
        self.hook = None  # hook(decoder, obj, depth) for the kinds of book.probes ("ref", "probe", "module")

    def document(self):
        info = os.lstat(self.folder) if os.path.lexists(self.folder) else None
        if info is None:
            raise NoRecord(f"{self.folder.name}: nothing recorded")
        if not stat.S_ISDIR(info.st_mode):
            raise PayloadError(f"{self.folder.name} is not a folder")
        raw = read_regular(self.folder / "value.json", MAX_JSON_BYTES)
        try:
            document = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise PayloadError(f"the record is not valid JSON ({type(exc).__name__})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT or "value" not in document:
            raise PayloadError("the record does not follow the grading format")
        return document["value"]

    def array(self, name):
        import io

        import numpy as np

        if not isinstance(name, str) or not name.startswith("a") or not name[1:].isdigit() or len(name) > 8:
            raise PayloadError("bad array name")
        if name not in self.loaded:
            raw = read_regular(self.folder / f"{name}.npy", MAX_ARRAY_BYTES + 4096)
            self.total += len(raw)
            if self.total > MAX_TOTAL_BYTES:
                raise PayloadError("the record holds too much data")
            try:
                array = np.load(io.BytesIO(raw), allow_pickle=False)
            except Exception as exc:
                raise PayloadError(f"array {name} is not a valid .npy file ({type(exc).__name__})") from None
            if not isinstance(array, np.ndarray) or array.dtype.name not in DTYPES or array.dtype.hasobject:
                raise PayloadError(f"array {name} has a type the protocol does not carry")
            self.loaded[name] = array
        return self.loaded[name].copy()

    def decode(self, obj, depth: int = 0):
        import numpy as np
        import torch

        if depth > MAX_DEPTH + 2:
            raise PayloadError("the record is nested too deeply")
        if obj is None or type(obj) in (bool, int, float):
            return obj
        if type(obj) is str:
            return obj[:MAX_TEXT * 25]
        if type(obj) is not dict or not isinstance(obj.get("$"), str):
            raise PayloadError("unknown value in the record")
        kind = obj["$"]
        if kind == "tensor":
            dtype = obj.get("dtype")
            if dtype not in DTYPES and dtype not in TORCH_ONLY_DTYPES:
                raise PayloadError("a tensor of an unknown dtype")
            t = torch.from_numpy(self.array(obj.get("array")))
            if str(t.dtype).removeprefix("torch.") != dtype:
                t = t.to(getattr(torch, dtype))
            if obj.get("requires_grad") is True and t.is_floating_point():
                t.requires_grad_()
            if "grad" in obj:
                grad = self.decode(obj["grad"], depth + 1)
                if isinstance(grad, torch.Tensor) and grad.shape == t.shape and t.is_floating_point():
                    t.grad = grad.detach().to(t.dtype)
            return t
        if kind == "ndarray":
            return self.array(obj.get("array"))
        if kind == "shared":
            index = obj.get("index")
            if type(index) is not int or not 0 <= index < len(self.shared):
                raise PayloadError("a reference to no shared input")
            return self.shared[index]
        if kind == "npscalar":
            name = obj.get("dtype")
            if name not in DTYPES:
                raise PayloadError("a numpy scalar of an unknown dtype")
            return np.dtype(name).type(self.decode(obj.get("value"), depth + 1))
        if kind in ("list", "tuple"):
            items = obj.get("items")
            if not isinstance(items, list) or len(items) > MAX_ITEMS:
                raise PayloadError("a malformed list")
            out = [self.decode(v, depth + 1) for v in items]
            return out if kind == "list" else tuple(out)
        if kind == "dict":
            items = obj.get("items")
            if not isinstance(items, list) or len(items) > MAX_ITEMS:
                raise PayloadError("a malformed dict")
            out = {}
            for pair in items:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise PayloadError("a malformed dict")
                key = self.decode(pair[0], depth + 1)
                try:
                    out[key] = self.decode(pair[1], depth + 1)
                except TypeError:
                    raise PayloadError("a dict key that cannot be a key") from None
            return out
        if kind == "int":
            text = obj.get("text")
            if not isinstance(text, str) or len(text) > 1001 or not text.lstrip("-").isdigit():
                raise PayloadError("a malformed integer")
            return int(text)
        if kind == "float":
            if obj.get("text") not in ("nan", "inf", "-inf"):
                raise PayloadError("a malformed float")
            return float(obj["text"])
        if kind in ("ref", "probe", "module") and self.hook is not None:
            return self.hook(self, obj, depth)
        if kind == "function":
            return _opaque("function", f"<function {str(obj.get('name'))[:200]}>")
        if kind == "object":
            return _opaque(str(obj.get("type")), str(obj.get("repr")))
        raise PayloadError(f"unknown kind {kind[:40]!r} in the record")


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def read_payload(folder: Path):
    """The value stored in ``folder`` (decoded strictly); raises PayloadError or NoRecord."""
    decoder = Decoder(folder)
    return decoder.decode(decoder.document())
