"""Compose every job of a command line before Hydra launches anything.

Hydra reports a bad override (``norm=foo``, ``norm.alpha_init=abc``) in many
lines after the launcher has started; this check turns it, and the semantic
checks of ``dyt.run.spec.build_spec``, into one line naming the fix, and exit 2.
Command lines it cannot expand (other sweepers, Hydra flags) are left to Hydra.
"""

from __future__ import annotations

from pathlib import Path

_HYDRA_FLAGS_WITH_VALUE = {"-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir"}


def _job_overrides(args: list[str]) -> list[list[str]] | None:
    """The override lists of every job the command line launches, or None to leave it to Hydra."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = []
    for arg in args:
        if arg in ("-m", "--multirun"):
            continue
        if arg.startswith("-") or arg in _HYDRA_FLAGS_WITH_VALUE:
            return None  # --help, --cfg, -c ...: Hydra's business
        if arg.startswith(("hydra.", "hydra/", "+hydra", "~hydra")):
            if arg.startswith("hydra/sweeper"):
                return None  # another sweeper: its own syntax
            continue
        overrides.append(arg)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    except Exception:  # noqa: BLE001 - Hydra will report it in its own words
        return None


def _one_line(err: Exception, group_options) -> str:
    from hydra.errors import MissingConfigException

    text = str(err).strip()
    if isinstance(err, MissingConfigException):
        for line in text.splitlines():
            if "Could not find '" in line:
                missing = line.split("Could not find '", 1)[1].split("'", 1)[0]
                group, _, name = missing.rpartition("/")
                if group:
                    choices = ", ".join(sorted(group_options(group)))
                    return f"unknown {group} {name!r}: choose one of {choices} ({group}=<name>)"
    cause = str(err.__cause__ or "").strip()
    if cause:
        text = f"{text.splitlines()[0].rstrip('.')}: {cause}"
    noise = ("full_key", "object_type", "reference_type")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(noise)]
    return " ".join(lines[:2]) if lines else type(err).__name__


def precheck(args: list[str], conf_dir: Path) -> str | None:
    """``None`` if every job composes and validates, else a one-line message."""
    jobs = _job_overrides(args)
    if jobs is None:
        return None
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from dyt.run.errors import ConfigError
    from dyt.run.spec import build_spec

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            options = GlobalHydra.instance().config_loader().get_group_options
            for job in jobs:
                try:
                    cfg = compose("config", overrides=job)
                    build_spec(cfg)
                except ConfigError as err:
                    return str(err)
                except Exception as err:  # noqa: BLE001 - composition errors of every kind
                    return _one_line(err, options)
    finally:
        GlobalHydra.instance().clear()
    return None
