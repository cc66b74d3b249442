# The two commands of the README set themselves up: a local virtual env in $(VENV),
# refreshed whenever pyproject.toml changes.
#
#   make figures   rebuild every figure (quick profile, embedded data) into figures/
#   make test      run the test suite (what .ci/run runs)
#
# On a machine without an NVIDIA GPU we install the CPU build of torch first
# (TORCH_PIN); a bare "torch" requirement would make pip pull a multi-GB CUDA build.
# Override with `make test TORCH_PIN=` to let pip choose.

PYTHON    ?= python3
VENV      ?= .venv
TORCH_PIN ?= torch==2.13.0
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
		$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"; fi
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
