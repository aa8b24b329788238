"""Flags for answers that reach past the question: the answer key, forbidden functions, the checking machinery.

Read by the grader from the submission's answer cells (the code as written, never run here; the lines of the
learner notebook's own stub, such as its demo ``print``, are not the learner's and are not flagged). Kinds, and
what each costs:

- ``forbidden``: the answer cell of a question names a PyTorch function that question rules out --
  ``torch.softmax``, ``z.softmax(...)``, ``torch.ops.aten._softmax``, ``from torch.nn.functional import
  softmax``, ``getattr(torch, "softmax")``. That question gets no points, as when the check's own watch catches
  the call at run time (which also sees calls made through code in other cells).
- ``answer-key``: it imports or names a module the sandbox hides for this exercise (the course package's
  reference implementations, the checkers, the catalog of model answers) or the solutions notebooks. That
  question and every later one get no points: the cell ran before their checks.
- ``tampering``: it touches the checking machinery or the interpreter's internals: rebinding or changing the
  question objects, the grading modules (``book.protocol``, ``book.questions``...), IPython's hooks (custom
  exception handlers, input/AST transformers, events), ``sys.modules``, frames, ``gc``'s object lists,
  ``ctypes``, PyTorch's function/dispatch modes or ``Tensor`` subclasses, assigning attributes of modules
  (``torch.allclose = ...``), the grader's files and environment, signals, other processes, nbval's comment
  markers. The whole notebook gets no points: code like this can change what any later check records.
  Names built at run time do not hide it: string expressions of constants are read as their value
  (``'setpro' + 'file'``, ``f'...'``, ``''.join([...])``, ``'...'[::-1]``), ``__import__('sys')`` and
  ``importlib.import_module('sys')`` as imports of ``sys``, and names bound to modules are followed
  (``s = __import__('sys')``; ``s.setprofile``). Reaching the interpreter's or the grader's internals through
  names that cannot be read -- ``getattr``/``setattr``/``attrgetter`` with a computed name on ``sys``, ``os``,
  ``builtins``, ``gc``, ``threading``, ``book``..., a module imported under a computed name, or ``exec``/``eval``
  of code built at run time (code in a constant string is read as code) -- is tampering too: in an answer there
  is no honest reason for it. (The in-kernel watch of forbidden calls also notes, as
  the code runs, any call that switches it off, however the function was reached: :mod:`book.protocol`.)
- ``forbidden`` also covers the course functions a question forbids by dotted name (``book.kaggle.log_loss``):
  importing them (``from book.kaggle import log_loss``), naming them (``kaggle.log_loss``, ``getattr(kaggle,
  'log_loss')``) or calling the notebook's own name for them (``log_loss(...)`` without defining it) in that
  question's answer cell.
- ``unusual``: code built or run at run time (``exec``, ``eval``, ``getattr`` with a computed name on other
  objects -- ``getattr(torch, name)``, ``getattr(net, mode)`` -- and ``importlib``), threads, subprocesses, the
  environment -- legitimate in places, rare in these exercises. Only a flag: the teacher's report lists it.

Withheld points are marked in the grade's message, so the teacher can read the answer and decide.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from grader.similarity import python_source

KINDS = ("answer-key", "forbidden", "tampering", "unusual")

IPYTHON_HOOKS = {"set_custom_exc", "input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                 "events", "register_magic_function", "register_magics", "showtraceback", "showsyntaxerror",
                 "_render_traceback_", "CustomTB", "set_hook", "displayhook", "display_pub", "excepthook",
                 "user_ns", "user_global_ns", "run_cell", "run_cell_async", "transform_cell", "shell_handlers",
                 "history_manager", "InteractiveTB", "SyntaxTB", "prefilter_manager", "input_splitter"}
INTERNALS = {"modules": "sys", "_getframe": "sys", "settrace": "sys", "setprofile": "sys", "excepthook": "sys",
             "displayhook": "sys", "meta_path": "sys", "path_hooks": "sys", "addaudithook": "sys",
             "setrecursionlimit": "sys", "get_objects": "gc", "get_referrers": "gc", "get_referents": "gc",
             "currentframe": "inspect", "stack": "inspect", "getouterframes": "inspect", "monitoring": "sys"}
FRAME_ATTRIBUTES = {"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
                    "__subclasses__", "__globals__", "__builtins__", "__torch_function__", "__torch_dispatch__"}
STORE_ONLY = {"__class__", "__dict__", "__code__", "__closure__", "__defaults__", "__kwdefaults__"}
GRADING_MODULES = ("book.protocol", "book.plain_data", "book.replay", "book.questions", "book.nbval_outcomes",
                   "book.checks", "grader", "nbval", "_pytest")
TAMPERING_MODULES = {"ctypes", "torch.overrides", "torch.utils._python_dispatch", "torch._C", "_ctypes"}
UNUSUAL_MODULES = {"subprocess", "multiprocessing", "threading", "_thread", "concurrent", "importlib", "socket",
                   "asyncio", "pty", "mmap", "signal", "atexit", "resource", "gc", "builtins", "pickle", "marshal",
                   "shutil", "pytest", "jupyter_client", "ipykernel", "inspect", "sys"}
MODE_NAMES = {"TorchFunctionMode", "TorchDispatchMode", "_push_mode", "_pop_mode", "enable_torch_function_mode",
              "_disable_current_modes", "DisableTorchFunction", "DisableTorchFunctionSubclass",
              "_set_torch_function_mode", "_get_current_function_mode_stack"}
PROCESS_CALLS = {"kill", "killpg", "fork", "forkpty", "_exit", "abort", "system", "popen", "execv", "execve",
                 "execvp", "execl", "spawnv", "posix_spawn", "setsid", "setuid", "chmod", "chown", "unlink",
                 "remove", "rmdir", "rename", "replace", "symlink", "link", "truncate", "rmtree", "mkfifo",
                 "pidfd_open", "pidfd_send_signal", "tgkill", "pthread_kill"}
GRADER_WORDS = re.compile(r"COURSE_GRADING|outcomes\.json|results\.jsonl|graded\.ipynb|records/|/records\b|"
                          r"value\.json|nbval", re.IGNORECASE)
ANSWER_KEY_WORDS = re.compile(r"exercises/solutions|solutions/\d\d_|checks/catalog|catalog\.json|BEGIN SOLUTION")
MODULE_ROOTS = {"torch", "F", "nn", "np", "numpy", "math", "sys", "os", "book", "functional", "builtins",
                "IPython", "pytest", "nbval"}
# the names a notebook's own set-up binds to modules (``import torch.nn.functional as F``)
KNOWN_MODULES = {"torch": "torch", "F": "torch.nn.functional", "nn": "torch.nn", "np": "numpy", "numpy": "numpy",
                 "math": "math", "sys": "sys", "os": "os", "book": "book", "builtins": "builtins",
                 "IPython": "IPython", "importlib": "importlib", "gc": "gc", "inspect": "inspect",
                 "threading": "threading", "operator": "operator", "ctypes": "ctypes", "signal": "signal"}
# modules whose attributes reached through computed names are the interpreter's or the grader's internals
INTERNAL_ROOTS = {"sys", "os", "posix", "builtins", "gc", "inspect", "threading", "_thread", "importlib", "ctypes",
                  "_ctypes", "signal", "atexit", "types", "operator", "IPython", "ipykernel", "book", "nbval",
                  "_pytest", "pytest", "functools", "runpy", "pkgutil", "code", "codeop", "traceback"}
# names of the interpreter's internals that are tampering whatever object they are reached on (no honest answer
# switches off profiling or tracing, nor reads frames or the garbage collector's lists)
STRONG_INTERNALS = {"setprofile", "settrace", "getprofile", "setprofile_all_threads", "settrace_all_threads",
                    "_getframe", "get_objects", "get_referrers", "get_referents", "addaudithook", "currentframe",
                    "getouterframes", "_current_frames"}
DYNAMIC_IMPORTS = {"__import__", "import_module", "importlib.import_module", "importlib.__import__",
                   "builtins.__import__"}
ATTRIBUTE_GETTERS = {"getattr", "setattr", "hasattr", "delattr", "getattr_static", "inspect.getattr_static",
                     "object.__getattribute__", "type.__getattribute__", "object.__setattr__",
                     "object.__delattr__", "type.__setattr__"}
DYNAMIC = "<computed>"  # the module of ``__import__(name)`` with a name that cannot be read


def folded_text(node) -> str | None:
    """The value of a string expression built from constants (``'setpro' + 'file'``, an f-string of constants,
    ``''.join(['a', 'b'])``, ``'...'[::-1]``, ``'...'.lower()``), or None when it is not one."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = folded_text(node.left), folded_text(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        text = folded_text(node.left)
        count = node.right.value if isinstance(node.right, ast.Constant) else None
        return text * count if text is not None and type(count) is int and 0 <= count <= 100 else None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            text = folded_text(v.value) if isinstance(v, ast.FormattedValue) and v.conversion == -1 \
                and v.format_spec is None else folded_text(v)
            if text is None:
                return None
            parts.append(text)
        return "".join(parts)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        text = folded_text(node.value)
        bounds = [b.value if isinstance(b, ast.Constant) else b for b in
                  (node.slice.lower, node.slice.upper, node.slice.step)]
        if text is not None and all(b is None or type(b) is int for b in bounds):
            return text[slice(*bounds)]
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        base = folded_text(node.func.value)
        if base is None:
            return None
        if node.func.attr == "join" and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)):
            items = [folded_text(e) for e in node.args[0].elts]
            return base.join(items) if all(i is not None for i in items) else None
        if node.func.attr in ("lower", "upper", "strip", "lstrip", "rstrip", "casefold") and not node.args:
            return getattr(base, node.func.attr)()
        if node.func.attr == "replace" and len(node.args) == 2:
            old, new = folded_text(node.args[0]), folded_text(node.args[1])
            return base.replace(old, new) if old is not None and new is not None else None
    return None


