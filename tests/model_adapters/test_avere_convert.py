"""``emorealm convert-avere``: the shared reference checkpoint ``ckpt_A`` (released layout) converted
into one folder with its towers computes what the released code computed, loads without backbones,
and bad requests are refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from test_avere_reference import reference_root

from emorealm.errors import ConfigError

CLIP = "clip1_tone440"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from emorealm.cli import main

    dst = tmp_path_factory.mktemp("conv") / "A"
    assert main(["convert-avere", str(reference_root() / "ckpt_A"), str(dst), "--dtype", "float32"]) == 0
    return dst


def test_converted_folder_holds_its_towers(converted):
    assert not (converted / "backbones").exists()
    assert sorted(p.name for p in converted.glob("*.bin")) == []  # nothing to unpickle
    cfg = json.loads((converted / "config.json").read_text())
    assert cfg["model_type"] == "avere" and set(cfg["avere_backbones"]) == {"image", "video", "speech", "bert"}
    assert (converted / "preprocessor_config.json").exists() and (converted / "tokenizer_config.json").exists()
    from safetensors import safe_open

    with safe_open(str(converted / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    # the released names, towers included
    assert "model.video_tower.video_tower.encoder.layers.0.temporal_attn.q_proj.weight" in keys
    assert "model.speech_tower.speech_tower.conv1.weight" in keys
    assert "model.speech_projector.speech_Qformer.bert.encoder.layer.1.crossattention.self.key.weight" in keys


@torch.inference_mode()
def test_converted_folder_computes_the_released_logits(converted):
    from emorealm.model_adapters.avere.loading import load_avere

    root = reference_root()
    ref = root / "ref" / "A" / CLIP
    model, proc, accepts = load_avere(converted)
    assert accepts == ("video", "audio")
    source, _, _ = load_avere(root / "ckpt_A")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in source.state_dict().items())
    from emorealm.model_adapters.avere.preprocessing import expand_placeholders

    released = np.load(ref / "input_ids.npy").reshape(-1).tolist()
    assert proc.released_ids((ref / "prompt.txt").read_text()) == released  # the saved tokenizer tokenizes alike
    ids = expand_placeholders(released, proc.tokens_per_frame, proc.audio_tokens)
    logits = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                   videos=torch.from_numpy(np.load(ref / "video.npy")),
                   audio_mel=torch.from_numpy(np.load(ref / "audio_mel.npy"))).logits[0, -1]
    assert np.abs(logits.numpy() - np.load(ref / "logits_last.npy")).max() < 1e-4


def test_bad_conversions_are_refused(converted, tmp_path):
    from emorealm.model_adapters.avere.convert import convert_avere
    from emorealm.model_adapters.avere.loading import load_avere

    root = reference_root()
    with pytest.raises(ConfigError, match="not empty"):
        convert_avere(root / "ckpt_A", converted)
    with pytest.raises(ConfigError, match="already holds its towers"):
        convert_avere(converted, tmp_path / "again")
    with pytest.raises(ConfigError, match="backbones= does not apply"):
        load_avere(converted, backbones=str(root / "ckpt_A" / "backbones"))
    # a converted folder needs nothing beside it
    moved = tmp_path / "moved"
    shutil.copytree(converted, moved)
    _, _, accepts = load_avere(moved)
    assert accepts == ("video", "audio")
