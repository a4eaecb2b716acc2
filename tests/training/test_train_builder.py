"""build-prefs: rows from labelled clips + captions, corruptions per modality, determinism."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from emorealm.builder.backends import IRRELEVANT, LEXICON
from emorealm.cli import main
from emorealm.errors import DataError
from emorealm.media.decode import MediaSpec, load_media
from emorealm.media.synth import frames, write_av_clip
from emorealm.training.corrupt import shuffle_frames
from emorealm.training.data import load_preferences
from emorealm.training.sample_prefs import emotion_audio


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    man, ac, vc = [], [], []
    for i, emo in enumerate(["happiness", "sadness", "anger"]):
        write_av_clip(root / f"c{i}.mp4", seconds=1.0, fps=8, size=(56, 56), sample_rate=16000,
                      video=frames(1.0, 8, (56, 56), seed=i), audio=emotion_audio("happy" if i == 0 else "sad", 1.0,
                                                                                   16000, i))
        man.append({"id": f"c{i}", "video": f"c{i}.mp4", "emotion": emo})
        # lexicon cues (relevant for the template verifier) next to ones that say nothing of the emotion
        ac.append({"id": f"c{i}", "caption": f"{LEXICON['audio'][emo][0]}; {IRRELEVANT['audio'][i]}"})
        vc.append({"id": f"c{i}", "caption": f"{LEXICON['video'][emo][0]}; {IRRELEVANT['video'][i]}"})
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
    assert all(x["template_version"] == "avem-prefs-v2" and x["corruption"] == corruption for x in raw)
    a0 = next(r for r in rows if r.id == "c0:audio")
    # y_w: relevant present cue + true emotion; y_l^vr: present irrelevant cue tied to the emotion;
    # y_l^er: the emotion explained by another clip's relevant cue, absent from this clip
    assert a0.chosen == "The voice conveys happiness: bright laughter."
    assert a0.rejected_vr == f"The voice conveys happiness: {IRRELEVANT['audio'][0]}."
    assert a0.rejected_er in ("The voice conveys happiness: a low trembling voice.",
                              "The voice conveys happiness: loud shouting.")
    r0 = next(x for x in raw if x["id"] == "c0:audio")
    assert [c["cue"] for c in r0["cues"]["chosen"]] == ["bright laughter"] and r0["cues"]["chosen"][0]["relevant"]
    assert r0["cues"]["rejected"] == [{"cue": IRRELEVANT["audio"][0], "relevant": False, "votes": [""]}]
    assert r0["cues"]["rejected_2"][0]["from"] in ("c1", "c2") and r0["cues"]["rejected_2"][0]["cue"] in \
        a0.rejected_er
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
    from emorealm.errors import ConfigError, DataError
    from emorealm.training.builder import build_preferences

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
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni
    from emorealm.training.builder import AdapterGenerator, build_preferences

    gen = AdapterGenerator("hf", {"pretrained": str(ensure_tiny_omni()), "max_frames": 4}, max_gen_toks=6,
                           temperature=1.0, seed=1)
    one = tmp_path / "one.jsonl"  # a single clip keeps this to three generations
    one.write_text(json.dumps({"id": "c0", "video": str(clips / "c0.mp4"), "emotion": "happiness"}))
    # the cue analysis of all three clips (absent cues come from the others), verified offline
    assert main(["build-benchmark", "--clips", str(clips / "clips.jsonl"), "--output", str(tmp_path / "root"),
                 "--audio-captions", str(clips / "audio.jsonl"), "--video-captions", str(clips / "video.jsonl"),
                 "--stages", "captions,cues,verification"]) == 0
    path, rep = build_preferences(one, tmp_path, analysis=tmp_path / "root" / "build" / "verification.jsonl",
                                  modalities=("audio",), corruption="noise", generator=gen, seed=1)
    raw = [json.loads(x) for x in path.read_text().splitlines()]
    assert rep.rows == len(raw) == 1 and all(r["generator"] == "hf" for r in raw)
    rows, _ = load_preferences(path, strict=True)
    # the answers are the model's, not the templates' reference answers
    assert all("conveys" not in r.chosen for r in rows)


def test_prefs_from_a_benchmark_build_cue_analysis(clips, tmp_path):
    """--analysis reads build-benchmark's verification.jsonl; a cue kind missing is counted, not invented."""
    from emorealm.training.builder import build_preferences

    assert main(["build-benchmark", "--clips", str(clips / "clips.jsonl"), "--output", str(tmp_path / "root"),
                 "--backend", "template", "--stages", "captions,cues,verification", "--seed", "2"]) == 0
    ver_path = tmp_path / "root" / "build" / "verification.jsonl"
    ver = {(r["clip"], r["modality"]): r for r in map(json.loads, ver_path.read_text().splitlines())}
    path, rep = build_preferences(clips / "clips.jsonl", tmp_path / "p", analysis=ver_path, corruption="silence",
                                  seed=2)
    raw = {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}
    for rid, r in raw.items():
        v = ver[tuple(rid.split(":"))]
        assert [c["cue"] for c in r["cues"]["chosen"]] == [c["cue"] for c in v["cues"] if c["relevant"]]
        assert r["cues"]["rejected"][0] in [c for c in v["cues"] if not c["relevant"]]
        assert r["cues"]["rejected_2"][0] in v["absent"] and r["cues"]["rejected_2"][0]["cue"] in r["rejected_2"]
    expected_skips = sum(not any(c["relevant"] for c in v["cues"]) or all(c["relevant"] for c in v["cues"])
                         or not v["absent"] for v in ver.values())
    assert rep.rows == len(raw) == 6 - expected_skips and sum(rep.skipped.values()) == expected_skips
    # only relevant cues in a caption: no present-but-irrelevant cue for y_l^vr, so the row is skipped
    only = tmp_path / "only.jsonl"
    only.write_text("\n".join(json.dumps({"id": f"c{i}", "caption": LEXICON["audio"][e][1]})
                              for i, e in enumerate(["happiness", "sadness", "anger"])))
    with pytest.raises(DataError, match="no rows"):
        build_preferences(clips / "clips.jsonl", tmp_path / "q", audio_captions=str(only), modalities=("audio",))
