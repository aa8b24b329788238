"""What the grader's sandbox shows of the course package: the exercise's context, never its answer key.

For a class, the answer key of an exercise is (1) the course package's reference implementations of what its
questions ask -- every module that defines a function, class or name an answer cell of the exercise is to
define (``book.softmax`` defines ``softmax`` and ``entropy``, which exercise 01 asks for), (2) the checkers, which
hold reference computations too, and (3) the model solutions (``exercises/solutions``, ``book/checks/catalog.json``,
the repository's history). The grader (the package ``grader``, beside ``book``) is no part of the copy: the
copy is made from ``book/`` alone. The sandbox's ``book`` is a reduced copy, made once per exercise and grading
process:

- every other module of the package (``book.data``, ``book.plots`` ...), and always the modules the notebook's
  own cells import (set-up, imports, data -- the pristine cells, never the answers) with what they import;
  a module that imports a hidden one fails to import there, as it should;
- what the graded notebook needs to run: ``book.questions`` and ``book.protocol`` (the check cells record) and
  ``book.nbval_outcomes`` (the pytest plugin of the run);
- ``book.data`` as it is: the sandbox does not let the test splits' label files be read
  (:data:`grader.sandbox.HELD_OUT_FILES`: checkers score trained models on them) and shows a character device in
  their place, which :func:`book.data.held_out` recognises: they load as labels
  :data:`book.data.HELD_OUT_LABEL` (255) -- no class of any data set, so a loss or an accuracy computed with them
  fails or is nil, never a score -- while the notebook's own ``load_dataset(...)`` still loads the images and
  training labels;
- in place of the exercise's checks module, a generated stand-in: the same question objects (ids, titles,
  points, hints, forbidden functions) and constants -- listed by the grader in the plans folder, as data --
  whose ``check`` records what the learner's code returns and judges nothing. Exercises whose checkers are not converted to :mod:`book.protocol` yet get their real
  checks module, with what it imports (their verdicts are then decided in the sandbox, and the grade says so).

Everything else -- the other modules of ``book``, the catalog of model answers, the repository -- is absent: an
import of it fails, and :mod:`grader.evasions` flags the answers that try.
"""

from __future__ import annotations

import ast
import compileall
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import book
from grader.exercise_cells import ANSWER, role
from grader.sandbox import readable_tree

