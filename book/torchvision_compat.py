"""Import torchvision, also where its compiled operators cannot load.

torchvision's PyPI wheel is built against CUDA. Beside a CPU-only torch its ``_C`` extension fails to load,
and ``import torchvision`` then dies with ``RuntimeError: operator torchvision::nms does not exist``, because
``torchvision/_meta_registrations.py`` registers a fake kernel for an operator nobody defined. Defining the
two operator schemas first lets the import finish: datasets, transforms and ``utils.make_grid`` work (they are
pure Python); ``torchvision.ops.nms`` and ``torchvision.io`` decoding do not.

The fix is applied only when the normal import fails: where torchvision is installed properly (Colab, Binder,
a CUDA machine) the schemas already exist and defining them again would break it.
"""

from __future__ import annotations

import sys
from types import ModuleType

import torch

_SCHEMAS = ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
            "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_library: torch.library.Library | None = None  # kept alive: the definitions live as long as this object
patched = False  # True when this module had to define the schemas


def import_torchvision() -> ModuleType:
    """Return the ``torchvision`` module; afterwards a plain ``import torchvision`` works too."""
    global _library, patched
    try:
        import torchvision
        return torchvision
    except RuntimeError as exc:
        if "torchvision::nms does not exist" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # drop the half-imported package before trying again
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _library.define(schema)
    patched = True
    import torchvision
    return torchvision
