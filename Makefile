# The two commands of the README set themselves up: a local virtual env in $(VENV),
# refreshed whenever pyproject.toml changes.
#
#   make figures   rebuild every figure (quick profile, embedded data) into figures/
#   make test      run the test suite (what .ci/run runs)
#
# On a machine without an NVIDIA GPU we install torch first, pinned (TORCH_PIN), so
# that the project's permissive `torch>=2.1` then installs nothing more.  Where a
# local CPU wheel of that version is at hand (this project's CI machines) pip takes
# it; on a stock Linux machine PyPI's torch wheel is the CUDA build (several GB).
# For a CPU-only build there, point TORCH_INDEX at PyTorch's CPU wheel index:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# `make test TORCH_PIN=` skips the pin and lets pip choose.

PYTHON    ?= python3
VENV      ?= .venv
TORCH_PIN ?= torch==2.13.0
TORCH_INDEX ?=
JOBS      ?= 2
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed

.PHONY: all venv test test-fast figures proofs bench clean clean-venv help

help:
	@echo "make figures   rebuild every figure and table (quick profile) into figures/"
	@echo "make test      run the test suite in a fresh local virtual env"
	@echo "make proofs    run every proofs_check claim (quick profile) into proofs_report/"
	@echo "make bench     run the benchmarks in bench/"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if [ -n "$(TORCH_PIN)" ] && ! command -v nvidia-smi >/dev/null 2>&1; then \
		$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)") "$(TORCH_PIN)"; fi
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -p no:cacheprovider tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -p no:cacheprovider -m "not slow" tests

figures: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m paper_repro run all --profile quick

proofs: $(STAMP)
	$(BIN)/python -m proofs_check --profile quick --out proofs_report

bench: $(STAMP)
	$(BIN)/python bench/bench_eoc_curve.py
	$(BIN)/python bench/bench_engine.py

clean:
	rm -rf .pytest_cache .hypothesis build *.egg-info

clean-venv:
	rm -rf $(VENV)
