"""The one option parser (emorealm/options.py): key=value lists, strict booleans, modalities and
lm-eval's generation request, plus the typed doc's media helpers (emorealm/doc.py)."""

from __future__ import annotations

import json

import pytest

from emorealm.doc import audio_file, audio_source, media_dict, needed_modalities
from emorealm.errors import ConfigError
from emorealm.options import GenerationRequest, parse_bool, parse_generation, parse_kv, parse_modalities


@pytest.mark.parametrize("value", [True, 1, 1.0, "1", "true", "TRUE", " Yes ", "y", "on"])
def test_bool_true(value):
    assert parse_bool(value) is True


@pytest.mark.parametrize("value", [False, 0, 0.0, "0", "false", "False", "no", "n", "off", "", "  "])
def test_bool_false(value):
    assert parse_bool(value) is False


@pytest.mark.parametrize("typo, suggestion", [("ture", "'true'"), ("flase", "'false'"), ("yse", "'yes'")])
def test_bool_typo_is_an_error_with_a_suggestion(typo, suggestion):
    with pytest.raises(ConfigError, match="did you mean") as info:
        parse_bool(typo, "do_sample")
    assert f"do_sample={typo!r} is not a boolean" in str(info.value) and suggestion in str(info.value)


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "10"])
def test_bool_refuses_other_values(value):
    with pytest.raises(ConfigError, match="is not a boolean"):
        parse_bool(value, "x")


def test_kv_values_converted_as_lm_eval_does():
    assert parse_kv("pretrained=/m/x,batch_size=4,temperature=0.1,do_sample=true,peft=None,seed=-3,name='12'",
                    "--model-args") == {"pretrained": "/m/x", "batch_size": 4, "temperature": 0.1,
                                        "do_sample": True, "peft": None, "seed": -3, "name": "12"}
    assert parse_kv("url=http://h:1/v1?a=b", "--model-args") == {"url": "http://h:1/v1?a=b"}
    assert parse_kv("", "x") == {} and parse_kv(None, "x") == {} and parse_kv("a=1,,b=2,", "x") == {"a": 1, "b": 2}


@pytest.mark.parametrize("text, match", [("a=1,b", "'b' is not key=value"), ("=3", "is not key=value"),
                                         ("a=1,a=2", "gives 'a' twice")])
