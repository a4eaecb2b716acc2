"""The released letter rule and the strict parser on realistic answers."""

from __future__ import annotations

import pytest

from emorealm.scoring.choice import is_yes_no, parse_choice, released_match, split_choices

FOUR = ["(A) The person feels happiness.", "(B) The person feels sadness.",
        "(C) The person feels anger.", "(D) The person feels fear."]
YN = ["(A) Yes", "(B) No"]

# response, choices, letters the released rule accepts, strict parse
CASES = [
    ("A", FOUR, {"A"}, "A"),
    ("(B)", FOUR, {"B"}, "B"),
    ("[C]", FOUR, {"C"}, "C"),
    ("D.", FOUR, {"D"}, "D"),
    ("c", FOUR, {"C"}, "C"),
    ("Answer: C", FOUR, {"C"}, "C"),
    ("The answer is (B).", FOUR, {"B"}, "B"),
    ("answer is d", FOUR, {"D"}, "D"),
    ("B) sadness", FOUR, {"B"}, "B"),
    ("Option D", FOUR, {"D"}, "D"),
    ("C: anger", FOUR, {"C"}, "C"),
    ("A or B", FOUR, {"A", "B"}, None),                     # released quirk: both count
    ("(A) and (C)", FOUR, {"A", "C"}, None),
    ("a person who is sad", FOUR, {"A"}, None),              # quirk: the article counts as A
    ("A person who is angry", FOUR, {"A"}, None),
    ("I am not sure.", FOUR, set(), None),
    ("", FOUR, set(), None),
    ("The person feels sadness.", FOUR, set(), "B"),         # strict finds the full option text of (B)
    ("sadness", FOUR, set(), None),                          # option text is the full sentence, not the word
    ("Yes", YN, set(), "A"),
    ("No", YN, set(), "B"),
    ("(A) Yes", YN, {"A"}, "A"),
    ("B", YN, {"B"}, "B"),
    ("no, the cue is absent", YN, set(), "B"),
    ("Yes, there is no doubt", YN, set(), None),             # names both options
    ("yes.", YN, set(), "A"),
    ("The answer is B. No", YN, {"B"}, "B"),
    ("A. Yes", YN, {"A"}, "A"),
    ("A. No", YN, {"A"}, None),                              # letter and text disagree: several
    ("(b) no", YN, {"B"}, "B"),
]


def _released_set(response: str, choices: list[str]) -> set[str]:
    return {letter for letter, _ in split_choices(choices) if released_match(response, letter)}


@pytest.mark.parametrize(("response", "choices", "released", "strict"), CASES)
def test_rules_on_realistic_answers(response, choices, released, strict):
    assert _released_set(response, choices) == released
    assert parse_choice(response, choices).letter == strict


def test_table_is_large_enough():
    assert len(CASES) >= 25


def test_released_rule_is_the_published_regex():
    import re

    for response, choices, _, _ in CASES:
        for letter, _ in split_choices(choices):
            expected = re.search(rf"\b[\(\[]?{letter}[\)\]\.\:]?\b", response, re.I) is not None
            assert released_match(response, letter) == expected


def test_parse_reasons():
    assert parse_choice("A or B", FOUR).reason == "several"
    assert parse_choice("hmm", FOUR).reason == "none"
    assert parse_choice("Yes", YN).reason == "text"
    assert parse_choice("(C)", FOUR).reason == "letter"


def test_split_choices_and_yes_no():
    assert split_choices(YN) == [("A", "Yes"), ("B", "No")]
    assert split_choices(["happy", "sad"]) == [("A", "happy"), ("B", "sad")]
    assert is_yes_no(YN) and not is_yes_no(FOUR)
