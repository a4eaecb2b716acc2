"""Voxtral through the HF adapter: its tiny twin loads like a released checkpoint, the prompt and
audio come from mistral_common (VoxtralProcessor.apply_chat_template), the audio placeholders match
the encoder's embeddings, answers are tokenised as mistral_common encodes an assistant turn, and
prefix scoring equals full forwards. The CLI run and the audio-reaches-the-model check are in
test_families.py's parametrisation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from emorealm.media.decode import DecodedMedia
from emorealm.media.synth import write_av_clip

from support.docs import media_doc

CHUNK = 480000  # 30 s at 16 kHz: mistral_common pads Voxtral's audio to whole chunks


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from emorealm.model_adapters.tiny_models import build

    return build("voxtral", tmp_path_factory.mktemp("voxtral") / "tiny", seed=0)


@pytest.fixture(scope="module")
def lm(twin):
    from emorealm.model_adapters.hf import HFAdapter

    return HFAdapter(pretrained=str(twin), prefetch=0)


def _wave(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * 16000))).astype(np.float32)


def _media(wave) -> DecodedMedia:
    return DecodedMedia(frames=None, audio=wave, fps=0.0, audio_source="sidecar", duration=len(wave) / 16000)


def test_twin_reloads_like_a_released_checkpoint(twin):
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    from transformers import AutoConfig, AutoProcessor, VoxtralForConditionalGeneration
    from transformers.tokenization_mistral_common import MistralCommonBackend

    assert AutoConfig.from_pretrained(twin).model_type == "voxtral"
    proc = AutoProcessor.from_pretrained(twin)
    assert type(proc).__name__ == "VoxtralProcessor" and isinstance(proc.tokenizer, MistralCommonBackend)
    model = VoxtralForConditionalGeneration.from_pretrained(twin)
    assert model.config.audio_token_id == proc.audio_token_id == 24
    # the tekken file is one mistral_common itself reads: v7, with the audio block and markers
    mt = MistralTokenizer.from_file(str(twin / "tekken.json"))
    tekken = mt.instruct_tokenizer.tokenizer
    assert tekken.version.value == "v7" and tekken.audio.frame_rate == 12.5 and tekken.audio.chunk_length_s == 30.0
    assert [tekken.get_special_token(t) for t in ("[AUDIO]", "[BEGIN_AUDIO]", "[TRANSCRIBE]")] == [24, 25, 34]
    assert model.config.text_config.vocab_size == tekken.n_words
    text = "Which emotion does the speaker convey? (A) happiness"
    assert tekken.decode(tekken.encode(text, bos=False, eos=False)) == text


@pytest.mark.parametrize("seconds", [2.0, 31.0])
def test_audio_tokens_match_the_encoders_embeddings_and_the_features_are_whispers(lm, seconds):
    from transformers import WhisperFeatureExtractor

    from emorealm.model_adapters.inputs import build_inputs

    wave = _wave(seconds)
    inputs = build_inputs(lm.processor, _media(wave), "Which emotion?", lm.spec, accepts=lm.arch.accepts)
    ids = inputs.features["input_ids"][0].tolist()
    chunks = math.ceil(len(wave) / CHUNK)
    # 12.5 audio tokens per second over the padded chunks: 375 per 30 s, after one [BEGIN_AUDIO]
    assert ids.count(24) == 375 * chunks
    assert ids[:3] == [1, 3, 25] and ids[3:3 + 375 * chunks] == [24] * (375 * chunks) and ids[-1] == 4
    feats = inputs.features["input_features"]
    assert tuple(feats.shape) == (chunks, 128, 3000)
    with torch.inference_mode():
        embeds = lm.model.get_audio_features(feats).pooler_output
    assert embeds.shape[0] == ids.count(24)
    # Whisper's log-mel of the whole zero-padded wave, cut into 3000-frame chunks
    padded = np.pad(wave, (0, chunks * CHUNK - len(wave)))
    fe = WhisperFeatureExtractor(feature_size=128)
    mel = fe(padded, sampling_rate=16000, truncation=False, return_tensors="np")["input_features"][0]
    ref = np.stack([mel[:, k * 3000:(k + 1) * 3000] for k in range(chunks)])
    np.testing.assert_allclose(feats.numpy(), ref, atol=1e-5)  # the float32 WAV hand-over loses nothing
    assert inputs.modalities == ("audio",)


def test_answers_are_tokenised_as_mistral_common_encodes_the_assistant_turn(lm):
    from emorealm.model_adapters.chat_audio import chat_messages

    wave = _wave(1.0)
    msgs = chat_messages("Which emotion? (A) happiness (B) sadness", wave, 16000)
    prompt = lm.processor.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"][0].tolist()
    for answer in ("A", " B", "(A) happiness", "Yes", " sadness."):
        full = lm.processor.apply_chat_template(msgs + [{"role": "assistant", "content": answer}], tokenize=True,
                                                return_dict=True, continue_final_message=True)["input_ids"][0].tolist()
        assert full[:len(prompt)] == prompt
        assert full[len(prompt):] == lm.continuation_ids(answer)


def test_prefix_scoring_and_batched_scoring_equal_full_forwards(lm):
    from emorealm.model_adapters.inputs import build_inputs, collate_inputs
    from emorealm.model_adapters.prefix import last_token_logprobs, score_from_prefix, score_naive

    inp = build_inputs(lm.processor, _media(_wave(2.0)), "Which emotion?", lm.spec, accepts=lm.arch.accepts)
    conts = [lm.continuation_ids(c) for c in ("A", "(B) sadness", " neutral face")]
    assert any(len(c) > 1 for c in conts)
    kw = lm._to_device(inp.model_kwargs())
    fast, naive = score_from_prefix(lm.model, kw, conts), score_naive(lm.model, kw, conts)
    for (a, ga), (b, gb) in zip(fast, naive, strict=True):
        assert a == pytest.approx(b, abs=1e-4) and ga == gb
    # two questions of different lengths in one left-padded forward: the same next-token scores
    other = build_inputs(lm.processor, _media(_wave(3.0, seed=1)), "Which emotion does the voice convey?", lm.spec,
                         accepts=lm.arch.accepts)
    batch = collate_inputs([inp, other], lm._pad_id())
    together = last_token_logprobs(lm.model, lm._to_device(batch.model_kwargs()))
    for row, one in enumerate((inp, other)):
        alone = last_token_logprobs(lm.model, lm._to_device(one.model_kwargs()))[0]
        torch.testing.assert_close(together[row], alone, atol=1e-4, rtol=0)


def test_a_system_prompt_the_tokenizer_refuses_beside_audio_is_refused_before_the_run(twin):
    from emorealm.errors import ConfigError
    from emorealm.model_adapters.chat_audio import chat_messages
    from emorealm.model_adapters.hf import HFAdapter

    # mistral_common puts no system message beside audio before tokenizer v13 (the twin is v7, as released)
    with pytest.raises(ConfigError, match=r"system_prompt= cannot be used with this voxtral checkpoint.*version 13"):
        HFAdapter(pretrained=str(twin), prefetch=0, system_prompt="Answer with one letter.")
    msgs = chat_messages("Which emotion?", None, 16000, "Answer with one letter.")
    assert msgs == [{"role": "system", "content": "Answer with one letter."},
                    {"role": "user", "content": [{"type": "text", "text": "Which emotion?"}]}]


def test_results_record_audio_given_and_video_not_given(lm, tmp_path):
    clip = write_av_clip(tmp_path / "c.mp4", seconds=1.0, seed=3)
    lm._inputs(media_doc(str(clip), doc_id="d", task="s"), "Which emotion?")
    meta = lm.emorealm_metadata()["modalities"]
    assert meta["accepted"] == ["audio"] and meta["given"]["s"] == {"audio": 1} and meta["not_given"]["s"] == {"video": 1}


def test_audio_switched_off_gives_a_text_only_prompt(twin, tmp_path):
    from emorealm.model_adapters.hf import HFAdapter
    from emorealm.model_adapters.inputs import build_inputs

    lm = HFAdapter(pretrained=str(twin), prefetch=0)
    spec = dataclasses.replace(lm.spec, audio=False)
    inp = build_inputs(lm.processor, _media(_wave(1.0)), "Which emotion?", spec, accepts=lm.arch.accepts)
    assert "input_features" not in inp.features and 24 not in inp.features["input_ids"][0].tolist()
    assert inp.modalities == ()


def test_batched_and_prepared_ahead_runs_equal_one_at_a_time(twin, lm, tmp_path):
    from lm_eval.api.instance import Instance

    from emorealm.model_adapters.hf import HFAdapter

    clips = [write_av_clip(tmp_path / f"c{k}.mp4", seconds=1.0 + k, seed=k) for k in range(3)]
    docs = [media_doc(str(c), doc_id=f"d{k}", task="b") for k, c in enumerate(clips)]
    gen = [Instance("generate_until", d, ("Which emotion?", {"max_gen_toks": 4}), k, task_name="b", doc_id=k)
           for k, d in enumerate(docs)]
    ll = [Instance("loglikelihood", d, ("Which emotion?", o), k, task_name="b", doc_id=k)
          for k, d in enumerate(docs) for o in ("A", " (B) sadness")]
    fast = HFAdapter(pretrained=str(twin), batch_size=2, prefetch=2)
    assert fast.generate_until(gen) == lm.generate_until(gen)
    for (a, ga), (b, gb) in zip(fast.loglikelihood(ll), lm.loglikelihood(ll), strict=True):
        assert a == pytest.approx(b, abs=1e-4) and ga == gb
    assert fast.n_errors == lm.n_errors == 0
