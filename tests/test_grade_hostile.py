"""The hostile-submission suite: a class's folder of submissions written to cheat, break out, or break the batch.

The threat model of the grader: answer cells are arbitrary Python written by someone who has read the grader and
the course package, and the grader may run as root. Nothing in a submission may earn a point it did not compute,
change another submission's grade, the repository or the grader, or stop the batch.

One class grading (``python -m grader FOLDER --csv --report --json --jobs 2``) runs once for this module, on
exercise 01_softmax (fast to grade); each test below asserts one case of it. Many cases use the points as their
witness: the answer defines a *right* function only if its attack succeeded (it could see the grader's processes,
read another submission, write into the repository...), so a point on that question would prove a hole. Where the
grader withholds points for a flag, the checks' own verdict (``verdict`` in the JSON) is asserted too, so that
each attack is shown to fail by itself, not only to be caught. Files that are not gradable notebooks are graded
one by one in-process as well (they never reach a kernel): exit status 2 and one clear line, never a traceback.
"""

import csv
import hashlib
import io
import json
import marshal
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED
from grader import __main__ as command
from grader import grade as grading
from grader import sandbox
from grader.exercise_cells import ANSWER, notebook_text, read_notebook, role
from grader.make_exercises import EXERCISES_DIR, SOLUTIONS_DIR

ROOT = Path(__file__).resolve().parent.parent
EXERCISE = "01_softmax"
TIMEOUT = 20  # seconds per cell for the suite: the loops below are cut sooner than with the default 30 s


def cells_of(path):
    return {role(c)[1]: c["source"] for c in read_notebook(path)["cells"] if role(c)[0] == ANSWER}


MODEL = cells_of(SOLUTIONS_DIR / f"{EXERCISE}.ipynb")
BLANK = cells_of(EXERCISES_DIR / f"{EXERCISE}.ipynb")
# q3's model answer calls q2's softmax_rows; this right answer stands alone, for notebooks whose q2 is not right
Q3_ALONE = ("def softmax_temperature(Z, T):\n    if not T > 0:\n        raise ValueError('T must be > 0')\n"
            "    E = (Z / T - (Z / T).amax(dim=1, keepdim=True)).exp()\n    return E / E.sum(dim=1, keepdim=True)")
NAIVE = {  # wrong answers: what an attack leaves in place when it fails
    "q1": "def softmax(z):\n    return z.exp() / z.exp().sum()",
    "q2": "def softmax_rows(Z):\n    return Z.exp() / Z.exp().sum()",
    "q3": "def softmax_temperature(Z, T):\n    return Z * T",
    "q4": "def entropy(P):\n    return P.sum(dim=1)",
}


def either(condition: str, q: str) -> str:
    """Answer code that defines the right function of ``q`` only when ``condition`` (an attack) came true."""
    right = "\n".join("    " + line for line in (Q3_ALONE if q == "q3" else MODEL[q]).splitlines())
    wrong = "\n".join("    " + line for line in NAIVE[q].splitlines())
    return f"try:\n    attack_worked = bool({condition})\nexcept BaseException:\n    attack_worked = False\n" \
           f"if attack_worked:\n{right}\nelse:\n{wrong}\n"


STUBBORN = ("import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except BaseException:\n"
            "        pass\n")
SOFTMAX_ROWS_ALONE = MODEL["q2"].split("\n\n\nprint")[0]
# code that switches off the profile function watching forbidden calls, as bytes no reading of the source finds
WATCH_OFF = marshal.dumps(compile("import sys\nsys.setprofile(None)", "<hidden>", "exec"))


def held_out_label_files():
    """Where the grader's machine keeps the test splits' label files (each must be unreadable in the sandbox)."""
    from grader.run import PACKAGE_PARENT, data_folders

    return [str(p) for p in sandbox.held_out_files([PACKAGE_PARENT / "data", *data_folders().values(),
                                                    *map(Path, sandbox.DATA_DIRS)])]


