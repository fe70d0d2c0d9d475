"""Hugging Face hub datasets that fail in seconds, with a message naming the fix, when the hub is out of reach."""

from __future__ import annotations

import os

from dyt.run.errors import DataError
from dyt.run.net import reachable


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to the hub? (False when HF_HUB_OFFLINE is set.)"""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    return reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"), timeout)


def load_hub_dataset(name: str, config: str | None = None, split: str | None = None, *, fix: str = "", **kwargs):
    """``datasets.load_dataset`` that never hangs offline.

    When the hub cannot be reached, only the local Hugging Face cache is tried
    (``HF_DATASETS_OFFLINE``), which answers at once, instead of ~23 s of retries per call.
    """
    import datasets

    online = hub_reachable()
    if not online:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
        datasets.config.HF_HUB_OFFLINE = True
        datasets.config.HF_DATASETS_OFFLINE = True
    try:
        return datasets.load_dataset(name, config, split=split, **kwargs)
    except Exception as err:  # noqa: BLE001 - datasets raises many types; all mean "not available"
        where = "the hub is unreachable and it is not in the local HF cache" if not online else f"loading failed ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
        hint = fix or ("run where huggingface.co is reachable; for gated sets accept the terms on its page "
                       "and `huggingface-cli login`")
        raise DataError(f"dataset {name!r}: {where}; {hint}") from None
