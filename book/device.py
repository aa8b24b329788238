"""The one place that picks where tensors and models live: CUDA when present, else the CPU.

    default_device()          # cuda when a GPU is usable, else cpu; COURSE_DEVICE=cpu overrides
    default_device("cpu")     # an explicit choice, checked: default_device("cuda") without a GPU is an error
    default_device(device)    # what functions with a ``device=None`` argument call, instead of repeating
                              # ``torch.device(device) if device is not None else default_device()``
"""

from __future__ import annotations

import os

import torch


def default_device(device: str | torch.device | None = None) -> torch.device:
    """The ``torch.device`` to compute on: ``device`` when given, checked to be usable here; when None, the
    ``COURSE_DEVICE`` environment variable if set, else ``cuda`` when a GPU is usable, else ``cpu``.

    ``device`` is a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``. A device this
    machine does not have (``"cuda"`` without a GPU, ``"cuda:3"`` with two) raises ``RuntimeError`` now rather
    than at the first tensor moved there; a misspelt one (``"gpu"``) raises ``ValueError``.
    """
    if device is None:
        wanted = os.environ.get("COURSE_DEVICE")
        if wanted:
            return _usable(_parse(wanted, "COURSE_DEVICE"), f"COURSE_DEVICE={wanted!r}",
                           "unset it or set it to 'cpu'")
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return _usable(_parse(device, "device"), f"device={str(device)!r}",
                   "pass device='cpu', or None to use a GPU only when there is one")


def _parse(device, name: str) -> torch.device:
    """``device`` as a ``torch.device``, or an error that shows what a device looks like."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"{name} must be a string such as 'cpu' or 'cuda', a torch.device, or None (the default "
                        f"device), got {device!r} ({type(device).__name__})")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"{name}={device!r} is not a device: expected 'cpu', 'cuda', 'cuda:0', ... "
                         "(see torch.device)") from None


def _usable(device: torch.device, given: str, fix: str) -> torch.device:
    """``device`` itself when this machine can compute on it, else a ``RuntimeError`` naming the fix."""
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{given} but torch sees no CUDA device (torch {torch.__version__}); {fix}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise RuntimeError(f"{given} but torch sees {count} CUDA device(s), numbered 0..{count - 1}; {fix}")
        return device
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"{given} but this torch has no usable MPS (Apple GPU) backend; {fix}")
    try:  # any other backend (mps, xpu, ...): making an empty tensor there is the cheapest honest test
        torch.empty(0, device=device)
    except Exception as error:
        raise RuntimeError(f"{given} is not usable here ({error}); {fix}") from None
    return device