def cases(folder: Path, port: int, marker: Path):
    """name -> (answers, expected points, expected checks' verdicts, flag kinds that must be present)."""
    records = "os.environ['COURSE_GRADING_RECORDS']"
    probe_folder = str(folder)
    all_blank = {q: 0 for q in BLANK}
    return {
        # --- controls: the batch grades honest work right, however hostile its neighbours ---------------------
        "control_model": (MODEL, {"q1": 2, "q2": 2, "q3": 2, "q4": 2}, {}, set()),
        "control_blank": ({}, all_blank, {q: NOT_ATTEMPTED for q in BLANK}, set()),
        "control_partial": ({**MODEL, "q1": NAIVE["q1"]}, {"q1": 0, "q2": 2, "q3": 2, "q4": 2},
                            {"q1": INCORRECT}, set()),
        # --- full marks on blank answers: the question objects -------------------------------------------------
        "rebind_question_objects": ({
            "q1": BLANK["q1"] + "\nclass Fake:\n    def check(self, *a):\n        print('q1: correct (2 points).')"
                  "\n\nq1 = Fake()",
            "q2": BLANK["q2"] + "\nq2.points = 100\nq2.check = lambda *a: print('q2: correct (100 points).')",
            "q3": BLANK["q3"] + "\ntype(q3).check = lambda self, *a: print(f'{self.id}: correct')",
            "q4": BLANK["q4"] + "\nq4.cases = None\nq4.checker = lambda *a, **k: None",
        }, all_blank, {q: (INCORRECT, NOT_ATTEMPTED) for q in BLANK}, {"tampering"}),
        # --- IPython's own hooks --------------------------------------------------------------------------------
        "ipython_hooks": ({
            "q1": BLANK["q1"] + "\nip = get_ipython()\nip.set_custom_exc((BaseException,), "
                                "lambda *a, **k: print('correct'))",
            "q2": BLANK["q2"] + "\nget_ipython().input_transformers_post.append(lambda lines: "
                                "['print(\"correct\")\\n'] if lines and '.check(' in lines[0] else lines)",
            "q3": BLANK["q3"] + "\nget_ipython().events.register('pre_run_cell', lambda *a: None)",
            "q4": BLANK["q4"] + "\nimport ast\nclass T(ast.NodeTransformer):\n    pass\n"
                                "get_ipython().ast_transformers.append(T())",
        }, all_blank, {q: (INCORRECT, NOT_ATTEMPTED) for q in BLANK}, {"tampering"}),
        # --- forged results, outcomes and records ------------------------------------------------------------
        "forged_files": ({
            "q1": BLANK["q1"],
            "q2": BLANK["q2"] + f"""
import json, os
line = json.dumps({{"exercise": "01_softmax", "question": "q1", "status": "correct", "message": "", "points": 2}})
with open(os.environ.get("COURSE_GRADING_RESULTS", "/dev/null"), "a") as f:
    f.write(line + "\\n")
from book.protocol import Encoded, Encoder, read_plan, write_payload
from pathlib import Path
import torch
_, planned = read_plan(Path(os.environ["COURSE_GRADING_PLANS"]) / "q1")
enc = Encoder()
calls = [{{"case": i, "status": "returned", "result": enc.encode(torch.full_like(c.args[0], 1 / len(c.args[0]))),
          "forbidden": [], "args": enc.encode(list(c.args)), "kwargs": enc.encode({{}})}}
         for i, c in enumerate(planned)]
write_payload(Path({records}) / "q1", Encoded({{"question": "q1", "answers": [{{"$": "function", "name": "softmax"}}],
                                                  "calls": calls}}), enc)""",
            "q3": BLANK["q3"] + f"""
import os, threading, time
def forge():
    target = os.path.join({records}, "q4")
    for _ in range(600):
        if os.path.isdir(target):
            time.sleep(0.2)
            os.rename(target, target + ".old")
            os.symlink("/etc", target)
            return
        time.sleep(0.1)
threading.Thread(target=forge, daemon=True).start()
os.makedirs(os.path.join({records}, "q2"), exist_ok=True)""",
            "q4": BLANK["q4"] + """
import os, json
with open(os.environ["COURSE_GRADING_OUTCOMES"], "w") as f:
    json.dump({"cells": [{"cell": i, "passed": True, "verdicts": [{"exercise": "01_softmax", "question": q,
               "status": "correct"} for q in ("q1", "q2", "q3", "q4")]} for i in range(40)], "errors": []}, f)
os.chmod(os.environ["COURSE_GRADING_OUTCOMES"], 0o444)""",
        }, all_blank, {q: (INCORRECT, NOT_ATTEMPTED) for q in BLANK}, {"tampering"}),
        # a forged record that *is* right, computed with the forbidden torch.softmax: withheld, and flagged
        "forged_with_forbidden_function": ({
            "q1": BLANK["q1"] + f"""
import os, torch
from pathlib import Path
from book.protocol import Encoded, Encoder, read_plan, write_payload
_, planned = read_plan(Path(os.environ["COURSE_GRADING_PLANS"]) / "q1")
enc = Encoder()
calls = [{{"case": i, "status": "returned", "result": enc.encode(torch.softmax(c.args[0], 0)), "forbidden": [],
          "args": enc.encode(list(c.args)), "kwargs": enc.encode({{}})}} for i, c in enumerate(planned)]
def softmax(z):
    return z
def forge():  # after q1's own check has written its record, replace it with the right one
    import time
    target = Path({records}) / "q1" / "value.json"
    for _ in range(600):
        if target.exists():
            write_payload(target.parent, Encoded({{"question": "q1", "answers": [{{"$": "function",
                          "name": "softmax"}}], "calls": calls}}), enc)
            return
        time.sleep(0.05)
import threading
threading.Thread(target=forge, daemon=True).start()""",
        }, all_blank, {}, {"tampering", "forbidden"}),
        # --- patched comparisons and tensors that always agree ----------------------------------------------
        "patched_comparisons": ({
            "q1": "import torch\n" + NAIVE["q1"] + "\ntorch.allclose = lambda *a, **k: True\n"
                  "torch.equal = lambda *a, **k: True\ntorch.isfinite = lambda x: torch.ones_like(x, dtype=torch.bool)"
                  "\ntorch.Tensor.__eq__ = lambda self, other: True",
            "q2": "import torch\nclass Agree(torch.Tensor):\n"
                  "    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                  "        if getattr(func, '__name__', '') in ('allclose', 'equal', '__eq__', 'isclose'):\n"
                  "            return True\n"
                  "        return super().__torch_function__(func, types, args, kwargs or {})\n\n"
                  "def softmax_rows(Z):\n    return torch.zeros_like(Z).as_subclass(Agree)",
        }, all_blank, {"q1": INCORRECT, "q2": INCORRECT}, {"tampering"}),
        # --- nbval's comment markers, in the variants nbval reads --------------------------------------------
        "nbval_markers": ({
            "q1": "##NBVAL_SKIP\n" + MODEL["q1"],            # if it stayed, the cell would be skipped: no softmax
            "q2": "\t#  NBVAL_RAISES_EXCEPTION \n" + NAIVE["q2"] + "\nraise ValueError('hidden?')",
            "q3": "#\u00a0NBVAL_IGNORE_OUTPUT\u2003\n" + Q3_ALONE,
            "q4": "# PYTEST_VALIDATE_IGNORE_OUTPUT\n" + MODEL["q4"],
        }, all_blank, {"q1": CORRECT, "q2": INCORRECT, "q3": CORRECT, "q4": CORRECT}, {"tampering"}),
        # --- the sandbox: what an answer can see and touch (points are the witness) --------------------------
        "isolation_processes_network_repository_submissions": ({
            "q1": either("any('-m\\x00grader' in open(f'/proc/{p}/cmdline').read() for p in __import__('os')"
                         ".listdir('/proc') if p.isdigit())", "q1"),
            "q2": either(f"__import__('socket').create_connection(('127.0.0.1', {port}), timeout=3)", "q2"),
            "q3": either(f"open({str(ROOT / 'book' / 'hostile_was_here.py')!r}, 'w').write('x') or True", "q3"),
            "q4": either(f"open({probe_folder + '/control_model.ipynb'!r}).read()", "q4"),
        }, all_blank, {q: INCORRECT for q in BLANK}, set()),
        "isolation_answer_key_grader_host": ({
            "q1": either(f"open({str(SOLUTIONS_DIR / (EXERCISE + '.ipynb'))!r}).read()", "q1"),
            "q2": either("__import__('importlib').import_module('book.softmax')", "q2"),
            "q3": either(f"__import__('os').kill({os.getpid()}, 0) is None", "q3"),
            "q4": either(f"__import__('os').path.exists({str(marker)!r})", "q4"),
        }, all_blank, {q: INCORRECT for q in BLANK}, {"answer-key"}),
        # --- the answer key and forbidden functions, by other routes ------------------------------------------
        "answer_key_imports": ({
            "q1": "from book.softmax import softmax",
            "q2": "from book.checks.ex01_softmax import reference\nsoftmax_rows = reference",
            "q3": f"import json\nnb = json.load(open({str(SOLUTIONS_DIR / (EXERCISE + '.ipynb'))!r}))\n"
                  "exec(''.join(nb['cells'][8]['source']))",
            "q4": "from book.questions import exercise_catalog\n"
                  "exec(exercise_catalog()['01_softmax']['questions'][3]['solution'])",
        }, all_blank, {q: INCORRECT for q in BLANK}, {"answer-key"}),
        "forbidden_routes": ({
            "q1": "def softmax(z):\n    return torch.ops.aten._softmax.default(z, 0, False)",
            "q2": "def softmax_rows(Z):\n    return getattr(torch, 'soft' + 'max')(Z, 1)",
            "q3": "from torch.nn.functional import softmax as sm\n\n"
                  "def softmax_temperature(Z, T):\n    if not T > 0:\n        raise ValueError('T')\n"
                  "    return sm(Z / T, 1)",
            "q4": "def entropy(P):\n    name = 'log_' + 'softmax'\n"
                  "    return -(P * getattr(torch, name)(P.clamp_min(1e-30).log(), 1)).nan_to_num().sum(1)",
        }, all_blank, {q: INCORRECT for q in BLANK}, {"forbidden", "unusual"}),
        # the check's watch switched off first: the checks say "correct" (torch computed it), the flags withhold
        "watch_disabled": ({
            "q1": "import contextlib\nimport book.protocol as P\n"
                  "P._watch = lambda names, called: contextlib.nullcontext()\n"
                  "softmax = lambda z: torch.softmax(z, 0)",
            "q2": "def softmax_rows(Z):\n    return getattr(torch.ops.aten, '_soft' + 'max')(Z, 1, False)",
        }, all_blank, {"q1": CORRECT, "q2": CORRECT}, {"tampering", "forbidden"}),
        # the watch switched off by code no reading of the source makes out: a name built at run time (flagged as
        # it is read), then a call hidden in marshalled bytes (the watch notes the call itself, as it happens)
        "watch_switched_off_by_computed_names": ({
            "q1": MODEL["q1"] + "\ngetattr(__import__('s' + 'ys'), 'setpro' + 'file')(None)", "q2": MODEL["q2"],
        }, all_blank, {"q1": CORRECT, "q2": CORRECT}, {"tampering"}),
        "watch_switched_off_while_checked": ({
            "q1": f"import marshal, types\n_quiet = types.FunctionType(marshal.loads({WATCH_OFF!r}), {{}})\n\n\n"
                  "def softmax(z):\n    _quiet()\n    e = (z - z.max()).exp()\n    return e / e.sum()",
        }, all_blank, {"q1": CORRECT}, {"tampering", "unusual"}),
        # the test splits' labels (the checkers of exercises 04 and 07 score on them): unreadable in the sandbox
        "test_labels_read": ({
            "q1": "def readable(path):\n    try:\n        return len(open(path, 'rb').read()) > 0\n"
                  "    except OSError:\n        return False\n\n\n"
                  + either(f"any(readable(p) for p in {held_out_label_files()!r})", "q1"),
            "q2": either("(__import__('book.data').data.load_dataset('fashion-mnist', download=False).test_labels"
                         " < 10).any().item()", "q2"),
        }, all_blank, {"q1": INCORRECT, "q2": INCORRECT}, set()),
        # --- stopping the run, the grader, the batch ------------------------------------------------------
        "kill_the_run": ({
            "q1": MODEL["q1"],
            "q2": SOFTMAX_ROWS_ALONE + "\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
        }, all_blank, {"q1": CORRECT, "q3": INCORRECT, "q4": INCORRECT}, {"tampering"}),
        "kill_everything": ({
            "q1": BLANK["q1"] + "\nimport os, signal\nfor pid in (-1, 0, 1):\n    try:\n"
                  "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass",
        }, all_blank, {"q2": (INCORRECT, NOT_ATTEMPTED)}, {"tampering"}),
        "detached_process_rewrites_records": ({
            "q1": BLANK["q1"] + """
import subprocess, sys
loop = '''
import json, os, time
for _ in range(3000):
    try:
        with open(os.environ["COURSE_GRADING_OUTCOMES"], "w") as f:
            json.dump({"cells": [], "errors": []}, f)
    except OSError:
        pass
    time.sleep(0.1)
'''
subprocess.Popen([sys.executable, "-c", loop], start_new_session=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)""",
        }, all_blank, {q: (INCORRECT, NOT_ATTEMPTED) for q in BLANK}, {"unusual"}),
        "fork_bomb_and_threads": ({
            "q1": BLANK["q1"] + "\nimport os, time\nchildren = 0\ntry:\n    while children < 100000:\n"
                  "        if os.fork() == 0:\n            time.sleep(5)\n            os._exit(0)\n"
                  "        children += 1\nexcept OSError as exc:\n    print('stopped after', children, exc)",
            "q2": BLANK["q2"] + "\nimport threading, time\nstarted = 0\ntry:\n    for _ in range(100000):\n"
                  "        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
                  "        started += 1\nexcept RuntimeError as exc:\n    print('stopped after', started, exc)",
        }, all_blank, {}, {"tampering", "unusual"}),
        # resources: memory and /tmp run out for this notebook only; its other answers still count
        "memory_and_tmp_exhausted": ({
            "q1": MODEL["q1"], "q2": MODEL["q2"],
            "q3": MODEL["q3"] + "\nwith open('/tmp/fill', 'wb') as f:\n    for _ in range(64):\n"
                                "        f.write(b'x' * (16 << 20))",
            "q4": MODEL["q4"] + "\nhog = bytearray(64 << 30)",
        }, {"q1": 2, "q2": 2, "q3": 0, "q4": 0}, {"q3": INCORRECT, "q4": INCORRECT}, set()),
        "disk_quota": ({
            **MODEL,
            "q4": MODEL["q4"] + "\nfor i in range(40):\n    with open(f'fill{i}', 'wb') as f:\n"
                                "        for _ in range(4):\n            f.write(b'x' * (16 << 20))",
        }, {"q1": 2, "q2": 2, "q3": 2, "q4": 0}, {"q4": INCORRECT}, set()),
        # --- a lost kernel costs only its question; the earlier definitions of that cell survive ---------------
        "lost_kernel_hang": ({
            **MODEL, "q2": SOFTMAX_ROWS_ALONE + "\n" + STUBBORN,
        }, {"q1": 2, "q2": 0, "q3": 2, "q4": 2}, {"q2": INCORRECT}, set()),
        "lost_kernel_exit": ({
            **MODEL, "q2": SOFTMAX_ROWS_ALONE + "\nquit()\n",
        }, {"q1": 2, "q2": 0, "q3": 2, "q4": 2}, {"q2": INCORRECT}, set()),
    }