PACKAGE = "book"
PACKAGE_DIR = Path(book.__file__).resolve().parent  # the course package, the only source of the copy
ALWAYS = ("book", "book.questions", "book.protocol", "book.plain_data", "book.nbval_outcomes", "book.checks")
# The grader itself (the package ``grader``) is no part of ``book``, so the copy never holds it; of the package,
# the judge's side of the records is left out (the sandbox only writes records, it never replays them).
NEVER = ("book.replay",)


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` of the package (a module or a subpackage's __init__), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if parts[1:] and candidate.is_file() or not parts[1:] and candidate == PACKAGE_DIR / "__init__.py":
            return candidate
    return None


def imported_modules(source: str) -> set[str]:
    """The package's modules that ``source`` imports, at any depth of the code (function-level imports too)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    parts = alias.name.split(".")
                    found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == PACKAGE:
            parts = node.module.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            for alias in node.names:  # `from book import softmax` names a module
                if module_file(f"{node.module}.{alias.name}"):
                    found.add(f"{node.module}.{alias.name}")
    return {m for m in found if module_file(m)}


def closure(roots: set[str], stop: set[str] = frozenset()) -> set[str]:
    """``roots`` and every package module they import, transitively (not following into ``stop``)."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        if name in stop:
            continue
        parents = name.split(".")
        todo.extend(".".join(parents[:i]) for i in range(1, len(parents)))
        todo.extend(imported_modules(module_file(name).read_text(encoding="utf-8")))
    return seen


def context_source(pristine_nb) -> str:
    """The code of the notebook's pristine cells other than answers (set-up, imports, checks), for imports;
    without IPython's magic lines (``%pip ...``), which would make the whole text unparsable."""
    return "\n".join(_without_magics(c["source"]) for c in pristine_nb["cells"]
                     if c["cell_type"] == "code" and role(c)[0] != ANSWER and _parses(c["source"]))


def _without_magics(source: str) -> str:
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
        return True
    except SyntaxError:  # IPython magics (%pip ...): their lines import nothing from the package
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            ast.parse("\n".join(lines))
        except SyntaxError:
            return False
        return True


def _literal(value) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except Exception:
        return False


def question_list(module) -> dict:
    """What the sandbox's stand-in of a checks module defines, as JSON: its questions (ids, titles, points,
    hints, forbidden functions: never the checkers) under their names, and its plain constants."""
    from book.questions import Question

    questions, constants, names = [], {}, {}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(value, Question):
            names[id(value)] = name
            questions.append({"name": name, "exercise": value.exercise, "id": value.id, "title": value.title,
                              "points": value.points, "hints": list(value.hints),
                              "forbidden": sorted(value.forbidden)})
        elif isinstance(value, (bool, int, float, str)) or isinstance(value, (tuple, list, set, frozenset)) \
                and all(isinstance(v, (bool, int, float, str)) for v in value):
            constants[name] = sorted(value) if isinstance(value, (set, frozenset)) else \
                list(value) if isinstance(value, tuple) else value
    order = [names[id(q)] for q in getattr(module, "QUESTIONS", []) if id(q) in names]
    return {"module": module.__name__, "questions": questions, "constants": constants, "order": order}


def stub_source(module_name: str) -> str:
    """A stand-in for a checks module: it defines the questions (recording only) and constants that the
    grader lists in the plans folder (:func:`book.protocol.stand_ins` waits for them)."""
    return (f'"""Stand-in for {module_name}, written by the grader: in the sandbox a check records what the answer '
            'returns, and the grader judges it."""\n\nfrom book.protocol import stand_ins as _stand_ins\n\n'
            f'globals().update(_stand_ins({module_name!r}))\n')


def judged_outside(path: Path) -> bool:
    """Whether every ``Question(...)`` of a checks module's source is declared with ``cases=`` (read from the
    source: staging must not import the checkers, nor torch)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, OSError):
        return False
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
             (getattr(n.func, "id", None) == "Question" or getattr(n.func, "attr", None) == "Question")]
    return bool(calls) and all(any(k.arg == "cases" for k in c.keywords) for c in calls)


@dataclass
class Staged:
    """A reduced copy of the package for one exercise, and what it leaves out."""

    exercise: str
    folder: Path                     # holds the copy, as folder/book/...
    judged_outside: bool             # the checks module is a recording stand-in
    shown: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)   # not in the sandbox
    key: set[str] = field(default_factory=set)      # the hidden modules that hold answers (flagged when imported)

    @property
    def package(self) -> Path:
        return self.folder / PACKAGE


def checks_module_name(exercise: str) -> str:
    return f"{PACKAGE}.checks.ex{exercise}"


def answer_names(pristine_nb) -> set[str]:
    """The functions and classes the answer cells of the exercise are to define, and the names their blanks
    (``lr = ____``) are to give values (from the learner notebook's stubs; not the stubs' demo data)."""
    names = set()
    for cell in pristine_nb["cells"]:
        if cell["cell_type"] != "code" or role(cell)[0] != ANSWER or not _parses(cell["source"]):
            continue
        tree = ast.parse("\n".join(line for line in cell["source"].splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == "____":
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def defined_names(path: Path) -> set[str]:
    """The top-level functions and classes of a module's source."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def all_modules() -> set[str]:
    return {_module_name(p) for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts}


def declared_answer_key(path: Path) -> set[str]:
    """The module names a checks module lists in ``ANSWER_KEY = (...)`` (read from its source)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, OSError):
        return set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ANSWER_KEY" for t in node.targets):
            try:
                return {str(m) for m in ast.literal_eval(node.value)}
            except ValueError:
                return set()
    return set()


def answer_key(exercise: str, pristine_nb) -> set[str]:
    """The modules that hold the exercise's answers: the checkers, the catalog, every module defining a function
    or class the answers are to define, and those its checks module names in ``ANSWER_KEY`` (a tuple of module
    names: for answers written under other names, e.g. ``write_kaggle_submission`` for ``book.kaggle``) --
    less the modules the notebook's own cells import (with what they import): those the sandbox must show for
    the notebook to run, so an answer may import them too. (Exercise 08's notebook imports ``book.kaggle``
    itself, and ``book.otto`` imports it: there the answer key is the functions its questions forbid by dotted
    name -- ``book.kaggle.log_loss`` -- which :mod:`grader.evasions` flags in the answers and the recording's
    watch catches when called.)"""
    modules = all_modules()
    checkers = {m for m in modules if m.startswith(f"{PACKAGE}.checks.")}
    wanted = answer_names(pristine_nb)
    key = set(checkers)
    key |= {m for m in modules if wanted & defined_names(module_file(m))}
    checks = module_file(checks_module_name(exercise))
    key |= {m for m in (declared_answer_key(checks) if checks else ()) if module_file(m)}
    imported = closure(imported_modules(context_source(pristine_nb)), stop=set(NEVER) | checkers)
    return key - (imported - checkers) - {PACKAGE, f"{PACKAGE}.checks", f"{PACKAGE}.questions",
                                          f"{PACKAGE}.protocol", f"{PACKAGE}.plain_data"}


def stage(exercise: str, pristine_nb, into: Path) -> Staged:
    """Write the sandbox's copy of the package for ``exercise`` under ``into`` (see the module docstring)."""
    checks_name = checks_module_name(exercise)
    if module_file(checks_name) is None:
        raise LookupError(f"no checks module {checks_name}")
    outside = judged_outside(module_file(checks_name))
    everything = all_modules()
    key = answer_key(exercise, pristine_nb)
    given = imported_modules(context_source(pristine_nb)) | set(ALWAYS)
    if outside:  # the stand-in imports nothing but book.protocol
        given = closure(given - {checks_name}, stop=set(NEVER) | {checks_name})
    else:
        given = closure(given | {checks_name}, stop=set(NEVER))
    shown = ((everything - key - set(NEVER)) | given | {checks_name}) - set(NEVER)
    target = into / PACKAGE
    if target.exists():
        shutil.rmtree(target)
    for name in sorted(shown):
        source = module_file(name)
        dest = target / source.relative_to(PACKAGE_DIR)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if name == checks_name and outside:
            dest.write_text(stub_source(checks_name), encoding="utf-8")
        else:
            shutil.copyfile(source, dest)
    for name in (given | {checks_name}) & shown:  # the sandbox cannot write bytecode: compile what runs there
        compileall.compile_file(str(target / module_file(name).relative_to(PACKAGE_DIR)), quiet=2)
    readable_tree(target)
    into.chmod(0o755)
    return Staged(exercise, into, outside, shown, everything - shown, key - shown)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def describe(staged: Staged) -> str:
    return json.dumps({"exercise": staged.exercise, "judged_outside": staged.judged_outside,
                       "shown": sorted(staged.shown)}, indent=1)


if __name__ == "__main__":  # python -m grader.stage 01_softmax: what the sandbox of that exercise holds
    import tempfile

    from grader.grade import pristine

    with tempfile.TemporaryDirectory() as tmp:
        print(describe(stage(sys.argv[1], pristine(sys.argv[1]), Path(tmp))))
