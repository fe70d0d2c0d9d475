"""``norm.alpha_init``, parsed in one place: a number, ``auto`` (the paper's LLM width rule) or ``calibrate[:<target>]``.

Pure Python (the config layer's resolvers call it while Hydra composes): ``parse_alpha_init`` is the only
function that reads the string; everything downstream gets an ``AlphaInit``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dyt.run.errors import ConfigError
from dyt.run.identity import canonical

VALUE, AUTO, CALIBRATE = "value", "auto", "calibrate"  # the kinds of alpha init
DEFAULT_TARGET = 1.0  # calibrate = calibrate:1: alpha * x has unit std, LayerNorm's normalized scale


@dataclass(frozen=True)
class AlphaInit:
    """A parsed alpha init. ``kind``: ``value`` (``value`` is alpha), ``auto`` (resolved from the model's
    width), ``calibrate`` (``value`` is the target ``alpha * std(input)``). ``text`` is the value as written."""

    kind: str
    value: float = math.nan
    text: str = ""

    @property
    def calibrated(self) -> bool:
        return self.kind == CALIBRATE

    @property
    def tag(self) -> str:
        """Run-dir label, one per value however it is spelled: ``a0.5``, ``a1`` (``1``, ``1.0`` and ``1e0``),
        ``aauto``, ``cal1`` (``calibrate:2`` and ``:2.0`` share ``cal2``)."""
        if self.calibrated:
            return f"cal{canonical(str(self.value))}"
        return f"a{canonical(self.text)}" if self.kind == VALUE else f"a{self.text}"


def parse_alpha_init(value, key: str = "norm.alpha_init") -> AlphaInit:
    """The one parser of an alpha init; ``ConfigError`` naming the fix for anything else."""
    text = str(value).strip()
    if text == AUTO:
        return AlphaInit(AUTO, text=text)
    if text.startswith(CALIBRATE):
        rest = text[len(CALIBRATE):]
        try:
            target = DEFAULT_TARGET if rest == "" else float(rest[1:]) if rest.startswith(":") else None
        except ValueError:
            target = None
        if target is None:
            raise ConfigError(f"{key}={text!r}: write calibrate or calibrate:<target>, e.g. calibrate:2")
        if not math.isfinite(target) or target <= 0:
            raise ConfigError(f"{key}={text!r}: the calibration target must be a number > 0 (calibrate:1)")
        return AlphaInit(CALIBRATE, target, text)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0 or isinstance(value, bool):
        raise ConfigError(f"{key} must be a number > 0, auto or calibrate[:<target>], got {value!r} (the paper uses 0.5)")
    return AlphaInit(VALUE, number, text)


def alpha_tag(alpha_init, attn=None, mlp=None, final=None) -> str:
    """Run-dir label of a norm's alpha keys (the ``alpha_tag`` resolver of ``conf/norm/*.yaml``): the init's tag,
    then GPT per-position inits when given (``aauto-attn1-mlp0.25``); a calibrated init sets every alpha itself."""
    try:
        parsed = parse_alpha_init(alpha_init)
    except ConfigError:  # malformed: the run's validation names the fix; the tag only has to be a string
        text = str(alpha_init)
        return "cal" + text.partition(":")[2] if text.startswith(CALIBRATE) else f"a{canonical(text)}"
    if parsed.calibrated:
        return parsed.tag
    positions = {"attn": attn, "mlp": mlp, "final": final}
    return parsed.tag + "".join(f"-{k}{canonical(str(v))}" for k, v in positions.items() if v is not None)


_TAG = re.compile(r"^(?P<head>.+?-a)(?P<alpha>[^+]+?)(?P<positions>(?:-(?:attn|mlp|final)[^-+]+)*)(?P<rest>\+.*)?$")


def canonical_arm(arm: str) -> str:
    """The label a run dir's arm has today: an alpha spelled ``1.0`` or ``1e0`` in an older run's tag reads as
    ``1`` (``dyt-a1.0+lr-0.002`` -> ``dyt-a1+lr-0.002``), so its records report under today's name."""
    m = _TAG.match(arm)
    if m is None:
        return arm
    positions = re.sub(r"-(attn|mlp|final)([^-+]+)", lambda p: f"-{p.group(1)}{canonical(p.group(2))}",
                       m.group("positions") or "")
    return f"{m.group('head')}{canonical(m.group('alpha'))}{positions}{m.group('rest') or ''}"