MALFORMED = {  # file name -> (bytes, what the one line must say)
    "not_json": (b"print('hello')\n", "not valid JSON"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not text"),
    "empty": (b"", "not valid JSON"),
    "utf16": ('{"nbformat": 4}'.encode("utf-16"), "not text"),
    "bom": (b"\xef\xbb\xbf" + json.dumps({"nbformat": 4, "cells": []}).encode(), "not valid JSON"),
    "a_list": (b"[1, 2, 3]", "expected a JSON object"),
    "nbformat_3": (json.dumps({"nbformat": 3, "cells": []}).encode(), "nbformat 4"),
    "nbformat_text": (json.dumps({"nbformat": "4", "cells": []}).encode(), "nbformat 4"),
    "nbformat_true": (json.dumps({"nbformat": True, "cells": []}).encode(), "nbformat 4"),
    "cells_not_a_list": (json.dumps({"nbformat": 4, "cells": {"a": 1}}).encode(), "'cells' list"),
    "cell_not_an_object": (json.dumps({"nbformat": 4, "cells": [[1]]}).encode(), "cell 0 is not an object"),
    "cell_type_unknown": (json.dumps({"nbformat": 4, "cells": [{"cell_type": ["code"]}]}).encode(), "cell_type"),
    "source_not_text": (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": [1, 2]}]}).encode(),
                        "'source' is not text"),
    "id_unhashable": (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "id": [1]}]})
                      .encode(), "'id' is not a string"),
    "cell_metadata_list": (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": "",
                                                                 "metadata": [1]}]}).encode(), "metadata"),
    "question_unhashable": (json.dumps({"nbformat": 4, "metadata": {"exercise": {"id": "01_softmax"}}, "cells": [
        {"cell_type": "code", "source": "", "metadata": {"exercise": {"role": "answer", "question": {"q": 1}}}}]})
        .encode(), "'role' and 'question'"),
    "exercise_id_unhashable": (json.dumps({"nbformat": 4, "metadata": {"exercise": {"id": ["01_softmax"]}},
                                           "cells": []}).encode(), "metadata['exercise']"),
    "notebook_metadata_list": (json.dumps({"nbformat": 4, "metadata": [], "cells": []}).encode(), "metadata"),
    "deep_nesting": (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "huge": (b'{"nbformat": 4, "cells": [], "pad": "' + b"x" * (21 << 20) + b'"}', "larger than 20 MB"),
    "no_exercise": (json.dumps({"nbformat": 4, "metadata": {}, "cells": []}).encode(), "names no exercise"),
    "unknown_exercise": (json.dumps({"nbformat": 4, "metadata": {"exercise": {"id": "99_" + "x" * 500}},
                                     "cells": []}).encode(), "unknown exercise"),
}


