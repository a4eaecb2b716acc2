"""The study's data: one toy world (preference rows + held-out toy EmoReAlM) and the
cue-contradicts-audio probe written beside its benchmark file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emorealm.toyworld.spec import CUES, EMOTIONS

PROBE_FILE = "EmoReAlM/probe_cue_contradicts_audio.json"
PROBE_TASK = "reasoning_basic_audio"


def probe_rows(bench: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The held-out basic audio questions, each prefixed by a cue statement naming *another*
    emotion's audio cue, in the SFT shortcut's wording ("Note: the clip shows <cue>."): a model
    that follows the statement instead of the audio answers wrong."""
    rng = np.random.default_rng([seed, 11])
    out = []
    for row in bench:
        if row["task"] != PROBE_TASK:
            continue
        true = row["toy"]["emotion"]
        other = str(rng.choice([e for e in EMOTIONS if e != true]))
        out.append({**row, "id": f"{row['id']}_probe",
                    "question": f"Note: the clip shows {CUES['audio'][other]}. {row['question']}",
                    "toy": {**row["toy"], "kind": "cue_contradicts_audio", "statement_emotion": other}})
    return out


def ensure_world(root: Path, world, console=None) -> dict[str, Any]:
    """Generate the study's world under ``root`` once (its manifest marks it complete) and write
    the probe file; returns the manifest."""
    from emorealm.toyworld import ToyWorldConfig, write_toy_world
    from emorealm.toyworld.build import MARKER

    marker = root / MARKER
    if not marker.exists():
        if console:
            console.print(f"study world: {world.train_clips} training + {world.test_clips} held-out clips "
                          f"(seed {world.seed}) -> {root}")
        write_toy_world(root, ToyWorldConfig(seed=world.seed, n_train=world.train_clips, n_test=world.test_clips))
    manifest = json.loads(marker.read_text())
    probe = root / PROBE_FILE
    if not probe.exists():
        bench = json.loads((root / "EmoReAlM" / "emorealm_v1.json").read_text())
        tmp = probe.with_suffix(".tmp")
        tmp.write_text(json.dumps(probe_rows(bench, world.seed), indent=1))
        tmp.replace(probe)
    return manifest


def benchmark_index(root: Path) -> dict[str, dict[str, Any]]:
    """Held-out question id -> its row's ``toy`` record (kind, cue, emotion)."""
    rows = json.loads((root / "EmoReAlM" / "emorealm_v1.json").read_text())
    return {r["id"]: r.get("toy", {}) for r in rows}
