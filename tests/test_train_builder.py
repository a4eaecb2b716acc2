"""build-prefs: rows from labelled clips + captions, corruptions per modality, determinism."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from emorealm.training.corrupt import shuffle_frames
from emorealm.training.data import load_preferences
from emorealm.training.sample_prefs import emotion_audio

from emorealm.cli import main
from emorealm.media import MediaSpec, load_media
from emorealm.synth import frames, write_av_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    man, ac, vc = [], [], []
    for i, emo in enumerate(["happiness", "sadness", "anger"]):
        write_av_clip(root / f"c{i}.mp4", seconds=1.0, fps=8, size=(56, 56), sample_rate=16000,
                      video=frames(1.0, 8, (56, 56), seed=i), audio=emotion_audio("happy" if i == 0 else "sad", 1.0,
                                                                                   16000, i))
        man.append({"id": f"c{i}", "video": f"c{i}.mp4", "emotion": emo})
        ac.append({"id": f"c{i}", "caption": f"a voice cue {i}"})
        vc.append({"id": f"c{i}", "caption": f"a face cue {i}"})
    for name, rows in (("clips.jsonl", man), ("audio.jsonl", ac), ("video.jsonl", vc[:2])):
        (root / name).write_text("\n".join(json.dumps(r) for r in rows))
    return root


def _digest(folder):
    """Content hashes of every file, with the folder's own path masked out of prefs.jsonl."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes().replace(str(folder).encode(), b"<out>")
            out[str(p.relative_to(folder))] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.parametrize("corruption", ["swap", "noise", "silence", "shuffle"])
def test_build_prefs_cli_rows_load_and_are_deterministic(clips, tmp_path, corruption):
    args = ["build-prefs", "--clips", str(clips / "clips.jsonl"), "--audio-captions", str(clips / "audio.jsonl"),
            "--video-captions", str(clips / "video.jsonl"), "--corruption", corruption, "--seed", "3"]
    assert main(args + ["--output", str(tmp_path / "a")]) == 0
    assert main(args + ["--output", str(tmp_path / "b")]) == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")  # same seed, same bytes
    rows, rep = load_preferences(tmp_path / "a" / "prefs.jsonl", strict=True)
    # 3 audio rows + 2 video rows (clip c2 has no video caption: counted, not invented)
    assert sorted(r.id for r in rows) == ["c0:audio", "c0:video", "c1:audio", "c1:video", "c2:audio"]
    for r in rows:
        assert r.modality in ("audio", "video") and r.modality_source == "field"
        assert (r.audio_l is not None) == (r.modality == "audio") and (r.video_l is not None) == (r.modality == "video")
        assert len({r.chosen, r.rejected_vr, r.rejected_er}) == 3
    raw = [json.loads(x) for x in (tmp_path / "a" / "prefs.jsonl").read_text().splitlines()]
    assert all(x["template_version"] == "avem-prefs-v1" and x["corruption"] == corruption for x in raw)
    a0 = next(r for r in rows if r.id == "c0:audio")
    assert "happiness" in a0.chosen and "a voice cue 0" in a0.chosen and "a voice cue 0" in a0.rejected_vr
    spec = MediaSpec(max_frames=8)
    clean = load_media(a0.media(), spec).audio
    rej = load_media({"video": None, "audio": a0.audio_l, "audio_source": "sidecar"}, spec).audio
    v0 = next(r for r in rows if r.id == "c0:video")
    vclean = load_media({"video": v0.video, "audio": None, "audio_source": "none"}, spec).frames
    vrej = load_media({"video": v0.video_l, "audio": None, "audio_source": "none"}, spec).frames
    if corruption == "swap":
        assert a0.audio_l != a0.video and a0.audio_l.endswith(".mp4") and v0.video_l != v0.video
    elif corruption == "silence":
        assert np.abs(rej).max() < 1e-3 and vrej.mean() < 20
    elif corruption == "noise":
        assert abs(float(np.corrcoef(clean[: len(rej)], rej[: len(clean)])[0, 1])) < 0.2
    else:  # shuffle keeps the content, changes the order
        assert not np.array_equal(vclean, vrej)
        assert len(rej) == len(clean) and not np.allclose(rej, clean, atol=1e-2)
        assert np.allclose(np.sort(rej), np.sort(clean), atol=2e-4)  # same samples (PCM16 wav), new order
    assert len(vrej) == len(vclean)


def test_shuffle_never_returns_the_original_order():
    f = np.arange(4)[:, None, None, None].repeat(2, 1).astype(np.uint8)
    for s in range(20):
        assert not np.array_equal(shuffle_frames(f, s), f)


def test_bad_builder_input(tmp_path, clips):
    from emorealm.training.builder import build_preferences

    from emorealm.errors import ConfigError, DataError

    with pytest.raises(ConfigError, match="unknown corruption"):
        build_preferences(clips / "clips.jsonl", tmp_path, corruption="blur")
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "x", "video": "c0.mp4"}))
    with pytest.raises(DataError, match="'emotion'"):
        build_preferences(tmp_path / "m.jsonl", tmp_path / "o")
    with pytest.raises(DataError, match="no rows"):
        build_preferences(clips / "clips.jsonl", tmp_path / "o2")  # no captions at all


@pytest.mark.slow
def test_adapter_generator_uses_a_real_model(clips, tmp_path):
    """Any emorealm adapter can generate the responses; here hf on tiny-omni (random text, but real)."""
    from emorealm.training.builder import AdapterGenerator, build_preferences

    from emorealm.tiny import ensure_tiny_omni

    gen = AdapterGenerator("hf", {"pretrained": str(ensure_tiny_omni()), "max_frames": 4}, max_gen_toks=6,
                           temperature=1.0, seed=1)
    one = tmp_path / "one.jsonl"  # a single clip keeps this to three generations
    one.write_text(json.dumps({"id": "c0", "video": str(clips / "c0.mp4"), "emotion": "happiness"}))
    path, rep = build_preferences(one, tmp_path, audio_captions=str(clips / "audio.jsonl"),
                                  modalities=("audio",), corruption="noise", generator=gen, seed=1)
    raw = [json.loads(x) for x in path.read_text().splitlines()]
    assert rep.rows == len(raw) == 1 and all(r["generator"] == "hf" for r in raw)
    rows, _ = load_preferences(path, strict=True)
    # the answers are the model's, not the templates' reference answers
    assert all("conveys" not in r.chosen for r in rows)
