"""The layout: the course package ``book`` is what learners install; the repository's tooling depends on it, never
the reverse.

- ``book/`` imports nothing from ``grader/`` (the grader, the generator of the learner notebooks), ``benchmarks/``
  or ``scripts/`` (the book build's extensions and helpers), at any depth of any module, dynamic imports included;
- every learner-facing module of ``book`` imports where pytest and nbval cannot be imported (a learner's Colab or
  a plain ``pip install``), except the modules that are pytest plugins by design (:data:`PYTEST_PLUGINS`);
- the package that ``pyproject.toml`` installs (the chapters' set-up cell installs it in Colab) holds only
  ``book`` and its subpackages, all of them, and its dependencies name no test tool.
"""

import ast
import json
import os
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import book

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(book.__file__).resolve().parent
TOOLING = ("grader", "benchmarks", "scripts")
# Modules of scripts/ are imported by their own names (the Sphinx extensions, book_site, ...): book names none.
SCRIPT_MODULES = {p.stem for p in (ROOT / "scripts").glob("*.py")}
DYNAMIC_IMPORTS = {"import_module", "__import__"}
TEST_TOOLS = ("pytest", "_pytest", "nbval")
# Modules that are pytest plugins by design: the grader loads book.nbval_outcomes into its nbval run
# (`-p book.nbval_outcomes`) to record each cell's outcome; it runs only under pytest, never in a learner's kernel.
PYTEST_PLUGINS = {"book.nbval_outcomes"}


def imported_names(source: str) -> set[str]:
    """Every module name a source imports, at any depth (function bodies too): ``import x``, ``from x import y``
    (and ``from x import y`` as ``x.y``), ``importlib.import_module("x")`` and ``__import__("x")`` with a
    constant name."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if called in DYNAMIC_IMPORTS:
                names.add(node.args[0].value)
    return names


def tooling_imports(source: str) -> set[str]:
    return {name for name in imported_names(source)
            if name.split(".")[0] in TOOLING or name.split(".")[0] in SCRIPT_MODULES}


def test_the_import_finder_sees_imports_at_any_depth_and_dynamic_ones():
    source = ("import os\nfrom book import data\n"
              "def f():\n    from grader.stage import stage\n"
              "class C:\n    def g(self):\n        import benchmarks.grading as bg\n"
              "importlib.import_module('grader.run')\n__import__('render_quizzes')\n"
              "import_module(name)\n")
    assert tooling_imports(source) == {"grader.stage", "grader.stage.stage", "benchmarks.grading", "grader.run",
                                       "render_quizzes"}
    assert tooling_imports("import book.bench\nfrom book.checks import common\n") == set()


def test_book_imports_nothing_from_the_tooling():
    modules = sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(modules) > 20, modules  # the whole package was read
    found = {str(p.relative_to(ROOT)): sorted(names) for p in modules
             if (names := tooling_imports(p.read_text(encoding="utf-8")))}
    assert found == {}, f"book must not import the repository's tooling (it is not installed with book): {found}"


def learner_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(book.__path__, "book.") if m.name not in PYTEST_PLUGINS)


def test_every_learner_facing_module_imports_without_pytest_or_nbval():
    modules = learner_modules()
    assert {"book.questions", "book.checks.ex01_softmax", "book.protocol", "book.data", "book.quiz"} <= set(modules)
    assert PYTEST_PLUGINS <= {m.name for m in pkgutil.walk_packages(book.__path__, "book.")}, \
        "a named exception is no longer a module of book: remove it from PYTEST_PLUGINS"
    # None in sys.modules makes `import pytest` raise ImportError, as where pytest is not installed
    program = (f"import sys\nfor name in {TEST_TOOLS!r}:\n    sys.modules[name] = None\n"
               "import importlib, json\nfailed = {}\n"
               f"for module in {modules!r}:\n"
               "    try:\n        importlib.import_module(module)\n"
               "    except Exception as exc:\n        failed[module] = f'{type(exc).__name__}: {exc}'\n"
               f"print(json.dumps({{'failed': failed, 'loaded': sorted(n for n in {TEST_TOOLS!r} "
               "if sys.modules.get(n) is not None)}))\n")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"failed": {}, "loaded": []}, result


def test_the_plugin_exceptions_really_need_pytest():
    for name in PYTEST_PLUGINS:
        path = PACKAGE_DIR.joinpath(*name.split(".")[1:]).with_suffix(".py")
        assert {n.split(".")[0] for n in imported_names(path.read_text(encoding="utf-8"))} & set(TEST_TOOLS), \
            f"{name} imports no test tool: it is not an exception, remove it from PYTEST_PLUGINS"


def test_the_installed_package_is_book_alone_and_needs_no_test_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["setuptools"]["packages"]
    assert all(p == "book" or p.startswith("book.") for p in packages), packages
    subpackages = {".".join(p.relative_to(ROOT).parent.parts) for p in PACKAGE_DIR.rglob("__init__.py")
                   if "__pycache__" not in p.parts}
    assert subpackages <= set(packages), f"not installed: {sorted(subpackages - set(packages))}"
    for mapped in project["tool"]["setuptools"].get("package-dir", {}).values():
        assert mapped.split("/")[0] not in TOOLING, mapped
    dependencies = project["project"]["dependencies"] + [
        d for extra in project["project"].get("optional-dependencies", {}).values() for d in extra]
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower().replace("_", "-") for d in dependencies}
    assert names and not names & {"pytest", "nbval"} and not any(n.startswith("pytest-") for n in names), names


@pytest.mark.parametrize("folder", TOOLING[:2])
def test_the_tooling_packages_are_not_installed_with_book(folder):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert (ROOT / folder / "__init__.py").is_file()
    assert not any(p.split(".")[0] == folder for p in project["tool"]["setuptools"]["packages"])
