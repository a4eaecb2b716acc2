"""Loaders on the distributed layouts, protocol filters and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from emorealm.benchmarks.dfew import LABELS as DFEW_LABELS
from emorealm.benchmarks.dfew import load_dfew
from emorealm.benchmarks.emer import load_emer, parse_openset
from emorealm.benchmarks.ravdess import load_ravdess, parse_name
from emorealm.errors import ConfigError, DataError


def touch(p: Path, data: bytes = b"") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


# ------------------------------------------------------------------ DFEW


def official_dfew(root: Path) -> Path:
    base = root / "DFEW"
    write(base / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv",
          "video_name,label\n1,1\n2,7\n00003,3\n4,9\n5,x\n6,2\n6,2\n")
    write(base / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_2.csv", "video_name,label\n2,5\n")
    write(base / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv", "video_name,label\n3,4\n")
    for n in ("00001", "00002", "00003", "00004", "00005"):  # clip 6 is missing
        touch(base / "Clip" / "original" / f"{n}.mp4")
    return base


def test_dfew_official_layout(tmp_path):
    official_dfew(tmp_path)
    res = load_dfew(data_root=tmp_path, unrelated_option="ignored")
    ids = [d["id"] for d in res.docs]
    assert ids == ["1", "2", "00003", "4", "5", "6"]  # duplicate row of 6 reported, not doubled
    by = {d["id"]: d for d in res.docs}
    assert by["1"]["answer"] == "happiness" and by["2"]["answer"] == "fear" and by["00003"]["answer"] == "neutral"
    assert by["1"]["media"] == {"video": str(tmp_path / "DFEW/Clip/original/00001.mp4"), "audio": None,
                                "audio_source": "video"}
    assert by["4"]["answer"] is None and "not 1-7" in by["4"]["_load_error"]["message"]
    assert by["5"]["_load_error"]["kind"] == "DataError"
    assert by["6"]["_load_error"]["kind"] == "MediaError" and by["6"]["answer"] == "sadness"
    assert all(d["labels"] == DFEW_LABELS and d["_task"] == "dfew" for d in res.docs)
    assert len(res.problems) == 4  # label 9, label x, missing clip, repeated row
    assert res.fingerprint.startswith("sha256:")


def test_dfew_fold_split_and_options(tmp_path):
    official_dfew(tmp_path)
    assert [d["answer"] for d in load_dfew(data_root=tmp_path, fold=2).docs] == ["surprise"]
    assert [d["answer"] for d in load_dfew(data_root=tmp_path, dfew_split="train").docs] == ["anger"]
    with pytest.raises(DataError, match="set_3.csv"):
        load_dfew(data_root=tmp_path, fold=3)
    with pytest.raises(ConfigError, match="1-5"):
        load_dfew(data_root=tmp_path, fold=9)
    with pytest.raises(DataError, match="does not exist"):
        load_dfew(data_root=tmp_path / "nowhere")
    with pytest.raises(DataError, match="no DFEW folder"):
        load_dfew(data_root=tmp_path / "DFEW" / "Clip")
    with pytest.raises(DataError, match="outside the data root"):
        load_dfew(data_root=tmp_path, dfew_dir="../x")


def test_dfew_released_layout_with_sidecars(tmp_path):
    base = tmp_path / "dfew"
    write(base / "dfew_annotation" / "test(single-labeled)" / "set_1.csv", "video_name,label\n10,4\n11,6\n")
    touch(base / "dfew_original_clips_24fps" / "part_3" / "00010.mp4")
    touch(base / "dfew_original_clips_24fps" / "part_4" / "00011.mp4")
    touch(base / "dfew_original_clips_16khz" / "part_3" / "00010.wav")
    docs = load_dfew(data_root=tmp_path).docs
    assert docs[0]["media"]["audio_source"] == "sidecar"
    assert docs[0]["media"]["audio"].endswith("dfew_original_clips_16khz/part_3/00010.wav")
    assert docs[1]["media"]["audio_source"] == "video" and docs[1]["answer"] == "disgust"


def test_dfew_bad_columns(tmp_path):
    base = tmp_path / "DFEW"
    write(base / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv", "clip,emotion\n1,1\n")
    touch(base / "Clip" / "original" / "00001.mp4")
    with pytest.raises(DataError, match="expected \\['video_name', 'label'\\]"):
        load_dfew(data_root=tmp_path)


# ------------------------------------------------------------------ RAVDESS

NAMES = [
    "01-01-01-01-01-01-01", "01-01-02-01-01-01-01", "01-01-03-01-01-01-01", "01-02-04-01-01-01-01",
    "02-01-05-01-01-01-01", "01-01-08-02-02-02-01", "01-01-09-01-01-01-01", "01-01-03-01",
]


def official_ravdess(root: Path, sub: str = "") -> Path:
    base = root / "RAVDESS" / sub if sub else root / "RAVDESS"
    for n in NAMES:
        touch(base / "Actor_01" / f"{n}.mp4")
    touch(base / "Actor_01" / "03-01-05-01-01-01-01.wav")
    touch(base / "Actor_01" / "notes.txt")
    return base


def test_ravdess_default_protocol(tmp_path):
    official_ravdess(tmp_path)
    res = load_ravdess(data_root=tmp_path)
    good = {d["id"]: d["answer"] for d in res.docs if "_load_error" not in d}
    assert good == {"Actor_01/01-01-01-01-01-01-01": "neutral", "Actor_01/01-01-03-01-01-01-01": "happiness",
                    "Actor_01/01-01-08-02-02-02-01": "surprise"}
    bad = [d for d in res.docs if "_load_error" in d]
    assert sorted(d["id"] for d in bad) == ["Actor_01/01-01-03-01", "Actor_01/01-01-09-01-01-01-01"]
    assert all(d["answer"] is None for d in bad) and len(res.problems) == 2
    assert "emotion 09" in next(d for d in bad if "09" in d["id"])["_load_error"]["message"]
    assert "modality: 2, channel: 1, calm: 1" == res.source["skipped_by_protocol"]


def test_ravdess_options(tmp_path):
    official_ravdess(tmp_path)
    res = load_ravdess(data_root=tmp_path, include_calm="true", include_song=True, include_video_only="1")
    good = {d["id"].split("/")[1]: d for d in res.docs if "_load_error" not in d}
    assert good["01-01-02-01-01-01-01"]["answer"] == "calm"
    assert good["01-02-04-01-01-01-01"]["answer"] == "sadness"
    vo = good["02-01-05-01-01-01-01"]
    assert vo["answer"] == "anger" and vo["media"]["audio_source"] == "none"
    assert "calm" in vo["labels"] and len(vo["labels"]) == 8
    with pytest.raises(ConfigError, match="boolean"):
        load_ravdess(data_root=tmp_path, include_calm="maybe")


def test_ravdess_released_layout(tmp_path):
    official_ravdess(tmp_path, "ravdess_videos_24fps")
    touch(tmp_path / "RAVDESS" / "ravdess_videos_16khz" / "Actor_01" / "01-01-01-01-01-01-01.wav")
    docs = {d["id"]: d for d in load_ravdess(data_root=tmp_path).docs}
    assert docs["Actor_01/01-01-01-01-01-01-01"]["media"]["audio_source"] == "sidecar"
    assert docs["Actor_01/01-01-03-01-01-01-01"]["media"]["audio_source"] == "video"


def test_ravdess_parse_and_missing(tmp_path):
    n = parse_name("01-01-06-02-01-02-13")
    assert (n.label, n.intensity, n.actor) == ("fear", "02", 13)
    for bad, why in [("04-01-01-01-01-01-01", "modality"), ("01-03-01-01-01-01-01", "channel"),
                     ("01-01-01-01-01-01-25", "actor"), ("1-1-1-1-1-1-1", "7 two-digit")]:
        with pytest.raises(DataError, match=why):
            parse_name(bad)
    (tmp_path / "RAVDESS").mkdir()
    with pytest.raises(DataError, match="Actor_XX"):
        load_ravdess(data_root=tmp_path)


# ------------------------------------------------------------------ EMER


def ovmerd(root: Path) -> Path:
    base = root / "EMER"
    write(base / "track3_train_ovmerd.csv",
          'name,reason\nsample_1,"She smiles, happy."\nsample_2,He shouts angrily.\nsample_3,\nsample_4,Calm talk.\n')
    write(base / "track2_train_ovmerd.csv",
          "name,openset\nsample_1,\"['happy', 'relaxed']\"\nsample_2,\"[angry]\"\nsample_3,['sad']\nsample_4,[]\n")
    for n in ("sample_1", "sample_2", "sample_3"):
        touch(base / "video" / f"{n}.mp4")
    touch(base / "audio" / "sample_1.wav")
    return base


def test_emer_as_distributed(tmp_path):
    ovmerd(tmp_path)
    res = load_emer(data_root=tmp_path)
    by = {d["id"]: d for d in res.docs}
    assert by["sample_1"]["reference_emotions"] == ["happy", "relaxed"]
    assert by["sample_1"]["media"]["audio_source"] == "sidecar"
    assert by["sample_2"]["reference_emotions"] == ["angry"] and by["sample_2"]["answer"] == "He shouts angrily."
    assert by["sample_3"]["_load_error"]["kind"] == "DataError"  # no description
    assert by["sample_4"]["reference_emotions"] == [] and by["sample_4"]["_load_error"]["kind"] == "MediaError"
    assert len(res.problems) == 3


def test_emer_bad_files(tmp_path):
    base = ovmerd(tmp_path)
    (base / "track2_train_ovmerd.csv").unlink()
    with pytest.raises(DataError, match="openset"):
        load_emer(data_root=tmp_path)
    write(base / "track3_train_ovmerd.csv", "name,description\nx,y\n")
    with pytest.raises(DataError, match="expected \\['name', 'reason'\\]"):
        load_emer(data_root=tmp_path)
    write(base / "merged.csv", "name,reason,openset\nsample_1,Happy.,\"happy, joyful\"\n")
    docs = load_emer(data_root=tmp_path, emer_description_file="merged.csv").docs
    assert docs[0]["reference_emotions"] == ["happy", "joyful"]


def test_parse_openset():
    assert parse_openset("['happy', 'relaxed']") == ["happy", "relaxed"]
    assert parse_openset('["a","b"]') == ["a", "b"]
    assert parse_openset("[happy, sad]") == ["happy", "sad"]
    assert parse_openset("happy; sad") == ["happy", "sad"]
    assert parse_openset("") == [] and parse_openset("nan") == [] and parse_openset("[]") == []


def test_sample_data_command_writes_all_layouts(tmp_path):
    """`emorealm sample-data DIR` writes DFEW, RAVDESS and EMER; the default protocols load them cleanly."""
    from emorealm.cli import main

    assert main(["sample-data", str(tmp_path)]) == 0
    dfew = load_dfew(data_root=tmp_path)
    assert [d["answer"] for d in dfew.docs] == DFEW_LABELS and not dfew.problems
    assert {d["media"]["audio_source"] for d in dfew.docs} == {"sidecar", "video"}
    rav = load_ravdess(data_root=tmp_path)
    assert len(rav.docs) == 8 and not rav.problems
    assert set(d["answer"] for d in rav.docs) == set(DFEW_LABELS)
    assert rav.source["skipped_by_protocol"] == "modality: 2, channel: 1, calm: 1"
    emer = load_emer(data_root=tmp_path)
    assert len(emer.docs) == 3 and not emer.problems and all(d["reference_emotions"] for d in emer.docs)
    assert (tmp_path / "EmoReAlM" / "emorealm_v1.json").is_file()  # the lead's EmoReAlM data still there
