"""One parser for what users type as options: ``key=value`` lists, booleans, modalities and the
generation request lm-eval hands an adapter.

Every adapter, task loader and config reader parses through here, so ``true``/``yes``/``1`` mean
the same everywhere and a typo (``do_sample=ture``) is a :class:`~emorealm.errors.ConfigError` with
a "did you mean" — never a silent ``False``. This module is a foundation: it imports nothing of the
project above ``errors`` and ``suggest``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emorealm.errors import ConfigError
from emorealm.suggest import did_you_mean, unknown_names_message

TRUE_WORDS = ("true", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "no", "n", "off", "0")
# the media kinds a doc can carry and a model can be given, in prompt order
MODALITIES = ("video", "audio")
# what every built-in adapter reads from lm-eval's gen_kwargs (see :func:`parse_generation`)
GEN_KWARGS = ("until", "max_gen_toks", "temperature", "do_sample", "top_p", "top_k")


def parse_bool(value: Any, name: str = "option") -> bool:
    """A strict boolean: ``True``/``False``, ``1``/``0``, or one of :data:`TRUE_WORDS` /
    :data:`FALSE_WORDS` (any case; the empty string is false, as an unset environment variable).

    Anything else raises ConfigError naming ``name`` and the closest word.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS or text == "":
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean{did_you_mean(text, TRUE_WORDS + FALSE_WORDS)}; "
                      "use true or false")


def _convert(text: str) -> Any:
    # lm-eval's own conversion (true/false/none, ints, floats, quoted strings), so a value means what
    # it would mean on lm-eval's command line
    from lm_eval.utils import handle_arg_string

    return handle_arg_string(text)


def parse_kv(text: str | None, what: str) -> dict[str, Any]:
    """``"a=1,b=x"`` → ``{"a": 1, "b": "x"}`` (numbers, booleans and ``none`` converted as lm-eval
    does; ``'...'`` keeps a string). ``what`` names the option in errors (``--model-args``).

    Refused with ConfigError: an item without ``=`` (lm-eval would read ``b`` in ``a=1,b`` as
    ``b=""``), an empty key, and a key given twice.
    """
    if not text or not str(text).strip():
        return {}
    out: dict[str, Any] = {}
    for item in str(text).split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"cannot parse {what} {text!r}: {item.strip()!r} is not key=value "
                              "(expected key=value,key=value; a value cannot hold a comma)")
        if key in out:
            raise ConfigError(f"{what} gives {key!r} twice ({text!r}); keep one")
        out[key] = _convert(value)
    return out


def parse_modalities(value: Any, what: str = "modalities",
                     default: tuple[str, ...] | None = MODALITIES) -> tuple[str, ...] | None:
    """``"video+audio"`` / ``"audio"`` / ``"none"`` / a sequence → the named modalities in
    :data:`MODALITIES` order (``+``, ``,``, ``;`` and ``/`` separate). ``None`` or ``""`` → ``default``.

    An unknown name raises ConfigError with a suggestion.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    raw = str(value).replace(",", "+").replace(";", "+").replace("/", "+").split("+") \
        if isinstance(value, str) else [str(p) for p in value]
    parts = [p.strip().lower() for p in raw if p.strip()]
    parts = [p for p in parts if p != "none"]
    bad = [p for p in parts if p not in MODALITIES]
    if bad:
        hints = "".join(did_you_mean(b, MODALITIES) for b in bad)
        raise ConfigError(f"unknown {what} {bad}{hints}; use any of {'+'.join(MODALITIES)} (or none)")
    return tuple(m for m in MODALITIES if m in parts)


def parse_number(value: Any, name: str, kind: type = float) -> Any:
    """``value`` as an ``int`` or a finite ``float`` (``kind``); anything else (``"many"``, ``2.5`` for
    an integer, ``inf``) raises ConfigError naming ``name``."""
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)  # int() would truncate 2.5 to 2 without a word
        num = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}={value!r} is not a{'n integer' if kind is int else ' number'}") from exc
    if isinstance(num, float) and not math.isfinite(num):
        raise ConfigError(f"{name}={value!r} is not a finite number")
    return num


@dataclass(frozen=True)
class GenerationRequest:
    """What one ``generate_until`` request asks for, read from lm-eval's ``gen_kwargs``.

    Sampling needs both ``temperature > 0`` and ``do_sample`` (default: sampling when the
    temperature is positive); a greedy request has ``temperature`` 0 and no ``top_p``/``top_k``.
    """

    until: tuple[str, ...]  # stop sequences (empty ones dropped)
    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float | None = None
    top_k: int | None = None

    @property
    def sampling(self) -> dict[str, float | int]:
        """The sampling knobs given (``temperature``, ``top_p``, ``top_k``); empty when greedy."""
        if not self.do_sample:
            return {}
        out: dict[str, float | int] = {"temperature": self.temperature}
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.top_k is not None:
            out["top_k"] = self.top_k
        return out


def parse_generation(gen_kwargs: Mapping[str, Any] | None, default_max_tokens: int,
                     known: tuple[str, ...] | None = None) -> GenerationRequest:
    """The :class:`GenerationRequest` of lm-eval's ``gen_kwargs`` (``until`` a string or a list,
    ``max_gen_toks``, ``temperature``, ``do_sample``, ``top_p``, ``top_k``).

    A value of the wrong type raises ConfigError; so does a key outside ``known`` when ``known`` is
    given (the up-front check of ``--gen-kwargs``; a task's own extra keys are left to the adapter).
    """
    kw = dict(gen_kwargs or {})
    unknown = [k for k in kw if known is not None and k not in known]
    if unknown:
        raise ConfigError(unknown_names_message("gen_kwargs key(s)", unknown, known))
    until = kw.get("until")
    if until is None:
        stops: tuple[str, ...] = ()
    elif isinstance(until, str):
        stops = (until,) if until else ()
    elif isinstance(until, (list, tuple)) and all(isinstance(s, str) for s in until):
        stops = tuple(s for s in until if s)
    else:
        raise ConfigError(f"gen_kwargs until={until!r} must be a string or a list of strings")
    max_new = parse_number(kw.get("max_gen_toks", default_max_tokens), "gen_kwargs max_gen_toks", int)
    if max_new < 1:
        raise ConfigError(f"gen_kwargs max_gen_toks={max_new} must be at least 1")
    temperature = parse_number(kw.get("temperature") or 0.0, "gen_kwargs temperature")
    if temperature < 0:
        raise ConfigError(f"gen_kwargs temperature={temperature:g} must not be negative")
    do_sample = parse_bool(kw.get("do_sample", temperature > 0), "gen_kwargs do_sample") and temperature > 0
    if not do_sample:
        return GenerationRequest(stops, max_new, False, 0.0)
    top_p = None if kw.get("top_p") is None else parse_number(kw["top_p"], "gen_kwargs top_p")
    top_k = None if kw.get("top_k") is None else parse_number(kw["top_k"], "gen_kwargs top_k", int)
    return GenerationRequest(stops, max_new, True, temperature, top_p, top_k)
