"""The teacher's report of a class grading (Markdown), written beside the CSV by ``python -m grader FOLDER``.

Per exercise: how many learners got each question and the most common failure messages; each learner's points
and flags; answers identical (up to formatting and names, :mod:`grader.similarity`) to the model solution or to
another learner's; answers flagged for reaching past the question (:mod:`grader.evasions`); the files that could
not be graded and why.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from book.questions import CORRECT, INCORRECT, NOT_ATTEMPTED

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
MIN_NODES = 12  # answers smaller than this (a = 0.1) coincide by themselves: not compared


def _cell(text) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _pattern(message: str) -> str:
    """A failure message with its numbers masked: the same mistake on different random inputs groups together."""
    return NUMBER.sub("#", " ".join(message.split()))


def model_fingerprints(exercise: str) -> dict:
    from book.questions import exercise_catalog
    from grader.similarity import fingerprint

    spec = exercise_catalog().get(exercise, {})
    return {q["id"]: fingerprint(q["solution"]) for q in spec.get("questions", [])}


def similarity_groups(grades: list[tuple[str, object]]) -> dict[str, list[tuple[list[str], bool, int]]]:
    """Per question: groups of learners whose answers are identical (learners, identical to the model solution,
    size of the answer in AST nodes); a group of one appears only when it matches the model solution."""
    if not grades:
        return {}
    exercise = grades[0][1].exercise
    model = model_fingerprints(exercise)
    by_question: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    sizes: dict[tuple[str, str], int] = {}
    for learner, g in grades:
        for q, fp in g.fingerprints.items():
            if fp is not None and fp.size >= MIN_NODES:
                by_question[q][fp.digest].append(learner)
                sizes[q, fp.digest] = fp.size
    out = {}
    for q, groups in sorted(by_question.items()):
        found = []
        for digest, learners in groups.items():
            is_model = model.get(q) is not None and model[q].digest == digest
            if len(learners) > 1 or is_model:
                found.append((sorted(learners), is_model, sizes[q, digest]))
        if found:
            out[q] = sorted(found, key=lambda f: (-len(f[0]), f[0]))
    return out


def report(rows) -> str:
    """The Markdown report of ``rows`` as returned by :func:`grader.grade.grade_folder`."""
    # a row holds a Grade or the one line saying why the file could not be graded (checked as "not a string",
    # so that the report does not depend on which module object the Grade class came from)
    graded = [(learner, g) for learner, _, g in rows if not isinstance(g, str)]
    failed = [(learner, g) for learner, _, g in rows if isinstance(g, str)]
    lines = ["# Class grading report", ""]
    boxes = Counter(g.sandbox for _, g in graded)
    lines.append(f"{len(rows)} files: {len(graded)} graded, {len(failed)} could not be graded. "
                 + ("Sandbox: " + ", ".join(f"{k} ({n})" for k, n in sorted(boxes.items())) + "." if boxes else ""))
    if boxes.get("none"):
        lines.append("")
        lines.append("**Warning:** some notebooks ran without the sandbox: their code ran with the grader's rights.")
    lines.append("")
    lines.append("Each grading drew fresh inputs for the checks (its seed is in the JSON output: `--seed` repeats "
                 "it). Flags cost no points by themselves: they say which answers to read.")
    by_exercise: dict[str, list] = defaultdict(list)
    for learner, g in graded:
        by_exercise[g.exercise].append((learner, g))
    for exercise, grades in sorted(by_exercise.items()):
        lines += _exercise_section(exercise, grades)
    if failed:
        lines += ["", "## Not graded", "", "| learner | why |", "| --- | --- |"]
        lines += [f"| {_cell(learner)} | {_cell(why)} |" for learner, why in failed]
    return "\n".join(lines) + "\n"


def _exercise_section(exercise: str, grades: list) -> list[str]:
    first = grades[0][1]
    lines = ["", f"## Exercise {exercise}: {first.title}", "",
             f"{len(grades)} learners; pass mark {100 * first.pass_mark:.0f} %; "
             f"{sum(g.passed for _, g in grades)} passed; "
             f"mean {sum(g.percent for _, g in grades) / len(grades):.0f} %."]
    lines += ["", "### Per question", "",
              "| question | points | correct | incorrect | not attempted | judged |",
              "| --- | ---: | ---: | ---: | ---: | --- |"]
    failures: dict[str, Counter] = defaultdict(Counter)
    examples: dict[tuple[str, str], str] = {}
    for q_index, q in enumerate(first.questions):
        statuses = Counter()
        judged = Counter()
        for _, g in grades:
            result = g.questions[q_index] if q_index < len(g.questions) else None
            if result is None:
                continue
            statuses[result.status] += 1
            judged[result.judged] += 1
            if result.status != CORRECT:
                pattern = _pattern(result.message)
                failures[q.id][pattern] += 1
                examples.setdefault((q.id, pattern), result.message)
        where = ", ".join(f"{k} ({n})" if len(judged) > 1 else k for k, n in judged.items())
        lines.append(f"| {q.id} {_cell(q.title)} | {q.max_points} | {statuses[CORRECT]} | {statuses[INCORRECT]} | "
                     f"{statuses[NOT_ATTEMPTED]} | {where} |")
    common = [(q.id, failures[q.id].most_common(3)) for q in first.questions if failures[q.id]]
    if common:
        lines += ["", "Most common failure messages:", ""]
        for q, top in common:
            for pattern, n in top:
                lines.append(f"- {q} ({n}×): {_cell(examples[q, pattern])}")
    lines += ["", "### Per learner", "", "| learner | points | % | passed | flags |",
              "| --- | ---: | ---: | --- | ---: |"]
    for learner, g in sorted(grades):
        lines.append(f"| {_cell(learner)} | {g.score}/{g.max_score} | {g.percent:.0f} | "
                     f"{'yes' if g.passed else 'no'} | {len(g.flags)} |")
    groups = similarity_groups(grades)
    lines += ["", "### Identical answers (up to formatting and names)", ""]
    if not groups:
        lines.append("None found.")
    for q, found in groups.items():
        for learners, is_model, size in found:
            share = f"{len(learners)} of {len(grades)}"
            what = "identical to the model solution" if is_model else "identical to each other"
            lines.append(f"- {q}: {what}: {', '.join(learners)} ({share} learners; {size} AST nodes"
                         + ("; a common answer, likely written independently" if len(learners) > len(grades) / 3
                            and len(grades) >= 6 else "") + ")")
    flagged = [(learner, f) for learner, g in sorted(grades) for f in g.flags]
    lines += ["", "### Flags: answers that reach past the question", ""]
    if not flagged:
        lines.append("None.")
    else:
        lines += ["| learner | question | kind | what |", "| --- | --- | --- | --- |"]
        lines += [f"| {_cell(learner)} | {f.question or '-'} | {f.kind} | {_cell(f.detail)} |"
                  for learner, f in flagged]
    notes = Counter(n for _, g in grades for n in g.notes)
    if notes:
        lines += ["", "### Notes", ""] + [f"- {_cell(n)} ({k}×)" for n, k in notes.most_common()]
    return lines
