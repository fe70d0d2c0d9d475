"""The bench's README: machine, goals (met or not), tables of times and ratios, the op-time figure."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from dyt.nn import fused_cpu
from dyt.bench.ops import OPS

GOAL_MIN_C = 384


def machine(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "fused_cpu_kernels": fused_cpu.info() if device.type == "cpu" else None,
            "compiler_target": fused_cpu.compiler_target() if device.type == "cpu" else None,
            "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * page / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        from dyt.run.provenance import code_state

        info["git_sha"], info["git_dirty"] = code_state()
    except Exception:  # provenance is a nicety here
        pass
    return info


def _num(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _fmt_ms(s: dict) -> str:
    return f"{_num(s['median_ms'])} ± {_num((s['q3_ms'] - s['q1_ms']) / 2)}"


def _ratio(rows_results: dict, name: str, base: str, stat: str = "median_ms") -> float | None:
    if name not in rows_results or base not in rows_results:
        return None
    return rows_results[name][stat] / rows_results[base][stat]


def goals(results: dict) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) rows, for what was measured."""
    out = []
    ops = [r for r in results.get("op", []) if not r["channels_first"] and r["C"] >= GOAL_MIN_C]
    for mode in ("fwd", "fwd+bwd"):
        sel = [r for r in ops if r["mode"] == mode]
        if not sel:
            continue
        for base, limit in (("LayerNorm", 1.0), ("copy", 1.5)):
            ratios = [_ratio(r["results"], "DyT fused", base) for r in sel]
            best = [_ratio(r["results"], "DyT fused", base, "min_ms") for r in sel]
            measured = ", ".join(f"C={r['C']}: {v:.2f}x ({b:.2f}x)" for r, v, b in zip(sel, ratios, best))
            what = "LayerNorm" if base == "LayerNorm" else "the copy floor"
            out.append((f"DyT fused {mode} <= {limit:.1f}x {what} at every C >= {GOAL_MIN_C}", measured,
                        max(ratios) <= limit))
    for mode in ("eager", "compiled"):
        for exp in sorted({r["experiment"] for r in results.get("model", [])}):
            by = {r["norm"]: r["results"] for r in results["model"] if r["experiment"] == exp and r["mode"] == mode}
            if "ln" in by and "dyt" in by:
                ratio = by["dyt"]["median_ms"] / by["ln"]["median_ms"]
                out.append((f"{exp} training step with DyT <= 1.0x LN ({mode})", f"{ratio:.2f}x", ratio <= 1.0))
    for r in results.get("trainer", []):
        if "ratio" in r:
            out.append((f"trainer >= 0.95x the bare loop ({r['experiment']})", f"{r['ratio']:.3f}x", r["ratio"] >= 0.95))
    return out


def plot(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in results.get("op", []) if not r["channels_first"]]
    modes = [m for m in ("fwd", "fwd+bwd") if any(r["mode"] == m for r in rows)]
    if not modes:
        return False
    fig, axes = plt.subplots(1, len(modes), figsize=(6.5 * len(modes), 4.8), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        sel = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["C"])
        for name in OPS:
            pts = [(r["C"], r["results"][name]["median_ms"]) for r in sel if name in r["results"]]
            if not pts:
                continue
            style = dict(linestyle="--", color="black", linewidth=1.5) if name == "copy" else dict(marker="o", markersize=4)
            ax.plot(*zip(*pts), label=name + (" (floor)" if name == "copy" else ""), **style)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([r["C"] for r in sel], [str(r["C"]) for r in sel])
        ax.set_xlabel(f"channels C ({sel[0]['shape'][0]} tokens)")
        ax.set_ylabel("time per call (ms, median)")
        ax.set_title(mode)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"DyT vs LayerNorm/RMSNorm vs copy, {results['device']} {results['dtype']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def host(results: dict) -> str:
    """What the numbers hold for: ``AVX2 (AMD EPYC, gcc ..., -march=native = znver3)``, or the GPU."""
    m = results["machine"]
    if results["device"] != "cpu":
        return f"{m.get('gpu', results['device'])}, {results['dtype']}"
    flags = (m.get("fused_cpu_kernels") or {}).get("flags") or ""
    target = m.get("compiler_target") or ("-march=native, target not recorded" if "-march=native" in flags
                                          else "compiler not recorded")
    return f"{m['cpu_capability']} ({m['cpu']}, {target})"


def capability(results: dict) -> str:
    """The folder name of a bench under ``results/bench/``: torch's CPU capability (``AVX2``, ``AVX512``), or cuda."""
    return str(results["machine"]["cpu_capability"]) if results["device"] == "cpu" else "cuda"


