"""A tree of run dirs in the format the suite wrote before run identities had suffixes (``runs/<name>/<tag>/seed<k>``).

Fixture data for the reports: ``config.yaml`` (the resolved config, composed from ``conf/`` as ``dyt.train``
saved it, GPT runs with their ``resolved`` block), ``summary.json``, ``metrics.jsonl`` and, for a multirun
job that raised, ``failed.json``. Numbers are synthetic and deterministic; every arm the reports and
``results/REPORT.md`` know appears, with diverged and failed runs among them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from omegaconf import OmegaConf

from tests.conftest import REPO

PROVENANCE = {"git_sha": "0123456789abcdef0123456789abcdef01234567", "git_dirty": False, "python": "3.11.7",
              "versions": {"torch": "2.14.1", "torchvision": "0.29.1", "timm": "1.0.31", "hydra-core": "1.3.8",
                           "wandb": "0.31.0", "datasets": "5.2.0", "numpy": "2.4.6"},
              "device": "cpu (x86_64, 2 threads)", "host": "fixture"}
VIT_LAYERS = [f"blocks.{i}.norm{j}" for i in range(6) for j in (1, 2)] + ["fc_norm"]
GPT_LAYERS = [f"blocks.{i}.norm_{p}" for i in range(4) for p in ("attn", "mlp")] + ["norm_final"]
CNN_LAYERS = ["bn1", "layer1.0.bn1", "layer1.0.bn2", "layer4.1.bn2"]
# config keys the schema gained after this format: a legacy config.yaml does not have them
NEWER_KEYS = ("arm", "trainer.extend", "optim.alpha_lr_mult", "optim.decay_alpha", "model.kwargs.mlp")


@lru_cache(maxsize=None)
def _base(*overrides: str) -> dict:
    from dyt.run.schema import compose

    return OmegaConf.to_container(compose(*overrides), resolve=False)


def _config(overrides: tuple[str, ...], norm_name: str, seed: int, **keys) -> dict:
    """The resolved config of ``overrides + norm=<norm_name> + seed``, as Hydra composes it (norm file over the schema)."""
    base = OmegaConf.create(_base(*overrides))
    norm_file = OmegaConf.load(REPO / "conf" / "norm" / f"{norm_name}.yaml")
    cfg = OmegaConf.merge(base, {"norm": norm_file}, {"seed": seed}, keys)
    config = OmegaConf.to_container(cfg, resolve=True)
    for key in NEWER_KEYS:
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        node.pop(leaf, None)
    config["out_dir"] = f"{config['runs_root']}/{config['name']}/{config['norm']['tag']}/seed{seed}"
    return config


def _rows(rng, steps: int, every: int, evals: list[int], layers: list[str], final_loss: float, final_acc: float,
          alpha0: float | None, text: bool) -> list[dict]:
    rows = []
    for step in range(every, steps + 1, every):
        frac = step / steps
        row = {"step": step, "epoch": round(frac * 3, 4), "train/loss": round(final_loss * (1.6 - 0.6 * frac) + 0.01 * rng.standard_normal(), 5),
               "lr": round(1e-3 * (1 - frac), 8), "throughput": round(1300 + 20 * rng.standard_normal(), 2)}
        if alpha0 is not None:
            for i, layer in enumerate(layers):
                std = 0.5 + 0.3 * i + frac
                row[f"alpha/{layer}"] = round(alpha0 * (1 + 0.1 * frac) + 0.01 * i, 5)
                row[f"input_std/{layer}"] = round(std + 0.02 * rng.standard_normal(), 5)
        if step in evals:
            row["val/loss"] = round(final_loss * (1.3 - 0.3 * frac) + 0.005 * rng.standard_normal(), 5)
            row["val/acc1"] = round(final_acc * (0.8 + 0.2 * frac) + 0.1 * rng.standard_normal(), 4)
        rows.append(row)
    return rows


def write_run(root: Path, path: str, config: dict, *, acc: float, loss: float, status: str = "completed",
              steps: int = 60, layers: list[str] | None = None, text: bool = False, calibration: dict | None = None,
              note: str | None = None, seed_noise: int = 0, failed: str | None = None) -> Path:
    """One run dir at ``root/path`` holding ``config`` and synthetic metrics around ``acc``/``loss``."""
    run = root / path
    run.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash_str(path)) % 2**32 + seed_noise)
    if failed:
        record = {"status": "failed", "error": failed, "traceback": "Traceback (most recent call last):\n  ...\n",
                  "config": config}
        (run / "failed.json").write_text(json.dumps(record, indent=1, default=str))
        return run
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dyt_like = config["norm"]["name"] not in ("ln", "rmsnorm", "bn", "none")
    start = None
    if dyt_like:
        try:
            start = float(config["norm"]["alpha_init"])
        except (TypeError, ValueError):
            start = 1.0
    end = steps if status == "completed" else steps // 3
    rows = _rows(rng, steps, 10, [steps // 2, steps], layers or [], loss, acc, start if dyt_like else None, text)
    rows = [r for r in rows if r["step"] <= end]
    if status == "diverged":
        rows[-1]["train/loss"] = "nan"
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    batch = config["data"]["batch_size"]
    block = config["data"].get("block_size") if text else None
    summary = {"status": status, "step": end, "max_steps": steps, "epochs": end / 234,
               "final/train_loss": rows[-1]["train/loss"] if status == "completed" else "nan"}
    if status == "completed":
        summary.update({"final/val/loss": loss, "final/val/acc1": acc})
    seconds = 50.0 + float(rng.uniform(0, 10))
    summary.update({"train_seconds": seconds, "samples_per_second": end * batch / seconds})
    if block:
        summary.update({"tokens_seen": end * batch * block, "tokens_per_second": end * batch * block / seconds})
    if note:
        summary["alpha_init_note"] = note
    if calibration:
        summary["calibration"] = calibration
        (run / "calibration.json").write_text(json.dumps(calibration, indent=1))
    summary.update({"peak_lr": 0.001, "precision": "fp32", "num_params": 123456, **PROVENANCE,
                    "command": f"python -m dyt.train experiment={config['name']} norm={config['norm']['name']}"})
    (run / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if text and status == "completed":
        (run / "sample.txt").write_text("\nKING HENRY:\nWhat say you, lords? " + path.replace("/", " ") + "\n")
    return run


def hash_str(text: str) -> int:
    """A hash that is the same in every process (``hash()`` of a str is salted)."""
    return int.from_bytes(text.encode()[:16].ljust(16, b"\0"), "little") ^ len(text) * 2654435761


def _arm(root: Path, overrides: tuple[str, ...], norm: str, tag: str, values: list[tuple[float, float]], *,
         folder: str | None = None, layers=None, text=False, statuses=None, calibrated=False, gpt=False,
         extra: dict | None = None, note: str | None = None) -> None:
    for seed, (acc, loss) in enumerate(values):
        config = _config(overrides, norm, seed, **(extra or {}))
        if gpt and config["norm"]["name"] not in ("ln", "rmsnorm"):
            config["resolved"] = {"alpha_attn": 1.0, "alpha_mlp": 1.0, "alpha_final": 1.0,
                                  "embed_scale": config["model"]["arch"] == "llama" or bool(config["norm"].get("embed_scale")),
                                  "alpha_rule": note or "width 128 outside the paper's table: nearest width 1024"}
        status = (statuses or {}).get(seed, "completed")
        calibration = ({"target": 1.0, "alphas": {layer: round(2.0 + i + 0.1 * seed, 4) for i, layer in enumerate(layers or [])}}
                       if calibrated else None)
        write_run(root, f"{folder or config['name']}/{tag}/seed{seed}", config, acc=acc, loss=loss, status=status,
                  layers=layers, text=text, calibration=calibration, note=note if not calibrated else
                  "calibrated: alpha = 1 / std(input) on the first training batch")


def write_legacy_tree(root: Path) -> Path:
    """Every experiment of the suite as run dirs under ``root`` (``root/<experiment>/<tag>/seed<k>``)."""
    vit = ("experiment=vit",)
    _arm(root, vit, "ln", "ln", [(86.0, 0.452), (85.9, 0.450), (86.3, 0.453)])
    _arm(root, vit, "dyt", "dyt-a0.5", [(78.2, 0.676), (76.0, 0.72), (76.2, 0.73)], layers=VIT_LAYERS)
    _arm(root, vit, "dyt_cal", "dyt-cal1", [(85.0, 0.489), (85.3, 0.486), (84.8, 0.491)], layers=VIT_LAYERS, calibrated=True)
    gpt = ("experiment=gpt",)
    note = "width 128 outside the paper's table: nearest width 1024"
    _arm(root, gpt, "ln", "ln", [(30.7, 2.3925), (29.7, 2.4318), (30.1, 2.42)], text=True, gpt=True)
    for norm, tag, loss in (("dyt", "dyt-aauto", 3.2537), ("dyt_embed", "dyt-embed-aauto", 3.2537),
                            ("derf", "derf-aauto", 3.2537), ("dyisru", "dyisru-aauto", 3.2538)):
        _arm(root, gpt, norm, tag, [(15.41, loss), (15.41, loss + 1e-4), (15.41, loss - 1e-4)], layers=GPT_LAYERS,
             text=True, gpt=True, note=note)
    _arm(root, gpt, "dyt_cal", "dyt-cal1", [(28.1, 2.547), (28.0, 2.55), (28.3, 2.545)], layers=GPT_LAYERS, text=True,
         gpt=True, calibrated=True)
    for norm, tag, loss in (("derf", "derf-cal1", 2.55), ("dyisru", "dyisru-cal1", 2.563)):
        _arm(root, gpt, norm, tag, [(28.0, loss), (27.9, loss + 0.004), (28.1, loss - 0.003)], layers=GPT_LAYERS,
             text=True, gpt=True, calibrated=True, extra={"norm": {"alpha_init": "calibrate"}})
    llama = ("experiment=llama",)
    _arm(root, llama, "rmsnorm", "rmsnorm", [(44.0, 1.93), (43.8, 1.94), (44.1, 1.935)], text=True, gpt=True)
    _arm(root, llama, "dyt", "dyt-aauto", [(16.0, 3.17), (16.1, 3.18), (15.9, 3.17)], layers=GPT_LAYERS, text=True,
         gpt=True, note=note)
    _arm(root, llama, "dyt_cal", "dyt-cal1", [(17.0, 3.03), (16.8, 3.05), (17.1, 3.01)], layers=GPT_LAYERS, text=True,
         gpt=True, calibrated=True)
    resnet, vgg = ("experiment=resnet",), ("experiment=vgg",)
    _arm(root, resnet, "bn", "bn", [(83.4, 0.5), (83.9, 0.49), (82.9, 0.51)])
    _arm(root, resnet, "dyt", "dyt-a0.5", [(72.0, 0.8), (71.4, 0.82), (72.6, 0.79)], layers=CNN_LAYERS)
    _arm(root, resnet, "dyt_zil", "dyt-zil-a0.5", [(52.8, 1.3), (50.1, 1.4), (55.4, 1.2)], layers=CNN_LAYERS)
    _arm(root, resnet, "dyt_pc", "dyt-pc-a0.5", [(71.2, 0.82), (71.0, 0.83), (71.5, 0.81)], layers=CNN_LAYERS)
    _arm(root, resnet, "dyt_cal", "dyt-cal1", [(81.1, 0.55), (79.5, 0.6), (82.6, 0.52)], layers=CNN_LAYERS, calibrated=True)
    _arm(root, ("experiment=resnet", "model=nf_resnet26_small", "trainer=resnet_cpu_agc"), "none", "nf",
         [(79.6, 0.6), (79.3, 0.61), (79.8, 0.59)])
    _arm(root, vgg, "bn", "bn", [(87.4, 0.4), (87.0, 0.41), (87.8, 0.39)])
    _arm(root, vgg, "dyt", "dyt-a0.5", [(43.4, 1.6), (40.0, 1.7), (46.8, 1.5)], layers=CNN_LAYERS, statuses={2: "diverged"})
    _arm(root, vgg, "dyt_cal", "dyt-cal1", [(78.1, 0.7), (77.0, 0.72), (79.2, 0.68)], layers=CNN_LAYERS, calibrated=True)
    convnext = ("experiment=convnext",)
    _arm(root, convnext, "ln", "ln", [(85.7, 0.45), (85.4, 0.46), (86.0, 0.44)])
    _arm(root, convnext, "dyt", "dyt-a0.5", [(76.8, 0.7), (76.6, 0.71), (77.0, 0.69)], layers=VIT_LAYERS)
    _arm(root, convnext, "dyt_cal", "dyt-cal1", [(86.8, 0.42), (86.6, 0.43), (87.0, 0.41)], layers=VIT_LAYERS, calibrated=True)
    ablation = ("experiment=ablation",)
    for norm, tag, accs in (("ln", "ln", (80.8, 80.5, 81.1)), ("dyt", "dyt-a0.5", (65.6, 66.0, 65.2)),
                            ("hardtanh", "hardtanh-a0.5", (67.1, 66.8, 67.4)), ("sigmoid", "sigmoid-a0.5", (38.8, 39.5, 38.1)),
                            ("dyt_noalpha", "dyt-noalpha-a0.5", (64.8, 65.1, 64.5)),
                            ("hardtanh_noalpha", "hardtanh-noalpha-a0.5", (66.0, 66.3, 65.7)),
                            ("sigmoid_noalpha", "sigmoid-noalpha-a0.5", (37.0, 37.5, 36.5)),
                            ("derf", "derf-a0.5", (66.5, 66.9, 66.1)), ("dyisru", "dyisru-a0.5", (64.9, 65.3, 64.4))):
        _arm(root, ablation, norm, tag, [(a, 1.0 - a / 100) for a in accs],
             layers=VIT_LAYERS if norm != "ln" else None)
    _arm(root, ablation, "identity", "identity-a0.5", [(66.4, 0.9), (66.0, 0.91), (66.8, 0.89)], layers=VIT_LAYERS,
         statuses={2: "diverged"})
    sweep = ("+sweep=alpha_vit", "trainer=vit_sweep")
    _arm(root, sweep, "ln", "ln", [(80.8, 0.53), (80.6, 0.54), (81.0, 0.52)])
    for alpha, accs in (("0.05", (48.2, 48.6, 47.8)), ("0.5", (65.6, 66.0, 65.2)), ("1", (71.2, 71.5, 70.9)),
                        ("4", (79.8, 80.1, 79.5))):
        _arm(root, sweep, "dyt", f"dyt-a{alpha}", [(a, 1.0 - a / 100) for a in accs], layers=VIT_LAYERS,
             extra={"norm": {"alpha_init": float(alpha) if "." in alpha else int(alpha)}},
             statuses={2: "diverged"} if alpha == "4" else None)
    _arm(root, sweep, "dyt", "dyt-cal1", [(78.0, 0.6), (78.4, 0.59)], layers=VIT_LAYERS, calibrated=True,
         extra={"norm": {"alpha_init": "calibrate"}})
    failed = _config(sweep, "dyt", 0, norm={"alpha_init": 2})
    write_run(root, "sweep_alpha_vit/dyt-a2/seed0", failed, acc=0, loss=0, failed="RuntimeError: out of memory")
    gpt_sweep = ("+sweep=alpha_gpt", "trainer=gpt_sweep")
    for width in (128, 256):
        extra = {"model": {"kwargs": {"n_embd": width}}}
        _arm(root, gpt_sweep, "ln", "ln", [(30.0, 2.45 - width / 5000)], folder=f"sweep_alpha_gpt/w{width}", text=True,
             extra=extra)
        for a in (0.25, 1.0, 4.0):
            for o in (0.25, 1.0):
                ex = {**extra, "norm": {"alpha_attn": a, "alpha_mlp": o}}
                _arm(root, gpt_sweep, "dyt", f"dyt-aauto-attn{a:g}-mlp{o:g}-final{o:g}",
                     [(15.4, 3.25 - 0.1 * a - 0.05 * o)], folder=f"sweep_alpha_gpt/w{width}", layers=GPT_LAYERS,
                     text=True, extra=ex, statuses={0: "diverged"} if (a, o, width) == (4.0, 1.0, 256) else None)
    return root
