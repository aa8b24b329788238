"""The device is chosen in one place."""

import pytest
import torch

from book.device import default_device


def test_default_device_follows_cuda_availability(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device().type == "cpu"


def test_environment_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA device.*unset it"):
        default_device()


def test_an_explicit_device_is_taken_as_given(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")  # an explicit choice wins over the environment
    assert default_device("cpu") == torch.device("cpu")
    assert default_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert default_device("cuda:1") == torch.device("cuda", 1)  # checked, not moved to: no GPU needed here
    assert default_device(torch.device("cuda")) == torch.device("cuda")


@pytest.mark.parametrize("device, error, says", [
    ("gpu", ValueError, r"'gpu' is not a device: expected 'cpu', 'cuda'"),
    ("", ValueError, "is not a device"),
    (0, TypeError, "a string such as 'cpu' or 'cuda', a torch.device, or None"),
    (True, TypeError, "got True"),
])
def test_a_misspelt_device_is_refused(device, error, says):
    with pytest.raises(error, match=says):
        default_device(device)


def test_a_device_this_machine_lacks_is_refused_now(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"device='cuda' but torch sees no CUDA device.*pass device='cpu'"):
        default_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(RuntimeError, match=r"'cuda:2' but torch sees 2 CUDA device\(s\), numbered 0..1"):
        default_device("cuda:2")
    monkeypatch.setenv("COURSE_DEVICE", "cuda:5")
    with pytest.raises(RuntimeError, match="COURSE_DEVICE='cuda:5'.*unset it"):
        default_device()
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE='gpu' is not a device"):
        default_device()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: the device is really used")
def test_an_explicit_gpu_holds_tensors():
    x = torch.ones(3, device=default_device("cuda"))
    assert x.device.type == "cuda" and x.sum().item() == 3
