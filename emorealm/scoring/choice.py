"""Answer scoring for multiple-choice questions.

Two rules, both reported:

* :func:`released_match` — exactly the released EmoReAlM evaluation: the answer counts as correct
  when the correct letter X matches ``\\b[\\(\\[]?X[\\)\\]\\.\\:]?\\b`` case-insensitively anywhere in
  the response. Quirks kept on purpose (numbers must compare with published ones): "A or B" is
  correct for both A and B, and the article "a" counts as option A.
* :func:`parse_choice` — strict: the response must name exactly one option, by its letter or by its
  option text; anything naming none or several is invalid (``None``). Never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPTION = re.compile(r"^\s*[\(\[]?\s*([A-Za-z])\s*[\)\]\.\:]\s*(.*?)\s*$", re.S)


def released_match(response: str, letter: str) -> bool:
    """The released rule: does ``letter`` appear as an option mention in ``response``?"""
    pattern = rf"\b[\(\[]?{re.escape(letter)}[\)\]\.\:]?\b"
    return re.search(pattern, response, flags=re.IGNORECASE) is not None


def split_choices(choices: list[str]) -> list[tuple[str, str]]:
    """``["(A) Yes", "(B) No"]`` → ``[("A", "Yes"), ("B", "No")]``; plain strings get A, B, ..."""
    out = []
    for i, c in enumerate(choices):
        m = _OPTION.match(c)
        if m:
            out.append((m.group(1).upper(), m.group(2)))
        else:
            out.append((chr(ord("A") + i), c.strip()))
    return out


@dataclass(frozen=True)
class Parsed:
    """Result of strict parsing: the one option named, or why there is none."""

    letter: str | None
    reason: str  # "letter", "text", "none", "several"


def _letter_mentions(text: str, letters: list[str]) -> set[str]:
    found: set[str] = set()
    cls = "".join(letters)
    if not cls:
        return found
    # bracketed: (A) [b] ( C )
    found |= {m.upper() for m in re.findall(rf"[\(\[]\s*([{cls}])\s*[\)\]]", text, flags=re.I)}
    # introduced: "answer: C", "answer is (b)", "option D", "choice A"
    found |= {m.upper() for m in re.findall(
        rf"\b(?:answer|option|choice)\s*(?:is|would be|:|-)?\s*[\(\[]?([{cls}])\b", text, flags=re.I)}
    # the whole response is a letter, optionally followed by punctuation: "B", "c.", "A)"
    m = re.fullmatch(rf"\s*([{cls}])\s*[\)\]\.\:]?\s*", text, flags=re.I)
    if m:
        found.add(m.group(1).upper())
    # a leading letter with punctuation: "B. Because ..." / "d) sadness"
    m = re.match(rf"\s*([{cls}])\s*[\)\]\.\:]\s", text, flags=re.I)
    if m:
        found.add(m.group(1).upper())
    # standalone capitals; "A" only when it is not the article ("A person is ...")
    for m in re.finditer(rf"(?<![\w'])([{cls.upper()}])(?![\w'])", text):
        letter = m.group(1)
        nxt = text[m.end():]
        if letter == "A" and re.match(r"\s+(?!or\b|and\b|nor\b)[a-z]", nxt):
            continue
        found.add(letter)
    return found


def _text_mentions(text: str, options: list[tuple[str, str]]) -> set[str]:
    low = text.lower()
    found = set()
    for letter, opt in options:
        opt_l = opt.lower().strip().rstrip(".")
        if opt_l and re.search(rf"(?<![\w]){re.escape(opt_l)}(?![\w])", low):
            found.add(letter)
    return found


def parse_choice(response: str, choices: list[str]) -> Parsed:
    """Strictly parse ``response`` against ``choices``: exactly one option named, else invalid."""
    options = split_choices(choices)
    letters = [letter for letter, _ in options]
    by_letter = _letter_mentions(response, letters)
    by_text = _text_mentions(response, options)
    named = by_letter | by_text
    if len(named) == 1:
        return Parsed(next(iter(named)), "letter" if by_letter else "text")
    return Parsed(None, "none" if not named else "several")


def is_yes_no(choices: list[str]) -> bool:
    """True for the yes/no tasks' options ``(A) Yes (B) No``."""
    texts = [t.lower() for _, t in split_choices(choices)]
    return texts == ["yes", "no"]
