# Two entry points (see README): `make demo` and `make test`. Both build .venv from scratch if needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

LOCK   := requirements.lock
PIP_VERSION := 26.3

.PHONY: demo test bench clean lock test-latest

# A failing command inside a pipe fails the recipe (a failed `pip freeze` must not write a lock).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

# Installs go through the lock (exact versions): a new release of a dependency never changes what
# make demo / make test / CI run. The CPU build of torch first: an unpinned torch would pull
# several GB of CUDA packages. dustbench itself last, without resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c "import sys; v = '%d.%d' % sys.version_info[:2]; want = open('$(LOCK)').read().split('# python ')[1].split()[0]; \
	  sys.exit(0 if v == want else f'$(LOCK) was made for Python {want}, this is {v}: run make with PYTHON=python{want}')"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install pip==$(PIP_VERSION)
	$(PY) -m pip install torch==2.13.0 -c $(LOCK)  # torch's own dependencies at the lock's versions too
	$(PY) -m pip install -r $(LOCK)
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/dustbench synth --clean builtin --out demo_out --n 8 --seed 0 --presets 'negative_scan_heavy,slide_medium,vertical_rain_scratches,hair_and_lint_mix'
	$(VENV)/bin/dustbench preview --presets 'dust_*' --out demo_out/preview_dust.png

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_synthesis.py
	$(PY) benchmarks/bench_fit.py --quick

clean:
	rm -rf $(VENV) .venv-lock .venv-latest demo_out

# Regenerate the lock: a fresh venv resolved from pyproject.toml's ranges (newest allowed), frozen.
# Run `make test` afterwards: the golden tests name any package whose new release changed bytes.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install pip==$(PIP_VERSION) torch==2.13.0
	.venv-lock/bin/python -m pip install hatchling editables -e ".[dev]"
	{ awk '/^# python /{next} /^#/{print; next} {exit}' $(LOCK); \
	  .venv-lock/bin/python -c "import sys; print('# python %d.%d' % sys.version_info[:2])"; \
	  .venv-lock/bin/python -m pip freeze --all --exclude-editable | { grep -v -e '^#' -e '^torch==' -e '^pip==' || true; }; \
	  echo 'torch==2.13.0'; } > $(LOCK).new && mv $(LOCK).new $(LOCK)
	rm -rf .venv-lock

# The suite against the newest versions pyproject.toml allows: drift reported as a finding (the
# drifted packages, then the test summary), never a red `make test`.
test-latest:
	rm -rf .venv-latest && $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --upgrade pip && .venv-latest/bin/python -m pip install torch==2.13.0
	echo 'torch==2.13.0' > .venv-latest/torch-cpu.txt  # the newest of everything else, torch kept at the CPU build
	.venv-latest/bin/python -m pip install --upgrade --upgrade-strategy eager -c .venv-latest/torch-cpu.txt -e ".[dev]"
	.venv-latest/bin/python -c "from dustbench.lockfile import drift_note; print('test-latest:', drift_note())"
	-.venv-latest/bin/python -m pytest -q -p no:cacheprovider

# The published leaderboard (leaderboard/): train dust_gan, pix2pix, segnet for BUDGET each, evaluate all; resumable.
.PHONY: leaderboard
leaderboard: $(STAMP)
	$(VENV)/bin/dustbench leaderboard reproduce --out leaderboard --work runs/leaderboard --budget $(or $(BUDGET),60m) --resume --publish-weights pretrained
