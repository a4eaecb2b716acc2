"""Caption, cue and verification stages with tiny-omni through the hf adapter: meaningless text, real
plumbing (each captioning call given one modality only, verification given no media at all)."""

from __future__ import annotations

import json

import pytest

from emorealm.builder.backends import AdapterBackend
from emorealm.builder.pipeline import BuildConfig, run_build
from emorealm.builder.verify import AgreementRule

pytestmark = pytest.mark.slow


def test_caption_and_verification_stages_with_tiny_omni(hf_adapter, tiny_omni_dir, sample_root, tmp_path):
    rows = []
    for i, emo in enumerate(["happiness", "anger"]):
        r = {"id": f"c{i}", "video": str(sample_root / f"dfew/dfew_original_clips_24fps/part_1/{i + 1:05d}.mp4"),
             "emotion": emo}
        if i == 0:
            r["audio"] = str(sample_root / "dfew/dfew_original_clips_16khz/part_1/00001.wav")
        rows.append(r)
    man = tmp_path / "clips.jsonl"
    man.write_text("\n".join(json.dumps(r) for r in rows))
    seen = []
    real = hf_adapter.generate_until

    def spy(requests):
        seen.extend(dict(r.doc) for r in requests)
        return real(requests)

    hf_adapter.generate_until = spy
    try:
        backend = AdapterBackend("hf", {"pretrained": str(tiny_omni_dir)}, seed=3, max_gen_toks=8, temperature=1.0, lm=hf_adapter)
        cfg = BuildConfig(man, tmp_path / "out", backend, backend, stages=("captions", "cues", "verification"),
                          seed=3, rule=AgreementRule(1, 2))
        result = run_build(cfg)
    finally:
        hf_adapter.generate_until = real
    caps = [d for d in seen if ":caption:" in d["id"]]
    assert len(caps) == 4
    for d in caps:  # the captioner saw only the modality it describes
        media = d["media"]
        if d["id"].endswith("audio"):
            assert media["video"] is None and media["audio"] and media["audio_source"] == "sidecar"
        else:
            assert media["video"] and media["audio"] is None and media["audio_source"] == "none"
    assert next(d for d in caps if d["id"] == "c0:caption:audio")["media"]["audio"].endswith("00001.wav")
    assert next(d for d in caps if d["id"] == "c1:caption:audio")["media"]["audio"].endswith("00002.mp4")
    verify = [d for d in seen if d["id"].startswith("verify:")]
    assert verify and all("media" not in d for d in verify)  # text only: the cue, no clip
    out = tmp_path / "out" / "build"
    ver = [json.loads(x) for x in (out / "verification.jsonl").read_text().splitlines()]
    n_cues = sum(len(r["cues"]) for r in ver)
    assert len(verify) == 2 * n_cues and all(len(c["votes"]) == 2 for r in ver for c in r["cues"])
    rep = result.reports
    assert rep["verification"].counts["relevant"] + rep["verification"].counts["irrelevant"] == n_cues
    kept = [json.loads(x) for x in (out / "captions.jsonl").read_text().splitlines()]
    assert all(r["source"] == "hf" and r["caption"] for r in kept)
    assert len(kept) + sum(rep["captions"].dropped.values()) == 4
