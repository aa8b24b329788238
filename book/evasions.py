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
- ``unusual``: code built or run at run time (``exec``, ``eval``, ``getattr`` with a computed name,
  ``importlib``), threads, subprocesses, the environment -- legitimate in places, rare in these exercises. Only
  a flag: the teacher's report lists it.

Withheld points are marked in the grade's message, so the teacher can read the answer and decide.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from book.similarity import python_source

KINDS = ("answer-key", "forbidden", "tampering", "unusual")

IPYTHON_HOOKS = {"set_custom_exc", "input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                 "events", "register_magic_function", "register_magics", "showtraceback", "showsyntaxerror",
                 "_render_traceback_", "CustomTB", "set_hook", "displayhook", "display_pub", "excepthook",
                 "user_ns", "user_global_ns", "run_cell", "run_cell_async", "transform_cell", "shell_handlers",
                 "history_manager", "InteractiveTB", "SyntaxTB", "prefilter_manager", "input_splitter"}
INTERNALS = {"modules": "sys", "_getframe": "sys", "settrace": "sys", "setprofile": "sys", "excepthook": "sys",
             "displayhook": "sys", "meta_path": "sys", "path_hooks": "sys", "addaudithook": "sys",
             "setrecursionlimit": "sys", "get_objects": "gc", "get_referrers": "gc", "get_referents": "gc",
             "currentframe": "inspect", "stack": "inspect", "getouterframes": "inspect"}
FRAME_ATTRIBUTES = {"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
                    "__subclasses__", "__globals__", "__builtins__", "__torch_function__", "__torch_dispatch__"}
STORE_ONLY = {"__class__", "__dict__", "__code__", "__closure__", "__defaults__", "__kwdefaults__"}
GRADING_MODULES = ("book.protocol", "book.plain_data", "book.replay", "book.questions", "book.nbval_outcomes",
                   "book.grade", "book.sandbox", "book.checks", "book.exercise_cells", "nbval", "_pytest")
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
ANSWER_KEY_WORDS = re.compile(r"exercises/solutions|solutions/\d\d_|checks/catalog|BEGIN SOLUTION")
MODULE_ROOTS = {"torch", "F", "nn", "np", "numpy", "math", "sys", "os", "book", "functional", "builtins",
                "IPython", "pytest", "nbval"}


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

    def flag(self, kind: str, detail: str):
        if (kind, detail) not in self.found:
            self.found.append((kind, detail))

    def module(self, name: str, how: str):
        root = name.split(".")[0]
        if name in self.hidden or any(name.startswith(h + ".") for h in self.hidden) \
                or name.startswith(("book.checks.catalog", "book.softmax", "book.cross_entropy")) \
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
        if node.attr in INTERNALS and root == INTERNALS[node.attr]:
            self.flag("tampering", f"uses {dotted}")
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
        if func in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2:
            name = node.args[1]
            if not isinstance(name, ast.Constant):
                self.flag("unusual", f"{func} with a computed name")
            elif isinstance(name.value, str) and name.value in self.forbidden:
                self.flag("forbidden", f"uses {name.value} through {func}")
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

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            text = node.value
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
