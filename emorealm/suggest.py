""""Did you mean" suggestions for unknown names (tasks, adapters, presets, options, config keys)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names most like ``name`` (case- and ``-``/``_``-insensitive), best first."""
    known = list(dict.fromkeys(known))
    norm = {k.lower().replace("-", "_"): k for k in known}
    key = name.lower().replace("-", "_")
    if key in norm:
        return [norm[key]]
    found = difflib.get_close_matches(key, list(norm), n=n, cutoff=0.6)
    return [norm[f] for f in found]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or ``""``."""
    found = close_matches(name, known)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)"


def unknown_names_message(what: str, unknown: Iterable[str], known: Iterable[str]) -> str:
    """``unknown <what>: 'a' (did you mean 'b'?); known: ...``."""
    known = sorted(dict.fromkeys(known))
    parts = [f"{u!r}{did_you_mean(u, known)}" for u in unknown]
    return f"unknown {what}: {', '.join(parts)}; known: {', '.join(known)}"
