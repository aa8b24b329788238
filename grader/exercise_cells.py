"""The cell format of exercise notebooks: which cell is which, and how an answer becomes a stub.

A solutions notebook (``exercises/solutions/<id>.ipynb``) names its exercise in the notebook metadata,
``metadata["exercise"] = {"id": "<id>"}``, and marks cells in their metadata:

- ``{"role": "answer", "question": "q1"}`` -- the code the learner writes. The model answer sits between the
  lines ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the learner gets a stub in its place;
- ``{"role": "check", "question": "q1"}`` -- the check, right after the question's answer cell(s), e.g.
  ``q1.check(softmax)``; the grader always runs the pristine version of it;
- ``{"role": "solution-only"}`` -- a cell left out of the learner notebook (e.g. a banner saying these are
  the solutions).

Every other cell (instructions, imports, data) is *context*: the grader restores it from the pristine notebook.

The stub of a block whose lines are all simple assignments ``name = value`` is ``name = ____`` (the blank from
:mod:`book.questions`); any other block becomes ``raise NotImplementedError("write your answer here")`` at the
block's indentation. Both count as *not attempted*.

A learner notebook in another language (``exercises/<lang>/<id>.ipynb``) is the English one with its Markdown
translated paragraph by paragraph (:func:`markdown_messages`, :func:`localised_notebook`) and one line more in its
set-up cell, which makes the checks speak that language (:func:`language_setup`).

Notebooks are handled as plain JSON dicts (the nbformat 4 layout), not with ``nbformat``: importing nbformat
pulls in jsonschema's format checkers, which take seconds to import, and the grader must start fast.
"""

from __future__ import annotations

import copy
import json
import re

from book.questions import STUB_MESSAGE

# The notebook metadata every chapter and exercise notebook is committed with: exactly what JupyterLab 4.6 writes
# into a notebook when it opens it with the course's kernel (ipykernel 7.4 on Python 3.11.7, the Python of the
# course's machines and of binder/runtime.txt's python-3.11). JupyterLab replaces `kernelspec` and
# `language_info` with the kernel's own on opening, and marks the notebook modified unless both are already
# equal -- `language_info` in full, Python version included (so under another Python it still marks them).
# scripts/normalise_notebook_metadata.py writes it; tests/test_notebook_metadata.py checks it.
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                      "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                      "pygments_lexer": "ipython3", "version": "3.11.7"},
}

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
ANSWER, CHECK, SOLUTION_ONLY = "answer", "check", "solution-only"
ROLES = (ANSWER, CHECK, SOLUTION_ONLY)
ASSIGNMENT = re.compile(r"^(?P<indent>\s*)(?P<targets>[A-Za-z_]\w*(\s*,\s*[A-Za-z_]\w*)*)\s*=(?!=)")


class ExerciseFormatError(ValueError):
    """A solutions or submitted notebook does not follow the exercise format; the message says where."""


def source_text(source) -> str:
    """A cell's source as one string (files store it as a list of lines)."""
    return "".join(source) if isinstance(source, list) else source


def normalise(nb: dict) -> dict:
    """``nb`` with every cell's source as one string, in place; a ValueError if it is not an nbformat 4 notebook."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or nb.get("nbformat") != 4:
        raise ValueError("not an nbformat 4 notebook: expected a JSON object with 'nbformat': 4 and a 'cells' list")
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or "cell_type" not in cell:
            raise ValueError("not an nbformat 4 notebook: a cell is not an object with a 'cell_type'")
        cell["source"] = source_text(cell.get("source", ""))
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
    return nb


def exercise_id(nb) -> str | None:
    meta = nb.get("metadata")
    meta = meta.get("exercise") if isinstance(meta, dict) else None
    return meta.get("id") if isinstance(meta, dict) else None


def role(cell) -> tuple[str | None, str | None]:
    """(role, question id) of a cell; (None, None) for context cells."""
    meta = cell.get("metadata", {}).get("exercise")
    if not isinstance(meta, dict) or meta.get("role") not in ROLES:
        return None, None
    return meta["role"], meta.get("question")


def blocks(source: str, where: str = "cell") -> list[tuple[int, int]]:
    """(begin line, end line) index pairs of the solution blocks in ``source``; unbalanced markers raise."""
    found, start = [], None
    for i, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker == BEGIN:
            if start is not None:
                raise ExerciseFormatError(f"{where}: line {i + 1} opens a solution block inside another one "
                                          f"(a {END!r} is missing above it)")
            start = i
        elif marker == END:
            if start is None:
                raise ExerciseFormatError(f"{where}: line {i + 1} closes a solution block that was never opened")
            found.append((start, i))
            start = None
    if start is not None:
        raise ExerciseFormatError(f"{where}: the solution block opened on line {start + 1} is never closed "
                                  f"with {END!r}")
    return found


def stub(block_lines: list[str], indent: str) -> list[str]:
    """What the learner sees instead of the model answer ``block_lines``."""
    code = [line for line in block_lines if line.strip() and not line.strip().startswith("#")]
    matches = [ASSIGNMENT.match(line) for line in code]
    if code and all(m and m.group("indent") == indent for m in matches):
        names = [n.strip() for m in matches for n in m.group("targets").split(",")]
        return [f"{indent}{n} = ____" for n in names]
    return [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{STUB_MESSAGE}")']


def learner_source(source: str, where: str = "cell") -> str:
    """The answer cell's source with every solution block replaced by its stub."""
    lines = source.splitlines()
    out, last = [], 0
    for begin, end in blocks(source, where):
        indent = re.match(r"\s*", lines[begin]).group(0)
        out += lines[last:begin] + stub(lines[begin + 1:end], indent)
        last = end + 1
    return "\n".join(out + lines[last:])


