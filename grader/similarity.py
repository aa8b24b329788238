"""Answers identical up to formatting and names: a canonical form of Python code and its fingerprint.

Two answers count as *identical* when their code is the same after

- IPython syntax is turned into Python (``%time f()`` -> ``get_ipython().run_line_magic(...)``),
- comments, docstrings and other bare string statements are dropped, and layout is forgotten (the AST),
- every name the answer *binds* -- its functions, classes, parameters, variables, loop and ``with`` targets,
  ``import ... as`` aliases -- is renamed ``v0, v1, ...`` in order of first appearance, while the names it only
  *uses* (``torch``, ``math``, ``range``: the API it calls) keep their meaning.

So renaming ``e`` to ``exps``, re-indenting, or adding comments changes nothing; calling another function, or
reordering statements, does. Short answers coincide by themselves (a learner who writes the textbook line writes
the model answer): :func:`fingerprint` reports the size, and the teacher's report says how common each one is.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass


def python_source(source: str) -> str:
    """``source`` with IPython syntax (magics, shell escapes) turned into plain Python."""
    if not any(line.lstrip().startswith(("%", "!")) or line.rstrip().endswith("?")
               for line in source.splitlines()):
        return source  # plain Python already (and IPython, slow to import, is not needed)
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is part of the course environment
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


class _Strip(ast.NodeTransformer):
    """Drops docstrings and bare string statements (comments written as strings)."""

    def generic_visit(self, node):
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and all(isinstance(s, ast.stmt) for s in body):
                kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                and isinstance(s.value.value, str))]
                setattr(node, name, kept or ([ast.Pass()] if name == "body" else []))
        return node


def _bound_names(tree: ast.AST) -> set[str]:
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return bound


class _Rename(ast.NodeTransformer):
    def __init__(self, bound: set[str]):
        self.bound, self.names = bound, {}

    def canonical(self, name: str) -> str:
        if name not in self.bound:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node):
        node.id = self.canonical(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.canonical(node.arg)
        node.annotation = None
        return node

    def _named(self, node):
        node.name = self.canonical(node.name)
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _named

    def visit_alias(self, node):
        if node.asname:
            node.asname = self.canonical(node.asname)
        elif node.name.split(".")[0] in self.bound:
            self.canonical(node.name.split(".")[0])
        return node

    def visit_ExceptHandler(self, node):
        if node.name:
            node.name = self.canonical(node.name)
        self.generic_visit(node)
        return node

    def visit_Global(self, node):
        node.names = [self.canonical(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global


def canonical(source: str) -> str | None:
    """The canonical form of ``source`` (see the module docstring), or None if it is not valid Python."""
    try:
        tree = ast.parse(python_source(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    try:
        tree = _Strip().visit(tree)
        tree = _Rename(_bound_names(tree)).visit(tree)
        return ast.dump(tree, annotate_fields=False, include_attributes=False)
    except RecursionError:
        return None


@dataclass(frozen=True)
class Fingerprint:
    digest: str   # sha256 of the canonical form, 16 hex digits
    size: int     # AST nodes: how much code there is to compare


def fingerprint(source: str) -> Fingerprint | None:
    form = canonical(source)
    if form is None:
        return None
    try:
        size = sum(1 for _ in ast.walk(ast.parse(python_source(source))))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return Fingerprint(hashlib.sha256(form.encode()).hexdigest()[:16], size)