def machine_lines(results: dict) -> list[str]:
    m = results["machine"]
    lines = ["## Machine", "",
             f"- CPU: {m['cpu']}, {m['cpu_count']} cores, torch threads {m['torch_threads']}, "
             f"ISA {m['cpu_capability']}, memory {m.get('memory_gib', '?')} GiB",
             f"- compiler and target of the fused kernels: {m.get('compiler_target') or 'not recorded'}",
             f"- device {results['device']}, dtype {results['dtype']}" + (f", GPU {m['gpu']}" if m.get("gpu") else ""),
             f"- torch {m['torch']}, python {m['python']}, {m['platform']}",
             f"- git {m.get('git_sha') or '?'}{' (dirty)' if m.get('git_dirty') else ''}",
             f"- load average (1, 5, 15 min) at start / end: {_load(m.get('load_average_start'))} / "
             f"{_load(m.get('load_average_end'))}" + (" (above the core count: other processes shared the CPU)"
                                                      if _busy_warning(m) else ""),
             f"- glibc malloc {'kept freed memory (no page faults after warm-up; `--system-malloc` to measure them)' if results.get('malloc_keeps_freed_memory') else 'as configured by the system'}"]
    if m.get("fused_cpu_kernels"):
        k = m["fused_cpu_kernels"]
        lines.append(f"- fused CPU kernels: {k.get('flags') or 'unavailable: ' + str(k.get('error'))}"
                     + (", OpenMP" if k.get("openmp") else ""))
    return lines


