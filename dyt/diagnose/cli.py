"""``python -m dyt.diagnose``: the command line (``validate`` is its own subcommand, ``dyt.diagnose.validate``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DESCRIPTION = """\
Will DyT work in my model, with which alpha? Answered in minutes, before a full run.

Swaps every norm layer for DyT(x) = weight * tanh(alpha * x) + bias in a copy of the model, then:
  1. static:   which norms would be swapped, and where the paper's recipe differs for this kind of model
  2. at init:  one batch: each norm's input std, the share of |alpha x| > 2, the calibrated alpha (1/std)
  3. probe:    the original and the DyT copy (and a calibrated copy with --alpha calibrate) train side by
               side for --steps steps on the same batches from the same seed (AdamW)
  4. predict:  "DyT at alpha X: likely to match / lag / collapse" with a confidence, and the alpha init to use
Writes report.md, report.json and diagnose.png to --out (and a W&B run with --wandb).

Bad input (no norms, a norm DyT cannot replace, a NaN loss at step 0, batches the model cannot take):
one line on stderr naming the fix, exit status 2, nothing written."""

EPILOG = """\
examples:
  python -m dyt.diagnose --timm vit_tiny_patch16_224 --model-kwargs img_size=28 patch_size=4 depth=4
  python -m dyt.diagnose --timm resnet18 --alpha calibrate --steps 100
  python -m dyt.diagnose --experiment gpt                        # LN vs DyT at the paper's width-rule alpha
  python -m dyt.diagnose --experiment vit norm.alpha_init=2 model.kwargs.depth=2
  python -m dyt.diagnose --experiment llama --alpha calibrate    # RMSNorm vs DyT (paper) vs DyT (calibrated)
  python -m dyt.diagnose validate --help                         # the probe against our full runs
  make diagnose EXP=vit

Python: import dyt.diagnose; dyt.diagnose(model, batches, loss_fn=None, steps=150, alpha=None)"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dyt.diagnose", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--timm", metavar="NAME", help="a timm model name, trained on Fashion-MNIST (1x28x28, 10 classes)")
    src.add_argument("--experiment", metavar="EXP", help="one of our experiments (conf/experiment/: vit, convnext, "
                     "resnet, vgg, gpt, llama, ablation): its baseline vs its DyT arm, through our builders")
    p.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                   help="with --experiment: Hydra overrides (norm=dyt_cal, norm.alpha_init=2, model.kwargs.depth=2); "
                        "norm.* and optim.alpha_lr_mult/decay_alpha go to the DyT arm only, the rest to both")
    p.add_argument("--model-kwargs", nargs="*", default=[], metavar="KEY=VALUE",
                   help="with --timm: create_model kwargs (defaults in_chans=1 num_classes=10), "
                        "e.g. img_size=28 patch_size=4")
    p.add_argument("--steps", type=int, default=150, help="probe steps per arm (default 150)")
    p.add_argument("--alpha", default=None, help="alpha init of the DyT copy: 'paper' (default: 0.5, or the LLM "
                   "width rule), a number, or 'calibrate[:target]' (also probe alpha = target / std per layer)")
    p.add_argument("--lr", type=float, default=None, help="AdamW lr (default 1e-3; --experiment: the experiment's)")
    p.add_argument("--weight-decay", type=float, default=0.05, help="with --timm: on >= 2-D parameters (default 0.05)")
    p.add_argument("--batch-size", type=int, default=None, help="images per step (default 64; text: the experiment's)")
    p.add_argument("--kind", default="auto", choices=("auto", "vision", "lm", "diffusion"),
                   help="what the model is, for the recipe notes and the paper's alpha (default: detected)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-batches", type=int, default=4, help="held-out batches for the final losses (default 4)")
    p.add_argument("--name", default=None, help="report name (default: the model or experiment arm)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default results/diagnose/<name>/)")
    p.add_argument("--wandb", action="store_true", help="also log a W&B run (offline without an API key)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def run(args) -> None:
    import torch

    from dyt.diagnose.api import diagnose, run_arms
    from dyt.diagnose.arms import AlphaChoice
    from dyt.diagnose.experiment import experiment_setup, parse_kwargs, timm_setup
    from dyt.diagnose.inputs import DiagnoseError

    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    if args.timm:
        if args.overrides:
            raise DiagnoseError(f"Hydra overrides ({' '.join(args.overrides)}) go with --experiment; "
                                "a timm model takes --model-kwargs key=value")
        name = args.name or args.timm
        model, batch = timm_setup(args.timm, parse_kwargs(args.model_kwargs), args.seed, args.batch_size)
        try:
            d = diagnose(model, batch, steps=args.steps, alpha=args.alpha, lr=args.lr or 1e-3,
                         weight_decay=args.weight_decay, kind=args.kind, seed=args.seed,
                         eval_batches=args.eval_batches, name=name, out=args.out or Path("results/diagnose") / name,
                         progress=args.progress, wandb=args.wandb)
        except DiagnoseError as err:
            shape = "cannot take a batch" in str(err)
            hint = " (Fashion-MNIST is 1x28x28: e.g. --model-kwargs img_size=28)" if shape else ""
            raise DiagnoseError(f"{err}{hint}") from None
    else:
        choice = AlphaChoice.parse(args.alpha)
        name, arms, batches, static, init = experiment_setup(args.experiment, args.overrides, choice, args.steps,
                                                             args.seed, args.batch_size, args.lr, args.eval_batches)
        name = args.name or name
        d = run_arms(name, arms, batches, static=static, init=init, loss_fn=default_loss_fn(), seed=args.seed,
                     progress=args.progress)
        d.seconds = time.perf_counter() - began
        d.save(args.out or Path("results/diagnose") / name, wandb=args.wandb)
        if args.progress:
            print(d.summary())
    if not args.progress:
        print(d.summary())


def default_loss_fn():
    from dyt.diagnose.inputs import default_loss

    return default_loss


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["validate"]:
        from dyt.diagnose.validate_run import main as validate

        return validate(argv[1:])
    args = parser().parse_args(argv)
    from dyt.diagnose.inputs import DiagnoseError

    try:
        run(args)
    except DiagnoseError as err:
        print(f"dyt diagnose: error: {err}", file=sys.stderr)
        return 2
    return 0
