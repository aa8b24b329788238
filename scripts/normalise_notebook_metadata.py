"""Give the course's notebooks the metadata JupyterLab writes on opening them, so that they open unmodified.

    python scripts/normalise_notebook_metadata.py            # chapters/, exercises/ and exercises/solutions/
    python scripts/normalise_notebook_metadata.py A.ipynb    # only the notebooks named
    python scripts/normalise_notebook_metadata.py --check    # list the notebooks that differ; exit status 1 if any
    python scripts/normalise_notebook_metadata.py --show     # what this environment's kernel reports, and whether
                                                             # it matches the committed metadata

JupyterLab 4 replaces a notebook's ``kernelspec`` and ``language_info`` with its kernel's own as soon as the
kernel starts, and marks the notebook modified unless they were equal already -- ``language_info`` in full,
Python version included (measured with JupyterLab 4.6.6 and ipykernel 7.4). So closing a chapter that was only
read asks to save changes the learner never made. This script sets both keys to
``grader.exercise_cells.NOTEBOOK_METADATA`` (the one place that spells them out; ``make exercises`` writes the
same into the learner notebooks) and leaves everything else as it is; files are written the way nbformat
writes them. Run it after changing the course's Python version (and update NOTEBOOK_METADATA first: ``--show``
prints the values of this environment).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, with or without the package installed

from grader.exercise_cells import NOTEBOOK_METADATA, notebook_text, read_notebook  # noqa: E402

FOLDERS = ("chapters", "exercises", "exercises/solutions")


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the book and of the exercises (learner notebooks and solutions)."""
    return sorted(p for folder in FOLDERS for p in (root / folder).glob("*.ipynb"))


def shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def differences(nb: dict) -> list[str]:
    """The metadata keys of ``nb`` that differ from what JupyterLab writes."""
    meta = nb.get("metadata", {})
    return [key for key, value in NOTEBOOK_METADATA.items() if meta.get(key) != value]


def normalised_text(path: Path) -> str:
    nb = read_notebook(path)
    nb.setdefault("metadata", {}).update(copy.deepcopy(NOTEBOOK_METADATA))
    return notebook_text(nb)


def environment_metadata() -> dict:
    """What the ``python3`` kernel of this environment reports: the values JupyterLab writes here."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"kernelspec": {"display_name": spec.display_name, "language": spec.language, "name": "python3"},
            "language_info": dict(sorted(IPythonKernel.language_info.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to normalise (default: all of them)")
    parser.add_argument("--check", action="store_true", help="only list the notebooks that differ")
    parser.add_argument("--show", action="store_true", help="print this environment's kernel metadata")
    args = parser.parse_args(argv)
    if args.show:
        here = environment_metadata()
        print(json.dumps(here, indent=1, sort_keys=True))
        same = here == NOTEBOOK_METADATA
        print("matches grader.exercise_cells.NOTEBOOK_METADATA" if same else
              "differs from grader.exercise_cells.NOTEBOOK_METADATA: notebooks open as modified in this environment")
        return 0 if same else 1
    paths = args.notebooks or course_notebooks()
    changed = []
    for path in paths:
        if not path.is_file() or path.suffix != ".ipynb":
            print(f"error: {path} is not a notebook file (.ipynb)", file=sys.stderr)
            return 2
        text = normalised_text(path)
        if path.read_text(encoding="utf-8") != text:
            changed.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    verb = "differ" if args.check else "rewritten"
    for path in changed:
        print(f"{shown(path)}: {', '.join(differences(read_notebook(path))) or 'layout'} {verb}" if args.check
              else f"{shown(path)}: {verb}")
    print(f"{len(changed)} of {len(paths)} notebooks {verb}.")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
