"""The pinned environment is what the README promises: CPU torch, matching torchvision, no CUDA packages."""

import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def requirement_pins(path):
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path}: '{line}' is not pinned with =="
        pins[name.lower()] = version
    return pins


def test_requirements_pin_the_design_versions():
    pins = requirement_pins("requirements.txt")
    assert pins["torch"] == "2.13.0" and pins["torchvision"] == "0.28.0"
    assert pins["jupyter-book"].startswith("1.")
    for name in ["numpy", "matplotlib", "ipywidgets", "nbval", "pytest", "tqdm"]:
        assert name in pins


def test_constraints_cover_the_requirements_with_the_same_versions():
    requirements, constraints = requirement_pins("requirements.txt"), requirement_pins("constraints.txt")
    for name, version in requirements.items():
        assert constraints.get(name) == version, f"constraints.txt has {name}=={constraints.get(name)}"
    assert not [n for n in constraints if n.startswith("nvidia")]


def test_installed_versions_match_the_pins():
    for name, version in requirement_pins("constraints.txt").items():
        installed = metadata.version(name)
        assert installed.split("+")[0] == version, f"{name}: installed {installed}, pinned {version}"


def test_no_cuda_packages_installed():
    cuda = sorted(d.metadata["Name"] for d in metadata.distributions()
                  if re.match(r"nvidia[-_]|triton$", d.metadata["Name"] or "", re.I))
    assert cuda == []
    import torch
    assert torch.__version__.startswith("2.13.0")


def test_binder_uses_cpu_builds_of_the_same_versions():
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    pins = requirement_pins("binder/requirements.txt")
    assert pins["torch"] == "2.13.0+cpu" and pins["torchvision"] == "0.28.0+cpu"
    main = requirement_pins("requirements.txt")
    for name, version in pins.items():
        assert version.split("+")[0] == main[name], f"binder pins {name}=={version}, requirements {main[name]}"


@pytest.mark.parametrize("path", ["README.md", ".ci/run", "Makefile"])
def test_readme_ci_and_makefile_agree_on_the_test_command(path):
    text = (ROOT / path).read_text()
    assert "make test" in text or (path == "Makefile" and re.search(r"^test:", text, re.M))
