"""``grader``: the repository's grader of the exercise notebooks, run from the repository's root.

    python -m grader NOTEBOOK|FOLDER        # grade one notebook, or a class folder into a CSV and a report
    python -m grader.make_exercises         # regenerate exercises/*.ipynb and book/checks/catalog.json

It is tooling, not course material: it depends on the course package ``book`` (the questions, their checkers,
the recording protocol), and ``book`` never imports it; the learners' install (``pip install`` of the package,
as the chapters' set-up cell does in Colab) holds no grader (tests/test_layout.py holds both to it).

- ``grader.__main__``       -- the command line: arguments, the table or CSV, exit status;
- ``grader.grade``          -- one notebook graded (pristine copy + answers, run, judged) and a folder of them;
- ``grader.run``            -- one run of a graded notebook under nbval, sandboxed or not, read back as data;
- ``grader.stage``          -- the sandbox's reduced copy of ``book``: the exercise's context, never its answers;
- ``grader.sandbox``        -- the sandbox itself (bubblewrap, rlimits, a throw-away uid, held-out label files);
- ``grader.evasions``       -- answers that reach past the question (the watch, the answer key, the grader);
- ``grader.similarity``     -- answers' fingerprints, up to formatting and names (identical answers in a class);
- ``grader.report``         -- the teacher's Markdown report of a class grading;
- ``grader.exercise_cells`` -- which cell of an exercise notebook is an answer, a check, or fixed text;
- ``grader.make_exercises`` -- learner notebooks and the catalogue generated from ``exercises/solutions/``.
"""