def test_kv_refuses_malformed_items(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_kv(text, "--task-args")


def test_modalities():
    assert parse_modalities("audio+video") == ("video", "audio")
    assert parse_modalities("video,audio") == parse_modalities("video;audio") == parse_modalities("video/audio")
    assert parse_modalities(["AUDIO"]) == ("audio",)
    assert parse_modalities("none") == ()
    assert parse_modalities(None) == ("video", "audio") and parse_modalities("") == ("video", "audio")
    assert parse_modalities(None, default=None) is None
    with pytest.raises(ConfigError, match=r"unknown modalities \['vidoe'\] \(did you mean 'video'\?\)"):
        parse_modalities("vidoe+audio")


def test_generation_greedy_defaults():
    req = parse_generation({"until": ["\n\n", ""]}, default_max_tokens=256)
    assert req == GenerationRequest(("\n\n",), 256, False, 0.0)
    assert req.sampling == {}
    assert parse_generation({"until": "Q:"}, 8).until == ("Q:",)
    assert parse_generation(None, 8) == GenerationRequest((), 8, False, 0.0)


def test_generation_sampling_and_greedy_overrides():
    req = parse_generation({"temperature": "0.7", "top_p": 0.9, "top_k": "40", "max_gen_toks": 5}, 256)
    assert req == GenerationRequest((), 5, True, 0.7, 0.9, 40)
    assert req.sampling == {"temperature": 0.7, "top_p": 0.9, "top_k": 40}
    # do_sample=false wins over a temperature; top_p/top_k only matter when sampling
    greedy = parse_generation({"temperature": 0.7, "do_sample": "false", "top_p": 0.9}, 256)
    assert greedy == GenerationRequest((), 256, False, 0.0)
    # do_sample without a temperature stays greedy (nothing to sample with)
    assert parse_generation({"do_sample": True}, 3).do_sample is False


@pytest.mark.parametrize("kwargs, match", [
    ({"do_sample": "ture", "temperature": 0.5}, "did you mean 'true'"),
    ({"max_gen_toks": "many"}, "max_gen_toks='many' is not an integer"),
    ({"max_gen_toks": 2.5}, "max_gen_toks=2.5 is not an integer"),
    ({"max_gen_toks": 0}, "at least 1"),
    ({"temperature": "hot"}, "temperature='hot' is not a number"),
    ({"temperature": -1}, "must not be negative"),
    ({"until": 5}, "must be a string or a list of strings"),
])
def test_generation_refuses_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        parse_generation(kwargs, 16)


def test_generation_unknown_key_only_when_checked():
    assert parse_generation({"num_beams": 2}, 4).max_new_tokens == 4  # a task's own extra key: left alone
    with pytest.raises(ConfigError, match=r"unknown gen_kwargs key\(s\): 'temprature' \(did you mean 'temperature'"):
        parse_generation({"temprature": 0.1}, 4, known=("temperature", "until"))


def test_media_dict_and_readers(tmp_path):
    v, a = tmp_path / "c.mp4", tmp_path / "c.wav"
    assert media_dict(v, a) == {"video": str(v), "audio": str(a), "audio_source": "sidecar"}
    assert media_dict(v) == {"video": str(v), "audio": None, "audio_source": "video"}
    assert media_dict(v, audio_track=False) == {"video": str(v), "audio": None, "audio_source": "none"}
    assert media_dict(None, a) == {"video": None, "audio": str(a), "audio_source": "sidecar"}
    assert media_dict(None) == {"video": None, "audio": None, "audio_source": "none"}
    json.dumps(media_dict(v, a))  # docs stay JSON-able
    assert audio_source({"video": "x.mp4"}) == "video" and audio_source({}) == "none"
    assert needed_modalities(media_dict(v)) == ("video", "audio")
    assert needed_modalities(media_dict(v, audio_track=False)) == ("video",)
    assert needed_modalities(media_dict(None, a)) == ("audio",)
    assert needed_modalities(media_dict(v, a), video=False) == ("audio",)
    assert needed_modalities(media_dict(v, a), audio=False) == ("video",)
    assert needed_modalities({}) == ()
    # where the audio is read from: an existing sidecar, else the video's own track
    assert audio_file(media_dict(v, a)) == (str(v), "video")  # the sidecar file does not exist (yet)
    a.write_bytes(b"")
    assert audio_file(media_dict(v, a)) == (str(a), "sidecar")
    assert audio_file(media_dict(None, tmp_path / "gone.wav")) is None and audio_file(media_dict(None)) is None


def test_media_options_parse_strictly():
    from emorealm.media.spec import spec_from_args

    spec = spec_from_args({"video": "off", "fps": "1.5", "max_frames": 8.0})
    assert (spec.video, spec.fps, spec.max_frames) == (False, 1.5, 8)
    with pytest.raises(ConfigError, match=r"audio='flase' is not a boolean \(did you mean 'false'\?\)"):
        spec_from_args({"audio": "flase"})
    with pytest.raises(ConfigError, match="fps='two' is not a number"):
        spec_from_args({"fps": "two"})
    with pytest.raises(ConfigError, match="max_frames=2.5 is not an integer"):
        spec_from_args({"max_frames": 2.5})


def test_adapter_model_args_typo_is_refused_with_a_suggestion():
    from emorealm.model_adapters.base import EmorealmLM, media_spec_from_args

    class Toy(EmorealmLM):
        adapter_name = "toy"

        def __init__(self, pretrained=None, batch_size=1, **kwargs):
            super().__init__()

    assert media_spec_from_args({"fps": 1, "max_batch_size": 4}, Toy).fps == 1.0  # lm-eval's own key is fine
    with pytest.raises(ConfigError, match=r"unknown toy model_args: 'batch_szie' \(did you mean 'batch_size'\?\)"):
        media_spec_from_args({"batch_szie": 2}, Toy, ConfigError)
    with pytest.raises(ConfigError, match=r"'fsp' \(did you mean 'fps'\?\)"):
        media_spec_from_args({"fsp": 2}, Toy, ConfigError)


def test_environment_flags_are_strict(monkeypatch):
    from emorealm.media import cache as media_cache

    for value, on in (("", True), ("1", True), ("off", False), ("No", False)):
        monkeypatch.setenv("EMOREALM_MEDIA_CACHE", value)
        assert media_cache.enabled() is on
    monkeypatch.setenv("EMOREALM_MEDIA_CACHE", "of")
    with pytest.raises(ConfigError, match=r"EMOREALM_MEDIA_CACHE='of' is not a boolean \(did you mean 'off'"):
        media_cache.enabled()