def solution_source(source: str) -> str:
    """The answer cell's source with the marker lines removed: the model answer as a learner would write it."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def questions_in(nb) -> list[str]:
    """The question ids of a notebook, in the order of their check cells."""
    return [q for r, q in map(role, nb["cells"]) if r == CHECK]


def check_structure(nb, where: str) -> None:
    """The notebook follows the format (solution blocks aside): every question has answer cell(s), then one check
    cell right after them; markers only in answer cells of solutions."""
    if not exercise_id(nb):
        raise ExerciseFormatError(f"{where}: the notebook metadata has no exercise id (metadata['exercise']['id'])")
    seen_check, last_answer = set(), {}
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code_cells):
        r, q = role(cell)
        if r in (ANSWER, CHECK) and not q:
            raise ExerciseFormatError(f"{where}: code cell {i} is marked {r!r} but names no question")
        if r == ANSWER:
            if q in seen_check:
                raise ExerciseFormatError(f"{where}: an answer cell of {q} comes after its check cell")
            last_answer[q] = i
        elif r == CHECK:
            if q in seen_check:
                raise ExerciseFormatError(f"{where}: {q} has two check cells")
            if q not in last_answer:
                raise ExerciseFormatError(f"{where}: the check cell of {q} has no answer cell before it")
            if last_answer[q] != i - 1:
                raise ExerciseFormatError(f"{where}: the check cell of {q} must come right after its answer cell")
            if not cell["source"].lstrip().startswith(f"{q}.check("):
                raise ExerciseFormatError(f"{where}: the check cell of {q} must start with {q}.check(...)")
            seen_check.add(q)
        elif BEGIN in cell["source"] or END in cell["source"]:
            raise ExerciseFormatError(f"{where}: code cell {i} holds solution markers but is not an answer cell")
    missing = sorted(set(last_answer) - seen_check)
    if missing:
        raise ExerciseFormatError(f"{where}: no check cell for {', '.join(missing)}")


def learner_notebook(solution_nb: dict, where: str = "solutions notebook") -> dict:
    """The learner notebook made from a solutions notebook: stubs for answers, no solution-only cells, no
    outputs, and the notebook metadata JupyterLab would write (so that it opens unmodified)."""
    check_structure(solution_nb, where)
    nb = copy.deepcopy(solution_nb)
    nb["metadata"].update(copy.deepcopy(NOTEBOOK_METADATA))
    cells = []
    for cell in nb["cells"]:
        r, q = role(cell)
        if r == SOLUTION_ONLY:
            continue
        if cell["cell_type"] == "code":
            if r == ANSWER:
                if not blocks(cell["source"], f"{where}, answer cell of {q}"):
                    raise ExerciseFormatError(f"{where}: the answer cell of {q} has no {BEGIN!r} ... {END!r} block")
                cell["source"] = learner_source(cell["source"], f"{where}, answer cell of {q}")
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    nb["cells"] = cells
    blanks = any(role(c)[0] == ANSWER and "= ____" in c["source"] for c in cells)
    if blanks and not any(role(c)[0] is None and "____" in c["source"] for c in cells if c["cell_type"] == "code"):
        raise ExerciseFormatError(f"{where}: its stubs use the blank ____; import it in a set-up cell "
                                  "(from book.questions import ____)")
    return nb


def read_notebook(path) -> dict:
    """A notebook file as a dict with string sources (see :func:`normalise`)."""
    with open(path, encoding="utf-8") as f:
        return normalise(json.load(f))


def notebook_text(nb: dict) -> str:
    """The text of ``nb`` exactly as nbformat writes it (sources as lists of lines, keys sorted, indent 1)."""
    on_disk = copy.deepcopy(nb)
    for cell in on_disk["cells"]:
        cell["source"] = source_text(cell["source"]).splitlines(keepends=True)
    return json.dumps(on_disk, sort_keys=True, indent=1, ensure_ascii=False, separators=(",", ": ")) + "\n"


# --- the Markdown a translation replaces --------------------------------------------------------------------------
# A learner notebook in another language (exercises/<lang>/<id>.ipynb) is the English one with each Markdown
# paragraph looked up in the exercise's catalogue (locales/<lang>/LC_MESSAGES/exercises/<id>.po, made by
# `scripts/i18n.py update`); code is never translated.

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def markdown_pieces(source: str) -> list[tuple[str, bool]]:
    """A Markdown cell's ``source`` cut into (text, is_message) pieces whose texts, joined, give ``source`` back
    exactly. A message is a paragraph: a run of non-blank lines, without its final line break; a display-math
    block (``$$`` on lines of their own) stays whole inside its paragraph. A fenced code block (``` or ~~~) is
    code, not a message, as Sphinx treats a page's literal blocks. The blank lines between them are not messages.
    """
    pieces: list[tuple[str, bool]] = []
    paragraph: list[str] = []
    fence = None  # what opened the block we are in (``` or ~~~ or $$), or None outside blocks

    def close_paragraph():
        if paragraph:
            text = "".join(paragraph)
            body = text.rstrip("\n")
            fenced = FENCE.match(body) is not None and FENCE.match(body.splitlines()[-1]) is not None
            pieces.append((body, not fenced))
            pieces.append((text[len(body):], False))
            paragraph.clear()

    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if fence is None and not stripped:
            close_paragraph()
            pieces.append((line, False))
            continue
        paragraph.append(line)
        opened = FENCE.match(line)
        if fence is None:
            if opened:
                fence = opened.group(1)
            elif stripped == "$$":
                fence = "$$"
        elif stripped == fence or (fence != "$$" and stripped.startswith(fence) and not stripped.strip(fence[0])):
            fence = None
    close_paragraph()
    merged: list[tuple[str, bool]] = []
    for text, is_message in pieces:
        if not text:
            continue
        if merged and not is_message and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + text, False)
        else:
            merged.append((text, is_message))
    return merged


