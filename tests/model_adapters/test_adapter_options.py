"""Adapter bad input that needs no backend: unknown adapter, missing optional extra, option parsing,
and the modality rules shared by the vLLM and OpenAI adapters."""

from __future__ import annotations

import sys

import pytest

from emorealm.errors import ConfigError, ModelError
from emorealm.media.decode import MediaSpec


def test_unknown_adapter_lists_the_known_ones():
    from emorealm.model_adapters.registry import get_adapter_class

    with pytest.raises(ConfigError, match=r"unknown adapter 'vlm'.*hf.*openai.*vllm"):
        get_adapter_class("vlm")


def test_missing_vllm_says_which_install_fixes_it(monkeypatch, capsys):
    from emorealm.cli import main

    monkeypatch.setitem(sys.modules, "vllm", None)  # as on a machine without the extra
    from emorealm.model_adapters.vllm import VLLMAdapter

    with pytest.raises(ModelError, match=r"pip install 'emorealm\[vllm\]'"):
        VLLMAdapter(pretrained="some/model")
    code = main(["run", "--model", "vllm", "--model-args", "pretrained=some/model", "--limit", "1"])
    assert code == 2 and "pip install 'emorealm[vllm]'" in capsys.readouterr().err


def test_limit_mm_per_prompt_parsing():
    from emorealm.model_adapters.vllm import parse_limits

    assert parse_limits("video:2;audio:0") == {"video": 2, "audio": 0}
    assert parse_limits("video:1+audio:1") == {"video": 1, "audio": 1}
    assert parse_limits({"audio": "3"}) == {"audio": 3} and parse_limits(None) == {}
    for bad in ("video=1", "video:x", "video"):
        with pytest.raises(ConfigError, match="limit_mm_per_prompt"):
            parse_limits(bad)


def test_modality_rules():
    from emorealm.model_adapters.modalities import needed_modalities, prepare_media
    from emorealm.options import parse_modalities

    assert parse_modalities("video+audio") == ("video", "audio") and parse_modalities("audio") == ("audio",)
    assert parse_modalities("none") == () and parse_modalities(None) == ("video", "audio")
    with pytest.raises(ConfigError, match="unknown modalities"):
        parse_modalities("video+smell")
    spec = MediaSpec()
    clip = {"video": "/x.mp4", "audio": None, "audio_source": "video"}
    assert needed_modalities(clip, spec) == ("video", "audio")
    assert needed_modalities({**clip, "audio_source": "none"}, spec) == ("video",)
    assert needed_modalities(clip, MediaSpec(audio=False)) == ("video",)  # switched off on purpose
    assert needed_modalities({"video": None, "audio": "/a.wav", "audio_source": "sidecar"}, spec) == ("audio",)
    # refused before any decoding: the file does not even exist
    with pytest.raises(ModelError, match=r"does not accept audio.*audio=false"):
        prepare_media({"media": clip}, spec, ("video",), "m")
