"""The toy world: its clips really carry the designed features (checked by independent signal
measurements: FFT pitch, RMS loudness, mean face colour), the benchmark reads through our EmoReAlM
loader, rows are in the released formats, and bad preference rows are refused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emorealm.benchmarks.emorealm import TASK_KEYS, load_docs
from emorealm.errors import ConfigError, DataError
from emorealm.media.decode import MediaSpec, load_media
from emorealm.toyworld import ToyWorldConfig, write_toy_world
from emorealm.toyworld.questions import check_preference_row
from emorealm.toyworld.spec import AUDIO_FEATURES, EMOTIONS, VIDEO_FEATURES, plan_clips
from emorealm.training.data import load_preferences
from emorealm.training.sft import load_sft_rows


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    manifest = write_toy_world(root, ToyWorldConfig(seed=5, n_train=8, n_test=8))
    return root, manifest


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_layout_and_counts(world):
    root, m = world
    assert m["counts"] == {**m["counts"], "train_clips": 8, "test_clips": 8, "benchmark_questions": 40,
                           "sft_rows": 40, "preference_rows": 16}
    for task in TASK_KEYS:  # our released-layout loader reads every task key
        docs = load_docs(task, data_root=str(root))
        assert len(docs) == 8
        assert all(d["media"]["audio_source"] == "sidecar" for d in docs)
    assert len(_jsonl(root / "captions.jsonl")) == 16


def test_same_seed_same_world_other_seed_other_world(world, tmp_path):
    root, _ = world
    write_toy_world(tmp_path / "a", ToyWorldConfig(seed=5, n_train=8, n_test=8))
    write_toy_world(tmp_path / "b", ToyWorldConfig(seed=6, n_train=8, n_test=8))
    bench = (root / "EmoReAlM" / "emorealm_v1.json").read_text()
    assert (tmp_path / "a" / "EmoReAlM" / "emorealm_v1.json").read_text() == bench
    assert (tmp_path / "b" / "EmoReAlM" / "emorealm_v1.json").read_text() != bench


def test_clips_carry_the_designed_features(world):
    """Decode each clip with our media loader (as the model sees it) and measure independently:
    dominant pitch (FFT peak), loudness (RMS) and the face's colour match the captioned emotion."""
    root, _ = world
    caps = {c["id"]: c for c in _jsonl(root / "captions.jsonl")}
    spec = MediaSpec(max_frames=4)
    for cid, cap in caps.items():
        rel = f"dfew/dfew_original_clips_24fps/toy/{cid}.mp4"
        media = load_media({"video": str(root / rel), "audio": None, "audio_source": "video"}, spec)
        wave = media.audio  # the AAC track of the mp4
        spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
        freqs = np.fft.rfftfreq(len(wave), 1 / 16000)
        band = (freqs > 80) & (freqs < 700)  # the voice band (the irrelevant cues sit at 2-3 kHz)
        peak = freqs[band][np.argmax(spectrum[band])]
        f0, slope, _, _, _ = AUDIO_FEATURES[cap["audio_emotion"]]
        lo, hi = f0 * 0.9 * min(1, 1 + slope), f0 * 1.1 * max(1, 1 + slope)
        assert lo <= peak <= hi, (cid, cap["audio_emotion"], peak)
        rms = float(np.sqrt(np.mean(wave**2)))  # loudness: sadness the quietest, anger the loudest
        band_of = {"sadness": (0.0, 0.08), "calm": (0.09, 0.26), "happiness": (0.09, 0.26), "anger": (0.26, 1.0)}
        lo_rms, hi_rms = band_of[cap["audio_emotion"]]
        assert lo_rms <= rms < hi_rms, (cid, cap["audio_emotion"], rms)
        h, w = media.frames.shape[1:3]  # decoded size follows the media spec's resize rule
        centre = media.frames[:, int(h * 0.40):int(h * 0.55), int(w * 0.30):int(w * 0.42)]
        centre = centre.reshape(-1, 3).mean(0)  # inside the face disc, between eye and mouth
        colours = {e: np.array(VIDEO_FEATURES[e][0]) for e in EMOTIONS}
        best = min(colours, key=lambda e: np.linalg.norm(colours[e] - centre))
        assert best == cap["video_emotion"], (cid, centre)