def tree_hashes(*roots, skip=("__pycache__",)):
    """sha256 of every file under ``roots``."""
    out = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")) if Path(root).is_dir() else [Path(root)]:
            if any(part in skip for part in path.parts) or not path.is_file() or path.is_symlink():
                continue
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# What the attacks aim at in the repository (hashed before and after; the whole tree is scanned for files of a
# sandbox's uid as well: other work may be editing the repository while the suite runs, never as those uids)
TARGETS = [SOLUTIONS_DIR, EXERCISES_DIR / f"{EXERCISE}.ipynb", ROOT / "book" / "questions.py",
           ROOT / "book" / "protocol.py", ROOT / "book" / "grade.py", ROOT / "book" / "checks" / "ex01_softmax.py",
           ROOT / "book" / "checks" / "catalog.json", ROOT / "book" / "__init__.py"]


# The batch's sandboxes take uids of their own (grader.sandbox.UID_RANGE_ENV), apart from those of the gradings
# other tests run at the same time (make test runs two workers): what is left behind is this batch's.
BATCH_UIDS = (1_100_000_000, 1_200_000_000)


def files_of_sandbox_uids(*roots):
    low, high = BATCH_UIDS
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                try:
                    if low <= os.lstat(os.path.join(dirpath, name)).st_uid < high:
                        found.append(os.path.join(dirpath, name))
                except OSError:
                    continue
    return found


