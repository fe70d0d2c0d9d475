"""Every key a run's ``metrics.jsonl`` (and its W&B history) can hold: what the trainer logs and what the
dashboards (``dyt.reports.wandb_views``) reference, in one place that imports nothing."""

LOGGED = ("train/loss", "lr", "throughput", "epoch", "grad_norm", "val/loss", "val/acc1", "val_ema/loss",
          "val_ema/acc1", "train_eval/loss", "train_eval/acc1")  # the scalars of a row (grad_norm with norm clipping,
# val_ema/* with EMA, train_eval/* in the last row: the training samples' loss in eval mode, for the train-val gap)
PER_LAYER = ("alpha/", "input_std/", "sat/", "resid_std/")  # prefixes, followed by a module path
