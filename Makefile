# Two entry points (see README): `make demo` and `make test`. Both build .venv from scratch if needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull several GB of CUDA packages.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
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
	rm -rf $(VENV) demo_out

# The published leaderboard (leaderboard/): train dust_gan, pix2pix, segnet for BUDGET each, evaluate all; resumable.
.PHONY: leaderboard
leaderboard: $(STAMP)
	$(VENV)/bin/dustbench leaderboard reproduce --out leaderboard --work runs/leaderboard --budget $(or $(BUDGET),60m) --resume --publish-weights pretrained