def test_benchmark_answers_follow_the_captions(world):
    root, _ = world
    caps = {c["id"]: c for c in _jsonl(root / "captions.jsonl")}
    rows = json.loads((root / "EmoReAlM" / "emorealm_v1.json").read_text())
    for r in rows:
        cap = caps[r["video"].split("/")[-1][:-4]]
        toy = r["toy"]
        if toy["kind"] == "basic":
            picked = r["choices"]["ABCD".index(r["answer"])]
            assert cap[f"{toy['modality']}_emotion"] in picked
        elif toy["kind"] == "agreement":
            assert (r["answer"] == "A") == (cap["audio_emotion"] == cap["video_emotion"])
        else:
            present = toy["cue"] in cap[f"{toy['modality']}_cues"]
            assert toy["kind"] != "hallucinated" or not present
            assert (r["answer"] == "A") == (toy["kind"] == "supporting")


def test_preference_and_sft_rows_load_in_the_released_formats(world):
    root, m = world
    prefs, report = load_preferences(root / "prefs.jsonl", strict=True, need_rejected_2=True)
    assert len(prefs) == 16 and not report.skipped
    caps = {c["id"]: c for c in _jsonl(root / "captions.jsonl")}
    for raw in _jsonl(root / "prefs.jsonl"):
        cap = caps[raw["video"].split("/")[-1][:-4]]
        mod = raw["modality"]
        assert any(c in raw["chosen"] for c in cap[f"{mod}_cues"][:1])  # y_w: the true cue
        assert cap[f"{mod}_cues"][1] in raw["rejected"]  # y_l^vr: present, emotion-irrelevant
        assert not any(c in raw["rejected_2"] for c in cap["audio_cues"] + cap["video_cues"])  # y_l^er: absent
        assert ("audio_l" in raw) == (mod == "audio") and ("video_l" in raw) == (mod == "video")
    sft, _ = load_sft_rows(root / "sft.jsonl", strict=True)
    assert len(sft) == 40 and all(r.response in "ABCD" for r in sft)
    shortcut = m["counts"]["sft_shortcut"]
    assert sum(shortcut.values()) == sum(r.extra["shortcut"] for r in sft)


def test_shortcut_statements_mostly_agree_with_the_answer(tmp_path):
    write_toy_world(tmp_path, ToyWorldConfig(seed=1, n_train=60, n_test=2, fps=2, size=32))
    rows = [r for r in _jsonl(tmp_path / "sft.jsonl") if r["shortcut"]]
    n = sum(1 for _ in _jsonl(tmp_path / "sft.jsonl"))
    assert abs(len(rows) / n - 0.5) < 0.08
    m = json.loads((tmp_path / "toyworld.json").read_text())["counts"]["sft_shortcut"]
    assert abs(m["agrees"] / (m["agrees"] + m["contradicts"]) - 0.8) < 0.08


def test_a_y_er_naming_a_present_cue_is_refused(world):
    root, _ = world
    cap = _jsonl(root / "captions.jsonl")[0]
    row = {"id": "bad", "rejected_2": f"The person feels anger, as shown by {cap['video_cues'][1]}."}
    with pytest.raises(DataError, match="present"):
        check_preference_row(row, cap)
    check_preference_row({"id": "ok", "rejected_2": "The person feels calm."}, cap)


def test_plan_is_balanced_and_config_is_validated():
    clips = plan_clips(40, "test", 0, agree_rate=0.5)
    assert sorted({c.audio_emotion for c in clips}) == sorted(EMOTIONS)
    assert all(sum(c.audio_emotion == e for c in clips) == 10 for e in EMOTIONS)
    with pytest.raises(ConfigError):
        ToyWorldConfig(n_test=1)
    with pytest.raises(ConfigError):
        ToyWorldConfig(shortcut_agree=1.5)


@pytest.mark.slow
def test_cli_writes_a_data_root(tmp_path):
    out = subprocess.run([sys.executable, "-m", "emorealm", "toy-world", str(tmp_path / "w"), "--seed", "2",
                          "--train-clips", "2", "--test-clips", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "w" / "EmoReAlM" / "emorealm_v1.json").is_file()
    assert json.loads((tmp_path / "w" / "toyworld.json").read_text())["config"]["seed"] == 2