@dataclass(frozen=True)
class Flag:
    question: str | None  # the question whose answer cell holds it (None: the whole submission)
    kind: str
    detail: str

    def text(self) -> str:
        return f"{self.question + ': ' if self.question else ''}{self.kind}: {self.detail}"


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    return ".".join(reversed(parts))


class _Scanner(ast.NodeVisitor):
    def __init__(self, forbidden: set[str], hidden: set[str], questions: set[str]):
        self.forbidden, self.hidden, self.questions = forbidden, hidden, questions
        self.found: list[tuple[str, str]] = []
        # course functions the question forbids by dotted name: function name -> module
        self.course = {n.rpartition(".")[2]: n.rpartition(".")[0] for n in forbidden if "." in n}
        self.aliases: dict[str, str] = dict(KNOWN_MODULES)  # name -> the module it is bound to in this cell
        self.defined: set[str] = set()  # names this cell binds itself

    def _bindings(self, tree) -> None:
        """The names the cell binds: to modules (imports, ``x = __import__('sys')``, ``x = sys``) and others."""
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        self.aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defined.add(node.name)
            elif isinstance(node, (ast.Name,)) and isinstance(node.ctx, ast.Store):
                self.defined.add(node.id)
            elif isinstance(node, ast.arg):
                self.defined.add(node.arg)
        for _ in range(3):  # x = __import__('sys'); y = x: follow a few steps
            for node in ast.walk(tree):
                if isinstance(node, (ast.Assign, ast.NamedExpr)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    module = self.module_of(node.value)
                    for t in targets:
                        if isinstance(t, ast.Name) and module:
                            self.aliases[t.id] = module

    def module_of(self, node) -> str | None:
        """The module an expression evaluates to, where it can be read: a name bound to a module, an attribute of
        one (``torch.nn``), ``__import__(...)``/``importlib.import_module(...)`` (:data:`DYNAMIC` when its name
        cannot be read), ``sys.modules[...]``; None otherwise."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.module_of(node.value)
            return f"{base}.{node.attr}" if base and base != DYNAMIC else base
        if isinstance(node, ast.Call):
            func = _dotted(node.func)
            resolved = self.resolve(func)
            if (func in DYNAMIC_IMPORTS or resolved in DYNAMIC_IMPORTS) and node.args:
                return folded_text(node.args[0]) or DYNAMIC
        if isinstance(node, ast.Subscript) and _dotted(node.value).endswith("modules"):
            return folded_text(node.slice) or DYNAMIC
        return None

    def resolve(self, dotted: str) -> str:
        """``dotted`` with its first name replaced by the module it is bound to (``s.setprofile`` after
        ``import sys as s``: ``sys.setprofile``)."""
        root, _, rest = dotted.partition(".")
        module = self.aliases.get(root)
        if module and module != root and module != DYNAMIC:
            return module + ("." + rest if rest else "")
        return dotted

    def internal(self, module: str | None) -> bool:
        return module is not None and (module == DYNAMIC or module.split(".")[0] in INTERNAL_ROOTS)

    def reach(self, how: str, target, name_node) -> None:
        """``getattr(target, name)`` and its kin: the name read where it can be, the target's module followed."""
        module = self.module_of(target)
        name = folded_text(name_node) if name_node is not None else None
        where = module if module and module != DYNAMIC else _dotted(target) or "an object"
        if name is None:
            if self.internal(module):
                self.flag("tampering", f"{how} with a computed name on {where} (the interpreter's or the "
                                       "grader's internals)")
            else:
                self.flag("unusual", f"{how} with a computed name")
            return
        if not isinstance(name_node, ast.Constant):
            self.flag("unusual", f"{how} with a computed name")
        for part in name.split("."):
            if part in self.forbidden:
                self.flag("forbidden", f"uses {part} through {how}")
            if part in self.course and (module is None or module == self.course[part]
                                        or module.endswith("." + self.course[part].rpartition(".")[2])):
                self.flag("forbidden", f"uses {self.course[part]}.{part} through {how}")
            if part in STRONG_INTERNALS or part in INTERNALS and module == INTERNALS[part] \
                    or part in FRAME_ATTRIBUTES or part in MODE_NAMES \
                    or part in IPYTHON_HOOKS and (module is None or module.split(".")[0] == "IPython"):
                self.flag("tampering", f"reaches {part} through {how}")
            elif self.internal(module) and part in PROCESS_CALLS:
                self.flag("tampering", f"reaches {module}.{part} through {how}")

    def flag(self, kind: str, detail: str):
        if (kind, detail) not in self.found:
            self.found.append((kind, detail))

    def module(self, name: str, how: str):
        root = name.split(".")[0]
        if name in self.hidden or any(name.startswith(h + ".") for h in self.hidden) \
                or name.startswith(("book.softmax", "book.cross_entropy")) \
                and name not in ("book.checks",):
            self.flag("answer-key", f"{how} {name}, which the grader keeps out of reach")
        elif name.startswith(GRADING_MODULES):
            self.flag("tampering", f"{how} {name} (the grading machinery)")
        elif name in TAMPERING_MODULES or any(name.startswith(m + ".") for m in TAMPERING_MODULES) \
                or root in TAMPERING_MODULES:
            self.flag("tampering", f"{how} {name}")
        elif name in UNUSUAL_MODULES or root in UNUSUAL_MODULES:
            self.flag("unusual", f"{how} {name}")

    def visit_Import(self, node):
        for alias in node.names:
            self.module(alias.name, "imports")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.module:
            self.module(node.module, "imports from")
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in self.hidden or full.startswith(GRADING_MODULES):
                    self.module(full, "imports")
                if alias.name in self.forbidden and node.module.split(".")[0] == "torch":
                    self.flag("forbidden", f"imports {alias.name} from {node.module}")
                if alias.name in MODE_NAMES:
                    self.flag("tampering", f"imports {alias.name} (PyTorch's function/dispatch modes)")
                if alias.name in STRONG_INTERNALS or INTERNALS.get(alias.name) == node.module:
                    self.flag("tampering", f"imports {alias.name} from {node.module}")
                if self.course.get(alias.name) == node.module:
                    self.flag("forbidden", f"imports {alias.name} from {node.module}, which the question forbids")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        dotted = _dotted(node)
        root = dotted.split(".")[0]
        store = isinstance(node.ctx, (ast.Store, ast.Del))
        if node.attr in self.forbidden:
            self.flag("forbidden", f"uses {dotted or node.attr}")
        if node.attr in IPYTHON_HOOKS:
            self.flag("tampering", f"uses IPython's {node.attr}")
        if node.attr in MODE_NAMES:
            self.flag("tampering", f"uses {dotted or node.attr} (PyTorch's function/dispatch modes)")
        resolved = self.resolve(dotted)
        if node.attr in INTERNALS and (root == INTERNALS[node.attr] or resolved.split(".")[0] == INTERNALS[
                node.attr] or self.module_of(node.value) == INTERNALS[node.attr]) or node.attr in STRONG_INTERNALS:
            self.flag("tampering", f"uses {dotted}")
        if node.attr == "__dict__" and self.internal(self.module_of(node.value)):
            self.flag("tampering", f"uses {dotted} (a module's namespace)")
        if dotted.startswith(("torch._C.", "torch.overrides.", "torch.utils._python_dispatch.")) \
                or resolved.startswith(("torch._C.", "torch.overrides.", "torch.utils._python_dispatch.")):
            self.flag("tampering", f"uses {resolved} (PyTorch's dispatch internals)")
        if node.attr in self.course:
            module = self.module_of(node.value)
            home = self.course[node.attr]
            if module == home or module is None and (dotted.endswith(home.rpartition(".")[2] + "." + node.attr)):
                self.flag("forbidden", f"uses {home}.{node.attr}, which the question forbids")
        if node.attr in FRAME_ATTRIBUTES or store and node.attr in STORE_ONLY:
            self.flag("tampering", f"{'changes' if store else 'uses'} {node.attr}")
        if node.attr in PROCESS_CALLS and root in ("os", "shutil", "signal", "pathlib", "Path", "posix"):
            self.flag("tampering", f"uses {dotted}")
        if node.attr == "environ" or node.attr in ("getenv", "putenv", "unsetenv"):
            self.flag("unusual", f"uses the environment ({dotted})")
        if root in self.questions and node.attr not in ("hint", "solution", "id", "title", "points"):
            if node.attr == "check":
                self.flag("tampering", f"calls {root}.check from an answer cell")
            else:
                self.flag("tampering", f"uses {dotted} (a question object)")
        touched = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        if store and (root in MODULE_ROOTS | self.questions or touched & (MODULE_ROOTS | self.questions)):
            self.flag("tampering", f"{'changes' if isinstance(node.ctx, ast.Store) else 'deletes'} {dotted}")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        self.text(folded_text(node))
        target = _dotted(node.value)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and target.split(".")[-1] == "environ":
            self.flag("tampering", f"changes the environment ({target})")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in self.questions and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.flag("tampering", f"rebinds {node.id}, a question object")
        if node.id in ("__builtins__", "globals", "vars", "breakpoint"):
            self.flag("tampering", f"uses {node.id}")
        if node.id in ("exec", "eval", "compile", "__import__"):
            self.flag("unusual", f"uses {node.id}")
        if node.id in MODE_NAMES:
            self.flag("tampering", f"uses {node.id} (PyTorch's function/dispatch modes)")
        if node.id in self.course and isinstance(node.ctx, ast.Load) and node.id not in self.defined:
            self.flag("forbidden", f"uses {node.id} ({self.course[node.id]}.{node.id}, which the question forbids)")
        if isinstance(node.ctx, ast.Load) and node.id in STRONG_INTERNALS and node.id not in self.defined:
            self.flag("tampering", f"uses {node.id}")
        self.generic_visit(node)

    def visit_Global(self, node):
        for name in node.names:
            if name in self.questions:
                self.flag("tampering", f"rebinds {name}, a question object")

    def visit_Call(self, node):
        func = _dotted(node.func)
        if func in ("setattr", "delattr") and node.args:
            target = _dotted(node.args[0])
            if target.split(".")[0] in MODULE_ROOTS | self.questions:
                self.flag("tampering", f"{func} on {target}")
        resolved = self.resolve(func)
        if (func in ATTRIBUTE_GETTERS or resolved in ATTRIBUTE_GETTERS) and len(node.args) >= 2:
            self.reach(func.rpartition(".")[2], node.args[0], node.args[1])
        if (func.endswith("attrgetter") or resolved.endswith("attrgetter")) and node.args:
            self.reach("attrgetter", ast.Constant(None), node.args[0])
        if func in ("exec", "eval", "compile") and node.args:
            code = folded_text(node.args[0])
            if code is None:
                self.flag("tampering", f"{func} of code built at run time (the grader cannot read what it runs)")
            else:
                try:
                    self.visit(ast.parse(code))  # code in a string is read as code
                except (SyntaxError, ValueError, MemoryError):
                    self.flag("unusual", f"{func} of code that does not parse")
        if (func in DYNAMIC_IMPORTS or resolved in DYNAMIC_IMPORTS) and node.args:
            name = folded_text(node.args[0])
            if name is None:
                self.flag("tampering", f"{func} of a module whose name is computed at run time")
            else:
                self.module(name, f"imports (through {func})")
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("run_line_magic", "run_cell_magic") \
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in (
                    "writefile", "load_ext", "run", "load", "env", "set_env", "store", "autoreload", "aimport"):
            self.flag("tampering", f"uses the %{node.args[0].value} magic")
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        for base in node.bases:
            name = _dotted(base)
            if name.endswith("Tensor") or name in MODE_NAMES or name.endswith("Mode") or name.endswith("Question"):
                self.flag("tampering", f"defines a subclass of {name}")
        self.generic_visit(node)

    def visit_BinOp(self, node):
        self.text(folded_text(node))
        self.generic_visit(node)

    def visit_JoinedStr(self, node):
        self.text(folded_text(node))
        self.generic_visit(node)

    def text(self, text: str | None) -> None:
        """A string built from constants: the names it spells, as a constant would."""
        if text is not None and text in STRONG_INTERNALS:
            self.flag("tampering", f"spells {text!r} in a string")
        if text is not None:
            self.visit_Constant(ast.Constant(text))

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            text = node.value
            if text in STRONG_INTERNALS:
                self.flag("tampering", f"names {text!r} in a string")
            if any(text == h or text.startswith(h + ".") for h in self.hidden if h != "book") \
                    or text.startswith("book.checks"):
                self.flag("answer-key", f"names {text!r} in a string")
            match = GRADER_WORDS.search(text)
            if match:
                self.flag("tampering", f"names the grader's {match.group(0)!r} in a string")
            match = ANSWER_KEY_WORDS.search(text)
            if match:
                self.flag("answer-key", f"names {match.group(0)!r} in a string")


NBVAL_MARKERS = ("NBVAL_SKIP", "NBVAL_IGNORE_OUTPUT", "NBVAL_CHECK_OUTPUT", "NBVAL_RAISES_EXCEPTION",
                 "PYTEST_VALIDATE_IGNORE_OUTPUT")


def marker_lines(source: str) -> list[int]:
    """Line numbers (0-based) that nbval would read as one of its comment markers (its own rule: a stripped
    line starting with '#' whose text after the '#'s, stripped, is a marker name)."""
    return [i for i, line in enumerate(source.splitlines())
            if line.strip().startswith("#") and line.strip().lstrip("#").strip() in NBVAL_MARKERS]


def scan(question: str | None, source: str, forbidden=(), hidden=(), questions=()) -> list[Flag]:
    """The flags of one answer cell's ``source``."""
    flags = []
    if marker_lines(source):
        flags.append(Flag(question, "tampering", "holds nbval comment markers (the grader removed them)"))
    try:
        tree = ast.parse(python_source(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return flags
    scanner = _Scanner(set(forbidden), set(hidden), set(questions))
    try:
        scanner._bindings(tree)
        scanner.visit(tree)
    except RecursionError:
        flags.append(Flag(question, "unusual", "code nested too deeply to read"))
    return flags + [Flag(question, kind, detail) for kind, detail in scanner.found]


def withheld(flags: list[Flag], order: list[str]) -> dict[str, Flag]:
    """The questions whose points ``flags`` withhold (question -> the flag why), by the rules of the module
    docstring; ``order``: the questions in notebook order."""
    out: dict[str, Flag] = {}
    tampering = next((f for f in flags if f.kind == "tampering"), None)
    for i, q in enumerate(order):
        if tampering:
            out[q] = tampering
            continue
        key = next((f for f in flags if f.kind == "answer-key" and f.question in order[:i + 1]), None)
        mine = next((f for f in flags if f.kind == "forbidden" and f.question == q
                     and not f.detail.startswith("called")), None)
        if key or mine:
            out[q] = key or mine
    return out
