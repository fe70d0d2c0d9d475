"""One run, from the Hydra config to its run dir: schema, spec, builders, the trainer (``python -m dyt.train``).

``dyt.run.load_trained(run_dir)`` brings a finished run back (config, model with its weights, data); it loads
on first use, so the config layer (``dyt.run.alpha``, ``dyt.run.identity``) imports without torch.
"""

__all__ = ["load_trained"]


def __getattr__(name: str):
    if name == "load_trained":
        from dyt.run.trained import load_trained

        return load_trained
    raise AttributeError(f"module 'dyt.run' has no attribute {name!r}")