def translated_cells(nb) -> list[dict]:
    """The Markdown cells a learner sees (a solutions-only cell is never shown, so never translated)."""
    return [cell for cell in nb["cells"] if cell["cell_type"] == "markdown" and role(cell)[0] != SOLUTION_ONLY]


def markdown_messages(nb) -> list[str]:
    """The messages of a notebook's Markdown, in order, each once (see :func:`markdown_pieces`)."""
    found: dict[str, None] = {}
    for cell in translated_cells(nb):
        for text, is_message in markdown_pieces(source_text(cell["source"])):
            if is_message:
                found.setdefault(text)
    return list(found)


def translate_markdown(source: str, translations: dict[str, str]) -> str:
    """``source`` with each message replaced by ``translations[message]`` (a KeyError names one missing)."""
    return "".join(translations[text] if is_message else text for text, is_message in markdown_pieces(source))


# --- a learner notebook in another language ---------------------------------------------------------------------

LANGUAGE_KEY = "language"  # metadata["exercise"]["language"] of a translated notebook; absent: English
ENGLISH = "en"


def notebook_language(nb) -> str:
    """The language a notebook says it is in (``metadata["exercise"]["language"]``); English when it says none."""
    meta = nb.get("metadata")
    meta = meta.get("exercise") if isinstance(meta, dict) else None
    language = meta.get(LANGUAGE_KEY) if isinstance(meta, dict) else None
    return ENGLISH if language is None else language


def language_setup(language: str) -> list[str]:
    """The lines a translated notebook's set-up cell adds: its kernel then speaks ``language``
    (:mod:`book.language`): the checks' verdicts, messages, titles and hints."""
    return ["from book.language import set_language", "",
            f'set_language("{language}")  # what the checks say: in this language']


def setup_cell_index(nb, where: str = "notebook") -> int:
    """The index of the set-up cell: the first context code cell that imports the exercise's checks."""
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and role(cell)[0] is None and "from book.checks." in cell["source"]:
            return i
    raise ExerciseFormatError(f"{where}: no code cell imports the exercise's checks (from book.checks.ex... "
                              "import q1, ...); a translated notebook sets its language there")


def with_language_setup(source: str, language: str) -> str:
    """The set-up cell's ``source`` with :func:`language_setup` after its leading imports."""
    lines = source.split("\n")
    last_import = -1
    for i, line in enumerate(lines):
        if line.startswith(("import ", "from ")):
            last_import = i
        elif line.strip():
            break
    rest = lines[last_import + 1:]
    gap = [""] if rest and rest[0].strip() else []
    return "\n".join(lines[:last_import + 1] + language_setup(language) + gap + rest)


def localised_notebook(learner_nb: dict, language: str, translate, where: str = "notebook") -> dict:
    """The learner notebook ``learner_nb`` in ``language``: the same cells and cell ids, each Markdown message
    replaced by ``translate(message)``, the set-up cell extended by :func:`language_setup`, and the language in
    the metadata (``metadata["exercise"]["language"]``). Every other code cell is the English one."""
    nb = copy.deepcopy(learner_nb)
    for cell in translated_cells(nb):
        cell["source"] = "".join(translate(text) if is_message else text
                                 for text, is_message in markdown_pieces(source_text(cell["source"])))
    setup = nb["cells"][setup_cell_index(nb, where)]
    setup["source"] = with_language_setup(setup["source"], language)
    nb["metadata"]["exercise"][LANGUAGE_KEY] = language
    return nb