def sandbox_processes():
    """Processes of the batch's sandbox uids (:data:`BATCH_UIDS`) still alive."""
    low, high = BATCH_UIDS
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if low <= entry.stat().st_uid < high:
                    found.append((entry.name, (entry / "cmdline").read_bytes()[:200]))
            except OSError:
                continue
    return found


class Batch:
    """The result of the one class grading of this module."""


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    if not sandbox.mechanism():
        pytest.fail(f"class grading needs its sandbox: {sandbox.unavailable_reason()}")
    base = tmp_path_factory.mktemp("hostile")
    folder = base / "submissions"
    folder.mkdir()
    marker = base / "host-marker"
    marker.write_text("visible only outside the sandbox")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    the_cases = cases(folder, listener.getsockname()[1], marker)
    template = read_notebook(EXERCISES_DIR / f"{EXERCISE}.ipynb")
    for name, (answers, _, _, _) in the_cases.items():
        nb = json.loads(json.dumps(template))
        for cell in nb["cells"]:
            r, q = role(cell)
            if r == ANSWER and q in answers:
                cell["source"] = answers[q]
        (folder / f"{name}.ipynb").write_text(notebook_text(nb), encoding="utf-8")
    for name, (content, _) in MALFORMED.items():
        (folder / f"{name}.ipynb").write_bytes(content)
    (folder / "a_folder.ipynb").mkdir()  # a folder named like a notebook: walked into, not graded
    before, before_folder = tree_hashes(*TARGETS), tree_hashes(folder)
    tmpdir = base / "grader-tmp"
    tmpdir.mkdir()
    out_csv, out_md = base / "grades.csv", base / "grades.md"
    env = {**os.environ, "TMPDIR": str(tmpdir), sandbox.UID_RANGE_ENV: "-".join(map(str, BATCH_UIDS))}
    done = subprocess.run([sys.executable, "-m", "grader", str(folder), "--csv", str(out_csv), "--json",
                           "--jobs", "2", "--timeout", str(TIMEOUT)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1500)
    (base / "grades.json").write_text(done.stdout)  # for reading a failure
    listener.close()
    b = Batch()
    b.cases, b.folder, b.done, b.accepted = the_cases, folder, done, accepted
    b.rows = {r["learner"]: r for r in json.loads(done.stdout)}
    b.csv = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    b.report = out_md.read_text()
    after = tree_hashes(*TARGETS)
    b.changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    b.sandbox_files = files_of_sandbox_uids(ROOT, Path(sys.prefix), folder)
    b.folder_changed = before_folder != tree_hashes(folder)
    b.left_running = sandbox_processes()
    b.left_in_tmp = sorted(p.name for p in tmpdir.iterdir())
    return b


HOSTILE = list(cases(Path("/x"), 1, Path("/y")))


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_submission(batch, name):
    answers, points, verdicts, kinds = batch.cases[name]
    row = batch.rows[name]
    assert "error" not in row, row
    got = {q["id"]: q for q in row["questions"]}
    assert {q: got[q]["points"] for q in points} == points, json.dumps(row, indent=1)
    for q, expected in verdicts.items():
        checks_said = got[q]["verdict"] or got[q]["status"]
        allowed = expected if isinstance(expected, tuple) else (expected,)
        assert checks_said in allowed, (q, got[q])
    found = {f["kind"] for f in row["flags"]}
    assert kinds <= found, row["flags"]
    if not kinds:  # an honest notebook (or one whose mischief is only resource use) gets no tampering flags
        assert not found & {"tampering", "answer-key"}, row["flags"]
    assert row["sandbox"] == "bubblewrap"
    assert row["score"] == sum(points.values())


def test_the_batch_survives_every_submission_and_writes_its_csv_and_report(batch):
    # malformed files make the exit status 2: some files could not be graded
    assert batch.done.returncode == 2, batch.done.stderr[-3000:]
    assert "Traceback" not in batch.done.stderr
    learners = {r["learner"] for r in batch.csv}
    assert learners == set(batch.cases) | set(MALFORMED)
    assert set(batch.rows) == learners
    for name in MALFORMED:
        row = next(r for r in batch.csv if r["learner"] == name)
        assert row["error"] and row["score"] == "0" and "\n" not in row["error"], row
        assert MALFORMED[name][1] in row["error"], (name, row["error"])
    assert "# Class grading report" in batch.report and "| control_model | 8/8 |" in batch.report
    assert "Identical answers" in batch.report and "identical to the model solution" in batch.report


def test_nothing_outside_the_sandbox_changed_and_nothing_is_left_behind(batch):
    assert not batch.changed, f"files changed during the grading: {sorted(batch.changed)[:10]}"
    assert batch.sandbox_files == [], "a sandbox wrote files outside its scratch folder"
    assert not batch.folder_changed, "a submission changed the folder of submissions"
    assert not (ROOT / "book" / "hostile_was_here.py").exists()
    assert batch.left_running == [], "processes of the sandbox outlived their grading"
    assert batch.left_in_tmp == [], "the grader left temporary folders behind"
    assert batch.accepted == [], "an answer connected to a port on the grader's machine"


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_file_gets_one_clear_line_and_exit_status_2(tmp_path, capsys, name):
    content, complaint = MALFORMED[name]
    path = tmp_path / f"{name}.ipynb"
    path.write_bytes(content)
    assert command.main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and complaint in lines[0], captured.err


def test_another_exercises_notebook_is_refused_with_exit_status_2(capsys):
    assert command.main([str(EXERCISES_DIR / "02_cross_entropy.ipynb"), "--exercise", EXERCISE]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "another exercise" in err


def test_class_grading_refuses_without_a_sandbox_unless_told(tmp_path, capsys, monkeypatch):
    (tmp_path / "x.ipynb").write_text("not json")
    monkeypatch.setattr(sandbox, "_probe", lambda: (None, "bubblewrap (bwrap) is not installed"))
    assert command.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs a sandbox" in err and "bubblewrap" in err and "--no-sandbox" in err
    assert command.main([str(tmp_path), "--no-sandbox"]) == 2  # graded (its one file is malformed), with a warning
    captured = capsys.readouterr()
    assert "warning: --no-sandbox" in captured.err and "not valid JSON" in captured.out


def test_the_csv_is_replaced_atomically(tmp_path):
    target = tmp_path / "grades.csv"
    target.write_text("old")
    grading.write_atomically(target, "new,content\n")
    assert target.read_text() == "new,content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv"]  # no temporary file left
