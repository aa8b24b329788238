# The course's commands. The two in the README:
#   make book   set everything up, build the executed book into _build/html, in English and (in _build/html/zh_CN)
#               in Chinese (make serve: and serve it)
#   make test   set everything up, run every test (what CI runs)
# Each set-up step is idempotent: a second run only redoes what changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Idle OpenMP threads sleep instead of spinning. `import book` sets this too (book/__init__.py says why and what
# it measured); exported here for the processes the targets start before any of them imports book.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: help setup venv data web-assets fonts browser sandbox book serve lab test bench grade exercises catalogues lock clean

help:
	@echo "make book    build the executed book into _build/html, the Chinese edition into _build/html/zh_CN (make serve: build, then serve on :$(PORT))"
	@echo "make test    run every test: package, solutions under nbval, the book build (it runs every chapter) in a browser"
	@echo "make lab     open the chapters in JupyterLab"
	@echo "make data    where each data set is found (installs Debian's Fashion-MNIST where it can)"
	@echo "make grade NB=exercises/02_cross_entropy.ipynb   grade a notebook (NB=folder/: a CSV, one row per learner)"
	@echo "make exercises   regenerate the learner notebooks from exercises/solutions/"
	@echo "make catalogues  after editing a chapter or a quiz: update the translation catalogues locales/*/LC_MESSAGES/ (CONTRIBUTING.md)"
	@echo "make bench   time the data pipelines, the accuracy after 10 epochs, the book build, the grader, the monitor (a long while: two whole-book builds among them)"
	@echo "make clean   remove _build (keeps .venv and .web_assets)"

$(BIN)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

venv: $(BIN)/.installed

data: venv
	scripts/setup_system.sh data
	$(BIN)/python -m book.data

web-assets:
	scripts/install_web_assets.sh

browser:
	scripts/setup_system.sh browser

# A font with Chinese glyphs for the figures' Chinese drawings (Debian: installed here); fails, naming the package,
# where matplotlib finds none.
fonts: venv
	scripts/setup_system.sh fonts
	$(BIN)/python -m book.figure_language font

# bubblewrap: every submission graded in a folder runs in its own sandbox.
sandbox:
	scripts/setup_system.sh sandbox

setup: venv data web-assets fonts

# Both editions, one site: English into _build/html (executing what changed, cache in _build/.jupyter_cache), then
# Chinese into _build/html/zh_CN from the same cache (it executes nothing), each with -W -n --keep-going.
book: setup
	$(BIN)/python scripts/i18n.py build
	@echo "The book is in _build/html: open _build/html/intro.html (中文版: _build/html/zh_CN/intro.html), or run 'make serve'."

serve: book
	@echo "Serving the book at http://localhost:$(PORT)/intro.html, 中文版 at http://localhost:$(PORT)/zh_CN/intro.html (Ctrl-C stops)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lab: setup
	$(BIN)/jupyter lab chapters

# Two pytest-xdist workers, whole test modules each, in the order tests/conftest.py gives (the book's tests last:
# the book builds beside the others); the build keeps a core and the workers share the rest.
test: setup browser
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# Grade one notebook (a table; exit status 1 below the pass mark) or a folder of submissions (CSV on stdout;
# GRADE_ARGS="--csv grades.csv" writes a file). See `.venv/bin/python -m grader --help`.
grade: venv sandbox
	@test -n "$(NB)" || { echo "usage: make grade NB=exercises/02_cross_entropy.ipynb  (or NB=a folder of notebooks)"; exit 2; }
	$(BIN)/python -m grader "$(NB)" $(GRADE_ARGS)

# The learner notebooks exercises/*.ipynb are generated from exercises/solutions/*.ipynb: never edit them by hand.
exercises: venv
	$(BIN)/python -m grader.make_exercises

# After editing a chapter's text or a quiz: bring the catalogues locales/*/LC_MESSAGES/*.po up to date (new
# messages empty, changed ones fuzzy, translations kept); no notebook is executed. See CONTRIBUTING.md.
catalogues: venv
	$(BIN)/python scripts/i18n.py update

# Not part of `make test`: timings are measured and printed, never asserted. The course package's benchmark (the
# pipelines and the accuracy, which the Performance page teaches), then the repository's benchmarks/: the whole
# book's build and one grading, the grader on every exercise and a class folder, the monitor and the explorers.
# Options: BENCH_ARGS for book.bench, WHOLE_COURSE_ARGS=--skip-book, GRADING_ARGS="--repeats 1"
# (`.venv/bin/python -m book.bench --help`, `... -m benchmarks.whole_course --help`, ...).
bench: setup sandbox browser
	$(BIN)/python -m book.bench $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.whole_course $(WHOLE_COURSE_ARGS)
	$(BIN)/python -m benchmarks.grading $(GRADING_ARGS)
	$(BIN)/python -m benchmarks.widgets

lock: venv
	( echo "# Every package of the course environment, transitive ones included, as tested. Generated by 'make lock';"; \
	  echo "# requirements.txt names the direct dependencies and reads this file with -c."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' ) > constraints.txt

clean:
	rm -rf _build
