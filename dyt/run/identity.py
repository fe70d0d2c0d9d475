"""A run's identity: which config keys name its run dir, and which may differ when a run dir is reused.

``runs/<experiment>/<arm>/seed<seed>``: ``arm`` is the norm's tag (norm and alpha, as ``conf/norm/*.yaml``
writes it) plus a suffix for every other command-line override that changes what is trained
(``+lr-1e6``, ``+trainer-smoke+max_steps-20``; a hash past ``MAX_SUFFIX`` characters). So a sweep over any
key gets one run dir per job, and a run made with the defaults keeps the name it always had. An override that
sets what the config holds without it changes nothing and names nothing: the resolver (``dyt.run.schema``)
composes the config without it and passes its key in ``exclude``, so every spelling of one run is one dir.

Keys that do not change what is trained (where to log, how often to evaluate, threads, progress bars)
name nothing and may change when a run resumes. The budget (``trainer.max_steps``, ``trainer.epochs``)
names the run like any other key: a longer budget has its own schedule, so it is another run, unless
``trainer.extend=true`` asks to continue this one. Pure Python: the config layer's resolvers call it.
"""

from __future__ import annotations

import hashlib
import re

# keys that change nothing about what is trained (prefixes: "logger" covers logger.*)
BOOKKEEPING = ("trainer.progress", "trainer.diagnostics", "trainer.device", "trainer.threads", "trainer.eval_every", "trainer.ckpt_every",
               "trainer.log_every", "trainer.extend", "logger", "data.num_workers", "data.path", "runs_root", "out_dir",
               "arm", "resolved")
# keys already in the run dir's path (experiment name, seed, and what the norm's tag spells: the norm chosen and
# its alpha inits) or outside the run config; any other norm.* key (norm.name, embed_scale, ...) names the run
IN_PATH = ("name", "seed", "experiment", "sweep", "launcher", "hydra", "norm.alpha_init", "norm.alpha_attn",
           "norm.alpha_mlp", "norm.alpha_final", "norm.tag", "model.default_alpha_init")
NORM_GROUP = "norm"  # the group choice (norm=dyt): the tag says it
BUDGET = ("trainer.max_steps", "trainer.epochs")
ALPHA_KEYS = ("norm.alpha_init", "norm.alpha_attn", "norm.alpha_mlp", "norm.alpha_final", "norm.alpha_per_channel",
              "model.default_alpha_init")  # what a norm without alpha ignores
DERIVED = ("norm.tag",)  # spelled from other keys (an older run may spell its alpha 1.0 where today's says 1)
MAX_SUFFIX = 64


def _matches(key: str, prefixes) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def split_override(override: str) -> tuple[str, str] | None:
    """``(dotted key, value)`` of a Hydra override string (``+a.b=1``, ``trainer=smoke``, ``hydra/launcher=x``)."""
    if override.startswith("~"):
        return override.lstrip("~").split("=", 1)[0].replace("/", "."), "deleted"
    key, sep, value = override.lstrip("+").partition("=")
    return (key.replace("/", "."), value) if sep else None


def canonical(value: str) -> str:
    """One spelling per value, however a command line (``1e6``, ``True``) or a multirun's expansion (``1000000.0``,
    ``true``) writes it: integers as written, other numbers in ``%g`` form (as run dirs have always been named)
    unless that rounds them, then their shortest exact form; ``true``/``false``/``null``."""
    low = value.strip().lower()
    if low in ("true", "false", "null", "none"):
        return "null" if low == "none" else low
    try:
        return str(int(value))
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    text = f"{number:g}" if float(f"{number:g}") == number else repr(number)
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), text)


def naming_overrides(overrides, exclude=()) -> list[tuple[str, str]]:
    """The ``(key, value)`` overrides that name a run: every one but bookkeeping, path and ``exclude`` keys, and
    the budget when ``trainer.extend=true`` asks to continue the run of the shorter budget in its own dir."""
    parsed = [p for p in (split_override(str(o)) for o in overrides) if p]
    extend = any(k == "trainer.extend" and canonical(v) == "true" for k, v in parsed)
    skip = BOOKKEEPING + IN_PATH + tuple(exclude) + (BUDGET if extend else ())
    return sorted({k: canonical(v) for k, v in parsed if k != NORM_GROUP and not _matches(k, skip)}.items())


def run_suffix(overrides, exclude=()) -> str:
    """``""`` for a run with the defaults, else ``+<key>-<value>...`` (last key component; the full key where
    two share it), or ``+cfg-<hash>`` when that would be longer than ``MAX_SUFFIX``."""
    items = naming_overrides(overrides, exclude)
    if not items:
        return ""
    short = [key.rsplit(".", 1)[-1] for key, _ in items]
    names = [s if short.count(s) == 1 else key for s, (key, _) in zip(short, items)]
    suffix = "".join(f"+{name}-{re.sub(r'[^A-Za-z0-9._-]+', '_', value).strip('_') or '_'}"
                     for name, (_, value) in zip(names, items))
    if len(suffix) > MAX_SUFFIX:
        canonical = ",".join(f"{k}={v}" for k, v in items)
        suffix = "+cfg-" + hashlib.sha1(canonical.encode()).hexdigest()[:10]
    return suffix


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_diff(old: dict, new: dict, *, extend: bool = False, alpha_free: bool = False,
                defaults: dict | None = None) -> list[str]:
    """Keys whose values differ between two resolved run configs and make them different runs: not the
    bookkeeping keys, not the budget when ``extend``, not the alpha keys of a norm without alpha
    (``alpha_free``: an LN baseline inside an alpha sweep is one run). A key only the new config has (the
    schema gained it since the old run) counts as differing when its value is not its default (``defaults``,
    flattened); one only the old config has (the schema dropped it) does not."""
    a, b = flatten(old), flatten(new)
    ignore = BOOKKEEPING + DERIVED + (BUDGET if extend else ()) + (ALPHA_KEYS if alpha_free else ())
    differ = {k for k in a.keys() & b.keys() if a[k] != b[k]}
    differ |= {k for k in b.keys() - a.keys() if defaults is not None and k in defaults and b[k] != defaults[k]}
    return sorted(k for k in differ if not _matches(k, ignore))
