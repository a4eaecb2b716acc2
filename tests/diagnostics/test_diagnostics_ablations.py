"""Ablation transforms, the swap derangement and the cluster bootstrap (no model needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emorealm.diagnostics.ablations import (
    CONDITIONS,
    Ablation,
    clip_media_map,
    derangement,
    fit_audio,
    fit_frames,
    parse_conditions,
)
from emorealm.diagnostics.likelihood import probe_of, shifts
from emorealm.diagnostics.stats import Resampler, percentile_ci, summarize
from emorealm.errors import ConfigError
from emorealm.media.decode import DecodedMedia, MediaSpec


def test_derangement_never_maps_a_clip_to_itself_and_is_deterministic():
    clips = [f"c{i}" for i in range(25)]
    for seed in range(20):
        m = derangement(clips, seed=seed)
        assert set(m) == set(clips) and sorted(m.values()) == sorted(clips)  # a permutation
        assert all(k != v for k, v in m.items())
    assert derangement(reversed(clips), seed=3) == derangement(clips, seed=3)
    assert derangement(clips, seed=1) != derangement(clips, seed=2)
    assert derangement(["a", "b"], seed=0) == {"a": "b", "b": "a"}
    with pytest.raises(ConfigError, match="at least two"):
        derangement(["only"], seed=0)


def test_parse_conditions():
    assert parse_conditions(None) == list(CONDITIONS)
    assert parse_conditions("swap_audio, no_video,swap_audio") == ["intact", "swap_audio", "no_video"]
    with pytest.raises(ConfigError, match="unknown condition"):
        parse_conditions("no_smell")


def test_fit_audio_and_frames():
    wave = np.arange(5, dtype=np.float32)
    assert fit_audio(wave, 12).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert fit_audio(wave, 3).tolist() == [0, 1, 2]
    frames = np.stack([np.full((4, 6, 3), i, dtype=np.uint8) for i in range(8)])
    like = np.zeros((3, 4, 6, 3), dtype=np.uint8)
    assert [int(f[0, 0, 0]) for f in fit_frames(frames, like)] == [0, 4, 7]  # linspace(0, 7, 3) rounded
    resized = fit_frames(frames, np.zeros((2, 8, 12, 3), dtype=np.uint8))
    assert resized.shape == (2, 8, 12, 3) and resized.dtype == np.uint8
    assert int(resized[1].min()) == int(resized[1].max()) == 7  # a constant frame stays constant


def _media(seed: int, t: int = 4, n: int = 800) -> DecodedMedia:
    rng = np.random.default_rng(seed)
    return DecodedMedia(rng.integers(1, 255, (t, 8, 8, 3), dtype=np.uint8),
                        rng.standard_normal(n).astype(np.float32), 2.0, "sidecar", 1.0)


def test_ablation_overrides(monkeypatch):
    spec = MediaSpec()
    own, donor = _media(0), _media(1, t=6, n=500)
    loaded = []

    def fake_load(media, s):
        loaded.append(media["video"])
        return donor

    monkeypatch.setattr("emorealm.diagnostics.ablations.load_media", fake_load)
    doc = {"id": "q", "clip_id": "a"}
    kw = {"swap_map": {"a": "b", "b": "a"}, "clip_media": {"a": {"video": "a.mp4"}, "b": {"video": "b.mp4"}}}
    before = (own.frames.copy(), own.audio.copy())
    assert Ablation("intact", spec)(doc, own) == {}
    silent = Ablation("no_audio", spec)(doc, own)
    assert set(silent) == {"audio"} and silent["audio"].shape == own.audio.shape and not silent["audio"].any()
    black = Ablation("no_video", spec)(doc, own)
    assert set(black) == {"frames"} and black["frames"].shape == own.frames.shape and not black["frames"].any()
    assert Ablation("no_audio", spec, removal="drop")(doc, own) == {"audio": None}
    assert Ablation("no_video", spec, removal="drop")(doc, own) == {"frames": None}
    sa = Ablation("swap_audio", spec, **kw)(doc, own)
    assert set(sa) == {"audio"} and np.array_equal(sa["audio"], fit_audio(donor.audio, own.audio.size))
    sv = Ablation("swap_video", spec, **kw)(doc, own)
    assert set(sv) == {"frames"} and np.array_equal(sv["frames"], fit_frames(donor.frames, own.frames))
    sb = Ablation("swap_both", spec, **kw)
    assert sb.donor(doc) == "b"
    both = sb(doc, own)
    assert set(both) == {"audio", "frames"}
    assert loaded == ["b.mp4"] * 3  # the donor clip's own media, never the doc's
    # the (cached) decoded media are never modified in place
    assert np.array_equal(own.frames, before[0]) and np.array_equal(own.audio, before[1])
    with pytest.raises(ConfigError, match="swap map"):
        Ablation("swap_audio", spec)
    with pytest.raises(ConfigError, match="removal"):
        Ablation("no_audio", spec, removal="mute")


def test_clip_media_map_takes_first_doc_per_clip():
    docs = [{"clip_id": "a", "media": {"video": "1"}}, {"clip_id": "a", "media": {"video": "2"}},
            {"clip_id": "b", "media": {"video": "3"}}, {"id": "no clip"}]
    assert clip_media_map(docs) == {"a": {"video": "1"}, "b": {"video": "3"}}


def test_probe_of_generation_and_multiple_choice_records():
    doc = {"id": "q", "clip_id": "c", "_task": "t"}
    gen = {"doc_id": 3, "doc": doc, "target": "B", "arguments": [("prompt?", {"until": []})]}
    p = probe_of(gen, multiple_choice=False)
    assert (p.doc_id, p.context, p.continuation, p.clip) == (3, "prompt?", "B", "clip::c")
    mc = {"doc_id": 4, "doc": doc, "target": 1, "arguments": [("ctx", "A"), ("ctx", "B")]}
    assert probe_of(mc, multiple_choice=True).continuation == "B"
    on_disk = {"doc_id": 4, "doc": doc, "target": "1",
               "arguments": {"gen_args_0": {"arg_0": "ctx", "arg_1": "A"}, "gen_args_1": {"arg_0": "ctx", "arg_1": "B"}}}
    assert probe_of(on_disk, multiple_choice=True).continuation == "B"


def test_shifts_skip_unscored_docs():
    assert shifts({0: -1.0, 1: -2.0, 2: math.nan}, {0: -3.5, 1: math.nan, 2: -1.0}) == {0: 2.5}


def test_resampler_means_match_a_direct_weighted_mean():
    clusters = ["a", "a", "b", "c"]
    values = [1.0, 0.0, 1.0, 0.0]
    rs = Resampler.make(clusters, iters=50, seed=0)
    reps = rs.means(values, clusters)
    for b in range(50):
        w = dict(zip(rs.clusters, rs.counts[b], strict=True))
        num = sum(w[c] * v for c, v in zip(clusters, values, strict=True))
        den = sum(w[c] for c in clusters)
        assert reps[b] == pytest.approx(num / den) if den else math.isnan(reps[b])
    assert rs.counts.sum(axis=1).tolist() == [3.0] * 50  # G clips drawn each time


def test_percentile_ci_and_summary():
    reps = np.arange(1001, dtype=float)
    assert percentile_ci(reps) == pytest.approx((25.0, 975.0))
    assert all(math.isnan(x) for x in percentile_ci(np.array([np.nan])))
    s = summarize([1.0, -1.0, 3.0, math.nan])
    assert s["n"] == 3 and s["mean"] == pytest.approx(1.0) and s["frac_positive"] == pytest.approx(2 / 3)
    assert s["std"] == pytest.approx(2.0) and s["median"] == 1.0
    assert summarize([]) == {"n": 0}


def _collected(tmp_path):
    from emorealm.diagnostics.engine import Collected, ConditionRun, DiagnoseConfig
    from emorealm.evaluation.runner import RunConfig

    def recs(task, accs, clips):
        return [{"doc_id": i, "doc": {"id": f"{task}{i}", "clip_id": c, "_task": task}, "acc": a,
                 "n_errors": 0.0} for i, (a, c) in enumerate(zip(accs, clips, strict=True))]

    clips_a, clips_b = ["x", "x", "y", "z"], ["y", "z", "w"]
    runs = {
        "intact": ConditionRun("intact", {"ta": recs("ta", [1, 1, 0, 1], clips_a), "tb": recs("tb", [1, 0, 1], clips_b)},
                               {"emorealm": {"smoke_test": True}}),
        "no_audio": ConditionRun("no_audio", {"ta": recs("ta", [0, 1, 0, 0], clips_a), "tb": recs("tb", [1, 1, 0], clips_b)},
                                 {}),
    }
    clusters = {t: {r["doc_id"]: f"clip::{r['doc']['clip_id']}" for r in runs["intact"].samples[t]} for t in ("ta", "tb")}
    logp = {"ta": {"intact": {0: -1.0, 1: -2.0, 2: -0.5, 3: math.nan}, "no_audio": {0: -3.0, 1: -2.5, 2: -0.5, 3: -1.0}}}
    cfg = DiagnoseConfig(run=RunConfig(model="tiny-omni", output=str(tmp_path)), conditions=["intact", "no_audio"],
                         bootstrap_iters=300, attention=False)
    return Collected(cfg, None, "hf", "m", ["ta", "tb"], {"ta": "generate_until", "tb": "multiple_choice"}, runs,
                     None, logp, clusters, {})


def test_report_tables_and_files(tmp_path):
    from emorealm.diagnostics.report import OVERALL, build_report, write_report

    report = build_report(_collected(tmp_path))
    acc = report["accuracy"]
    assert acc["ta"]["intact"]["value"] == pytest.approx(0.75) and acc["ta"]["no_audio"]["value"] == pytest.approx(0.25)
    assert acc["ta"]["no_audio"]["delta"] == pytest.approx(-0.5) and acc["tb"]["no_audio"]["delta"] == pytest.approx(0)
    assert acc["ta"]["no_audio"]["n_clusters"] == 3 and report["bootstrap"]["n_clusters"] == 4
    lo, hi = acc["ta"]["no_audio"]["delta_ci"]
    assert -1.0 <= lo <= -0.5 <= hi <= 0.0
    assert acc[OVERALL]["no_audio"]["delta"] == pytest.approx((-0.5 + 0) / 2)
    ll = report["likelihood_shift"]["ta"]["conditions"]["no_audio"]
    assert ll["n"] == 3 and ll["n_unscored"] == 1  # doc 3 has no intact score
    assert ll["mean"] == pytest.approx((2.0 + 0.5 + 0.0) / 3) and ll["frac_positive"] == pytest.approx(2 / 3)
    files = write_report(report, tmp_path / "d")
    assert set(files) == {"report", "summary", "accuracy", "likelihood_shift_ta"}
    saved = json.loads(files["report"].read_text())
    assert saved["accuracy"]["ta"]["no_audio"]["delta"] == pytest.approx(-0.5)
    md = files["summary"].read_text()
    assert "| ta | no_audio | 25.0 | -50.0 |" in md and "Smoke-test model" in md


def test_models_without_attentions_are_reported_as_such(tmp_path):
    from emorealm.diagnostics.engine import _attention

    c = _collected(tmp_path)
    c.lm = object()  # e.g. a server-backed adapter: no transformers model to ask
    out = _attention(c, console=None)
    assert set(out) == {"ta", "tb"}
    assert all(v["supported"] is False and "no transformers model" in v["reason"] for v in out.values())
