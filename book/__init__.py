"""``book``: the tested code of the course *Softmax regression with PyTorch*.

Each module is one idea, taught in its chapter and imported from here by the chapters after it:

- ``book.device``   -- where tensors live (CUDA when present, else CPU), chosen in one place;
- ``book.data``     -- MNIST and Fashion-MNIST as checked tensors, the fast loader, the standard DataLoader;
- ``book.torchvision_compat`` -- ``import torchvision`` that also works beside a CPU-only torch.
"""

__version__ = "0.1.0"
