"""The one place that picks where tensors and models live: CUDA when present, else the CPU."""

from __future__ import annotations

import os

import torch


def default_device() -> torch.device:
    """``cuda`` when a GPU is usable, else ``cpu``; the ``COURSE_DEVICE`` environment variable overrides."""
    wanted = os.environ.get("COURSE_DEVICE")
    if wanted:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"COURSE_DEVICE={wanted!r} but torch sees no CUDA device "
                               f"(torch {torch.__version__}); unset it or set it to 'cpu'")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
