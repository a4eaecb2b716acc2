"""A checkpoint's training media (emorealm_media.json) become the HF adapter's media defaults."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from emorealm.errors import ModelError
from emorealm.media.spec import MediaSpec
from emorealm.model_adapters.checkpoint_media import (
    CHECKPOINT_MEDIA,
    media_record,
    read_checkpoint_media,
    with_checkpoint_media,
    write_checkpoint_media,
)


def test_record_holds_only_what_differs_from_the_reference():
    assert media_record(MediaSpec()) == {}
    assert media_record(MediaSpec(min_frames=2, max_frames=2, min_pixels=3136, max_pixels=3136, audio=False)) == {
        "min_frames": 2, "max_frames": 2, "min_pixels": 3136, "max_pixels": 3136, "audio": False}


def test_user_options_win_and_a_preset_ignores_the_file(tmp_path, caplog):
    write_checkpoint_media(tmp_path, MediaSpec(min_frames=2, max_frames=2, min_pixels=3136, max_pixels=3136))
    with caplog.at_level(logging.INFO, logger="emorealm"):
        merged, taken = with_checkpoint_media({"max_frames": "8"}, None, str(tmp_path))
    assert merged == {"min_frames": 2, "max_frames": "8", "min_pixels": 3136, "max_pixels": 3136}
    assert taken == {"min_frames": 2, "min_pixels": 3136, "max_pixels": 3136}
    assert any("training media" in r.getMessage() for r in caplog.records)
    assert with_checkpoint_media({"media": "qwen-reference"}, str(tmp_path)) == ({"media": "qwen-reference"}, {})
    assert with_checkpoint_media({"fps": "1"}, str(tmp_path / "nowhere")) == ({"fps": "1"}, {})


def test_the_adapter_folder_comes_before_its_base(tmp_path):
    lora, base = tmp_path / "lora", tmp_path / "base"
    write_checkpoint_media(lora.mkdir() or lora, MediaSpec(max_frames=4))
    write_checkpoint_media(base.mkdir() or base, MediaSpec(max_frames=2))
    assert read_checkpoint_media(str(lora), str(base))[0] == {"max_frames": 4}
    assert read_checkpoint_media(None, str(base))[0] == {"max_frames": 2}


@pytest.mark.parametrize("text, match", [("[1, 2]", "not a JSON object"), ('{"media": 3}', "must be a mapping"),
                                         ('{"media": {"max_frame": 2}}', r"unknown media option\(s\) \['max_frame'\]"),
                                         ("{oops", "not a JSON object")])
def test_a_broken_file_is_refused(tmp_path, text, match):
    (tmp_path / CHECKPOINT_MEDIA).write_text(text)
    with pytest.raises(ModelError, match=match):
        read_checkpoint_media(str(tmp_path))


def test_hf_adapter_applies_and_records_the_checkpoint_media(tiny_omni_dir, tmp_path):
    from emorealm.model_adapters.hf import HFAdapter

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_omni_dir, folder)
    write_checkpoint_media(folder, MediaSpec(min_frames=2, max_frames=2, min_pixels=3136, max_pixels=3136))
    lm = HFAdapter(pretrained=str(folder), max_pixels="6272")
    assert (lm.spec.min_frames, lm.spec.max_frames, lm.spec.min_pixels, lm.spec.max_pixels) == (2, 2, 3136, 6272)
    meta = lm.emorealm_metadata()
    assert meta["media_from_checkpoint"] == {"min_frames": 2, "max_frames": 2, "min_pixels": 3136}
    assert meta["media"]["max_pixels"] == 6272 and meta["media"]["name"] != "qwen-reference"
    assert json.loads((folder / CHECKPOINT_MEDIA).read_text())["spec_name"].startswith("qwen-reference")
    plain = HFAdapter(pretrained=str(tiny_omni_dir))
    assert plain.spec == MediaSpec() and plain.emorealm_metadata()["media_from_checkpoint"] == {}