def op_lines(results: dict, png: str | None) -> list[str]:
    lines = ["", "## Op level", "",
             "Floor (`copy`): forward `x.clone()`; forward+backward `x.clone()` and `g + x` (what any "
             "elementwise layer moves: read x, write y; read g and x, write dx). `compiled`: "
             "`torch.compile(dynamic=True)` of the functional form. `DyT fused`: the default `DyT` "
             "(dyt/nn/fused.py).", ""]
    if png:
        lines += [f"![time vs C]({png})", ""]
    for mode in ("fwd", "fwd+bwd"):
        sel = [r for r in results["op"] if r["mode"] == mode]
        if not sel:
            continue
        names = [n for n in OPS if n in sel[0]["results"]]
        lines += [f"### {mode}: time (ms), {host(results)}", "", "| shape | " + " | ".join(names) + " |",
                  "| --- |" + " ---: |" * len(names)]
        for r in sel:
            lines.append(f"| {r['label']} | " + " | ".join(_fmt_ms(r["results"][n]) for n in names) + " |")
        lines += ["", f"### {mode}: ratio to LayerNorm (to the copy floor), {host(results)}", "",
                  "| shape | " + " | ".join(n for n in names if n != "LayerNorm") + " |",
                  "| --- |" + " ---: |" * (len(names) - 1)]
        for r in sel:
            cells = [f"{_ratio(r['results'], n, 'LayerNorm'):.2f} ({_ratio(r['results'], n, 'copy'):.2f})"
                     for n in names if n != "LayerNorm"]
            lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def model_lines(results: dict) -> list[str]:
    lines = [f"## Model level: one training step (forward, loss, backward, AdamW), {host(results)}", "",
             "The trainer's own step (`dyt.run.trainer.TrainStep`) on synthetic batches of the experiment's shape; "
             "`dyt reference` is `norm.fused=false`.", "",
             "| experiment | mode | LN (ms) | DyT (ms) | DyT reference (ms) | DyT / LN | DyT reference / LN |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for exp in sorted({r["experiment"] for r in results["model"]}):
        for mode in ("eager", "compiled"):
            by = {r["norm"]: r["results"] for r in results["model"] if r["experiment"] == exp and r["mode"] == mode}
            if not by:
                continue
            ln, dy, ref = by.get("ln"), by.get("dyt"), by.get("dyt reference")
            cell = lambda s: _fmt_ms(s) if s else "-"  # noqa: E731
            ratio = lambda s: f"{s['median_ms'] / ln['median_ms']:.2f}" if s and ln else "-"  # noqa: E731
            lines.append(f"| {exp} | {mode} | {cell(ln)} | {cell(dy)} | {cell(ref)} | {ratio(dy)} | {ratio(ref)} |")
    return lines + [""]


def trainer_lines(results: dict) -> list[str]:
    lines = ["## Trainer level: `dyt.run.trainer.fit` vs a bare loop of its step", "",
             "fit with its data pipeline, logging and bookkeeping (eval and checkpoints excluded, as fit "
             "excludes them from its throughput), windows after the first; the bare loop repeats one "
             "batch through the same `TrainStep`. DyT, eager.", "",
             "| experiment | fit (steps/s) | bare loop (steps/s) | fit / bare |", "| --- | ---: | ---: | ---: |"]
    for r in results["trainer"]:
        if "ratio" in r:
            lines.append(f"| {r['experiment']} | {r['trainer_steps_per_s']:.2f} | {r['bare_steps_per_s']:.2f} | "
                         f"{r['ratio']:.3f} |")
        else:
            lines.append(f"| {r['experiment']} | {r['skipped']} | | |")
    return lines + [""]


def readme(results: dict, png: str | None) -> str:
    lines = [f"# DyT speed on {host(results)}: ops, models, trainer", "",
             "Other hosts: [`results/bench/`](../README.md) (one folder per CPU capability).", "",
             f"Generated by `{results['command']}` on {results['date']} in {results['wall_s']:.0f} s "
             f"({'smoke run, tiny shapes: not a measurement' if results['smoke'] else 'full run'}).", "",
             "Every number is a median over repetitions taken in turn with the baselines of the same "
             "table (± half the interquartile range); ratios compare medians of the same run.", "",
             *(_busy_warning(results["machine"])), *machine_lines(results),
             "", "## Goals", "", "Ratios of medians; op level in parentheses: the ratio of the fastest repetitions "
             "(less sensitive to other processes).", "", "| goal | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {goal} | {measured} | {'yes' if met else 'no'} |" for goal, measured, met in goals(results)]
    lines += op_lines(results, png) if results.get("op") else []
    lines += model_lines(results) if results.get("model") else []
    lines += trainer_lines(results) if results.get("trainer") else []
    lines += ["## Why, where a goal is not met", "",
              "Measured explanations (tanh's arithmetic in cache, the memory-bound backward) and what was tried: "
              "[`experiments/speed/README.md`](../../../experiments/speed/README.md).", "",
              "## Rerun", "", "```", f"make bench                          # results/bench/<this CPU's capability>/: "
              f"{results['wall_s'] / 60:.1f} min in this run",
              "python -m dyt.bench --smoke --out /tmp/bench   # seconds, tiny shapes",
              "python -m dyt.bench --device cuda              # bf16 on a GPU: results/bench/cuda/",
              "```", "", "Raw numbers: `results.json`.", ""]
    return "\n".join(lines)


def _busy_warning(m: dict) -> list[str]:
    loads = [v for v in (m.get("load_average_start"), m.get("load_average_end")) if v]
    if not loads or max(v[0] for v in loads) <= (m.get("cpu_count") or 1):
        return []
    return [f"**The machine was busy** (1-minute load average up to {max(v[0] for v in loads):.1f} on "
            f"{m['cpu_count']} cores): other processes took CPU time in turns with this bench, which hits "
            "compute-bound and multi-threaded work hardest; treat the ratios as rough and rerun on an idle "
            "machine.", ""]


def _load(value) -> str:
    return "?" if not value else " ".join(f"{v:.1f}" for v in value)


def index(root: Path) -> Path:
    """``results/bench/README.md``: every committed bench side by side, one row per host kind."""
    import json

    rows = ["# DyT speed per host", "",
            "Generated by `make bench` from the benches under this folder (one per CPU capability: a speed claim "
            "holds for the host it was measured on). Ratios of medians measured side by side in one run; per op "
            f"at C >= {GOAL_MIN_C} (8192 tokens, fp32 on CPU).", "",
            "| host | date | fused DyT / LN, forward | fused DyT / LN, fwd+bwd | training step DyT / LN (eager) | bench |",
            "| --- | --- | --- | --- | --- | --- |"]
    for path in sorted(root.glob("*/results.json")):
        r = json.loads(path.read_text())
        if r.get("smoke"):
            continue
        ops = [o for o in r.get("op", []) if not o["channels_first"] and o["C"] >= GOAL_MIN_C]
        span = lambda v: f"{min(v):.2f}–{max(v):.2f}×" if v else "—"  # noqa: E731
        per = {m: [_ratio(o["results"], "DyT fused", "LayerNorm") for o in ops if o["mode"] == m] for m in ("fwd", "fwd+bwd")}
        steps = {}
        for m in r.get("model", []):
            if m["mode"] == "eager":
                steps.setdefault(m["experiment"], {})[m["norm"]] = m["results"]["median_ms"]
        step = ", ".join(f"{e} {v['dyt'] / v['ln']:.2f}×" for e, v in sorted(steps.items()) if {"ln", "dyt"} <= set(v))
        rows.append(f"| {host(r)} | {r['date']} | {span(per['fwd'])} | {span(per['fwd+bwd'])} | {step or '—'} | "
                    f"[{path.parent.name}/]({path.parent.name}/README.md) |")
    (root / "README.md").write_text("\n".join(rows) + "\n")
    return root / "README.md"
