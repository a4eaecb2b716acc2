"""Free text → emotion label, two ways.

* :func:`released_map` reproduces ``description2emotion`` of the released AVERE evaluation code
  (ihp-lab/AVERE, ``evaluate/tasks/evaluate_emotion_dfew.py`` and
  ``evaluate_emotion_ravdess_video.py``, commit 78b8b555) behaviour for behaviour, quirks included,
  so that ``uar``/``war``/``macro_f1``/``acc`` compare with published numbers. Its keyword lists are
  data in ``emorealm/data/released_keywords.json``.
* :func:`strict_map` reads the synonym table ``emorealm/data/emotion_synonyms.json``: whole-word and
  phrase matching, negation by whole words and phrases with a bounded scope, and **no fallback** —
  text that names no emotion of the label set is invalid (``None``).

:func:`extract_emotions` uses the same table for open-vocabulary scoring (EMER).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

# ---------------------------------------------------------------------------------------------
# released behaviour
# ---------------------------------------------------------------------------------------------

# Sentence split of the released remove_neg_sentences: after "." or "?" followed by whitespace,
# except after abbreviations like "e.g." (w.w.) or "Mr." (Xx.). Reproduced as is.
_RELEASED_SPLIT = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?)\s")
# First sentence: everything up to the first . ! or ? — "." does not cross a newline, which is why
# the released code throws on answers with a line break before any punctuation.
_RELEASED_FIRST = re.compile(r"^(.*?)[.!?]")
_WORD = re.compile(r"\b\w+\b")


@lru_cache(maxsize=1)
def released_tables() -> dict[str, Any]:
    """The released keyword lists, check order and negation substrings (cached)."""
    text = resources.files("emorealm.data").joinpath("released_keywords.json").read_text(encoding="utf-8")
    data = json.loads(text)
    data["keyword_sets"] = {k: frozenset(v) for k, v in data["keywords"].items()}
    return data


@dataclass(frozen=True)
class ReleasedMapping:
    """Outcome of :func:`released_map`.

    ``label`` is ``None`` exactly when the released code raised on this text (empty answer, or a
    line break before the first punctuation); the released evaluation silently dropped such
    samples from its denominator (``dropped``). ``fallback`` marks answers with no keyword at all,
    which the released code scores as ``happiness``.
    """

    label: str | None
    dropped: bool = False
    fallback: bool = False
    source: str = ""  # "first_sentence" | "rest" | "fallback" | "dropped"


def released_map(text: str) -> ReleasedMapping:
    """Map ``text`` to one of the 7 released labels exactly as the released evaluation did.

    The released ``evaluate`` lower-cases and strips the answer before calling
    ``description2emotion``; both steps are part of this function.
    """
    tables = released_tables()
    order: list[str] = tables["check_order"]
    sets: dict[str, frozenset[str]] = tables["keyword_sets"]
    neg: list[str] = tables["negative_substrings"]

    description = text.strip().lower()
    if not description:
        return ReleasedMapping(None, dropped=True, source="dropped")  # description[-1] raised
    if description[-1] != ".":
        description += "."
    sentences = _RELEASED_SPLIT.split(description)
    # negation by substring: "no" also drops "annoyed", "know", "nor" drops "normal"
    kept = [s for s in sentences if not any(n in s.lower() for n in neg)]
    positive = " ".join(kept) or description
    m = _RELEASED_FIRST.match(positive)
    if m is None:
        return ReleasedMapping(None, dropped=True, source="dropped")  # .group() on None raised
    first, rest = m.group(1), _RELEASED_FIRST.sub("", positive)
    for word in _WORD.findall(first.lower()):
        for emo in order:  # fixed order: "serious" is anger before neutral
            if word in sets[emo]:
                return ReleasedMapping(emo, source="first_sentence")
    counts = dict.fromkeys(order, 0)
    for word in _WORD.findall(rest.lower()):
        for emo in order:
            if word in sets[emo]:
                counts[emo] += 1
    best = max(counts, key=lambda k: counts[k])  # ties and all-zero: first in order
    if counts[best] == 0:
        return ReleasedMapping(best, fallback=True, source="fallback")
    return ReleasedMapping(best, source="rest")


# ---------------------------------------------------------------------------------------------
# strict behaviour
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*|[.,;:!?\n]")
_BREAK_PUNCT = frozenset(".,;:!?\n")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (apostrophes and hyphens kept inside words) and punctuation."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Lexicon:
    """The strict synonym table, compiled for phrase matching."""

    version: int
    groups: dict[str, str | None]  # group -> parent
    phrases: dict[tuple[str, ...], tuple[str, str]]  # token tuple -> (kind, value)
    max_len: int
    max_scope: int
    breakers: frozenset[str]

    def lookup_group(self, phrase: str) -> str | None:
        """The group of a word or phrase of the table, or ``None``."""
        hit = self.phrases.get(tuple(tokenize(phrase)))
        return hit[1] if hit and hit[0] == "emotion" else None


def build_lexicon(table: dict[str, Any]) -> Lexicon:
    """Compile a synonym table (the JSON's structure) into a :class:`Lexicon`."""
    phrases: dict[tuple[str, ...], tuple[str, str]] = {}
    groups: dict[str, str | None] = {}
    for name, spec in table["groups"].items():
        groups[name] = spec.get("parent")
        for w in spec["words"]:
            key = tuple(tokenize(w))
            if key in phrases and phrases[key] != ("emotion", name):
                raise ValueError(f"synonym table lists {w!r} under two groups")
            phrases[key] = ("emotion", name)
    neg = table["negation"]
    for w in neg["cues"]:
        phrases.setdefault(tuple(tokenize(w)), ("negation", w))
    for w in neg["non_negating_phrases"]:
        phrases[tuple(tokenize(w))] = ("plain", w)
    for parent in groups.values():
        if parent is not None and parent not in groups:
            raise ValueError(f"synonym table: unknown parent group {parent!r}")
    return Lexicon(
        version=int(table.get("version", 0)),
        groups=groups,
        phrases=phrases,
        max_len=max(len(k) for k in phrases),
        max_scope=int(neg["max_scope_tokens"]),
        breakers=frozenset(neg["scope_breakers"]),
    )


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged synonym table ``emorealm/data/emotion_synonyms.json``."""
    text = resources.files("emorealm.data").joinpath("emotion_synonyms.json").read_text(encoding="utf-8")
    return build_lexicon(json.loads(text))


@dataclass(frozen=True)
class Mention:
    """One emotion word or phrase found in a text."""

    group: str
    start: int  # token index
    text: str
    negated: bool


def find_mentions(text: str, lexicon: Lexicon | None = None) -> list[Mention]:
    """Every emotion mention in ``text`` in order, each marked negated or not.

    A negation cue (``not``, ``never``, ``isn't``, ``without``, ``rather than``...) negates the emotion
    words that follow it within ``max_scope_tokens`` tokens, unless a scope breaker comes first
    (punctuation, ``but``, ``and``, ``however``...). Longest phrases match first, so "no emotion" is
    an emotion (neutral), "not only" is not a negation.
    """
    lex = lexicon or default_lexicon()
    toks = tokenize(text)
    out: list[Mention] = []
    neg_at: int | None = None  # token index where the active negation scope started
    i = 0
    while i < len(toks):
        hit = None
        for n in range(min(lex.max_len, len(toks) - i), 0, -1):
            hit = lex.phrases.get(tuple(toks[i:i + n]))
            if hit:
                break
        else:
            n = 1
        tok = toks[i]
        if hit is None and (tok in _BREAK_PUNCT or tok in lex.breakers):
            neg_at = None
        elif hit is not None and hit[0] == "negation":
            neg_at = i + n - 1
        elif hit is not None and hit[0] == "emotion":
            negated = neg_at is not None and i - neg_at <= lex.max_scope
            out.append(Mention(hit[1], i, " ".join(toks[i:i + n]), negated))
        if neg_at is not None and i - neg_at > lex.max_scope:
            neg_at = None
        i += n
    return out


def resolve_group(group: str, labels: Iterable[str], lexicon: Lexicon | None = None) -> str | None:
    """``group`` if it is a label, else the nearest parent that is, else ``None``."""
    lex = lexicon or default_lexicon()
    label_set = set(labels)
    seen: set[str] = set()
    g: str | None = group
    while g is not None and g not in seen:
        if g in label_set:
            return g
        seen.add(g)
        g = lex.groups.get(g)
    return None


@dataclass(frozen=True)
class StrictMapping:
    """Outcome of :func:`strict_map`: ``label`` is ``None`` when the answer is invalid."""

    label: str | None
    mentions: tuple[Mention, ...] = field(default_factory=tuple)

    @property
    def invalid(self) -> bool:
        return self.label is None


def strict_map(text: str, labels: Sequence[str], lexicon: Lexicon | None = None) -> StrictMapping:
    """The first non-negated emotion mention of ``text`` that resolves into ``labels``.

    Nothing found (or only negated or out-of-set emotions) gives ``label=None``: invalid, never a
    guess.
    """
    lex = lexicon or default_lexicon()
    mentions = tuple(find_mentions(text, lex))
    for m in mentions:
        if m.negated:
            continue
        label = resolve_group(m.group, labels, lex)
        if label is not None:
            return StrictMapping(label, mentions)
    return StrictMapping(None, mentions)


def extract_emotions(text: str, lexicon: Lexicon | None = None) -> list[str]:
    """Distinct emotion groups asserted (not negated) in ``text``, in order of first mention."""
    out: list[str] = []
    for m in find_mentions(text, lexicon):
        if not m.negated and m.group not in out:
            out.append(m.group)
    return out


def normalise_reference(words: Iterable[str], lexicon: Lexicon | None = None) -> list[str]:
    """Reference emotion words → groups; a word not in the table stays as itself (lower case)."""
    lex = lexicon or default_lexicon()
    out: list[str] = []
    for w in words:
        w = w.strip().lower()
        if not w:
            continue
        g = lex.lookup_group(w) or w
        if g not in out:
            out.append(g)
    return out
