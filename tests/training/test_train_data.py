"""Preference data format: validation errors, marker mapping, modality inference, skip accounting."""

from __future__ import annotations

import json

import pytest

from emorealm.errors import DataError
from emorealm.training.data import infer_modality, load_preferences, parse_row, strip_markers


@pytest.fixture()
def root(tmp_path):
    (tmp_path / "clips").mkdir()
    for name in ("a.mp4", "b.mp4", "a.wav"):
        (tmp_path / "clips" / name).write_bytes(b"x")
    return tmp_path


def _row(**kw):
    row = {"id": "r1", "prompt": "<video>\n<audio>\nWhat emotion does the voice convey?", "chosen": "happy",
           "rejected": "sad", "rejected_2": "The person cries.", "video": "clips/a.mp4"}
    row.update(kw)
    return {k: v for k, v in row.items() if v is not None}


def test_markers_are_mapped_and_declare_media():
    assert strip_markers("<video>\n<audio>\nHow?") == ("How?", ("video", "audio"))
    assert strip_markers("<video>\nHow?") == ("How?", ("video",))
    assert strip_markers("How?") == ("How?", ("video", "audio"))


def test_modality_inference():
    assert infer_modality("What does the speaker's tone of voice convey?") == ("audio", "inferred")
    assert infer_modality("Which facial expression is shown in the video?") == ("video", "inferred")
    assert infer_modality("What is the emotion?") == ("both", "default")
    assert infer_modality("Does the voice match the facial expression?") == ("both", "default")


def test_valid_row_resolves_paths(root):
    r = parse_row(_row(audio="clips/a.wav", video_l="clips/b.mp4"), root, "f:1")
    assert r.video == str(root / "clips/a.mp4") and r.audio == str(root / "clips/a.wav")
    assert r.prompt == "What emotion does the voice convey?"
    assert (r.modality, r.modality_source) == ("audio", "inferred")
    assert r.media() == {"video": r.video, "audio": r.audio, "audio_source": "sidecar"}
    assert parse_row(_row(video=str(root / "clips/b.mp4")), root, "f:3").video == str(root / "clips/b.mp4")
    r2 = parse_row(_row(prompt="<video>\nWhat is shown?", modality="video"), root, "f:2")
    assert r2.media()["audio_source"] == "none" and r2.modality_source == "field"


@pytest.mark.parametrize("kw,msg", [
    (dict(chosen=None), "missing required field"),
    (dict(video=None), "missing required field"),
    (dict(rejected="happy"), "identical"),
    (dict(rejected_2="sad"), "identical"),
    (dict(modality="smell"), "modality must be one of"),
    (dict(video="clips/zz.mp4"), "video file not found"),
    (dict(video="../outside.mp4"), "outside the data root"),
    (dict(prompt="<video>\n<audio>\n"), "prompt is empty"),
    (dict(chosen=3), "must be a string"),
])
def test_bad_rows_raise_clear_errors(root, kw, msg):
    with pytest.raises(DataError, match=msg):
        parse_row(_row(**kw), root, "f:1")


def test_load_counts_and_skips_or_raises_when_strict(root):
    p = root / "prefs.jsonl"
    lines = [json.dumps(_row(id="ok1")), "not json", json.dumps(_row(id="bad", rejected="happy")),
             json.dumps(_row(id="ok1")), "", json.dumps(_row(id="ok2", rejected_2=None))]
    p.write_text("\n".join(lines))
    rows, rep = load_preferences(p)
    assert [r.id for r in rows] == ["ok1", "ok2"] and rep.kept == 2
    assert sum(rep.skipped.values()) == 3
    assert any("not valid JSON" in k for k in rep.skipped) and any("duplicate id" in k for k in rep.skipped)
    rows, rep = load_preferences(p, need_rejected_2=True)
    assert [r.id for r in rows] == ["ok1"] and any("rejected_2" in k for k in rep.skipped)
    with pytest.raises(DataError, match="not valid JSON"):
        load_preferences(p, strict=True)
    (root / "empty.jsonl").write_text(json.dumps(_row(rejected="happy")) + "\n")
    with pytest.raises(DataError, match="no usable preference rows"):
        load_preferences(root / "empty.jsonl")
