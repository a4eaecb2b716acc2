"""Disk decode cache: keyed by file identity + spec, npz/JSON without pickle, errors never cached."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from emorealm.errors import MediaError
from emorealm.media import cache as media_cache
from emorealm.media import decode as media
from emorealm.media.decode import MediaSpec, load_media
from emorealm.media.synth import tone, write_av_clip, write_wav


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOREALM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EMOREALM_MEDIA_CACHE", raising=False)
    media._cache.clear()
    yield tmp_path / "cache" / "media"
    media._cache.clear()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(write_av_clip(tmp_path_factory.mktemp("m") / "c.mp4", seconds=1.5, seed=2))


def _entries(folder):
    return sorted(p.suffix for p in folder.iterdir()) if folder.exists() else []


def _forbid_decoding(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("decoded although the disk cache holds the entry")

    monkeypatch.setattr(media, "decode_video", boom)
    monkeypatch.setattr(media, "decode_audio", boom)


def test_round_trip_without_decoding(cache, clip, monkeypatch):
    doc = {"video": clip, "audio": None, "audio_source": "video"}
    cold = load_media(doc, MediaSpec())
    assert _entries(cache) == [".json", ".npz"]
    # no pickle: arrays load with allow_pickle=False, metadata is plain JSON
    npz = next(cache.glob("*.npz"))
    with np.load(npz, allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["audio", "frames"]
    meta = json.loads(next(cache.glob("*.json")).read_text())
    assert meta["key"]["video"][0] == os.path.realpath(clip)
    media._cache.clear()
    _forbid_decoding(monkeypatch)
    warm = load_media(doc, MediaSpec())
    assert warm.frames.dtype == np.uint8 and np.array_equal(warm.frames, cold.frames)
    assert warm.audio.dtype == np.float32 and np.array_equal(warm.audio, cold.audio)
    assert (warm.fps, warm.audio_source, warm.duration, warm.frame_times) == \
        (cold.fps, cold.audio_source, cold.duration, cold.frame_times)


def test_none_arrays_round_trip(cache, tmp_path, monkeypatch):
    wav = str(write_wav(tmp_path / "a.wav", tone(1.0, 16000, 220.0)))
    doc = {"video": None, "audio": wav, "audio_source": "sidecar"}
    cold = load_media(doc, MediaSpec())
    media._cache.clear()
    _forbid_decoding(monkeypatch)
    warm = load_media(doc, MediaSpec())
    assert warm.frames is None and cold.frames is None
    assert np.array_equal(warm.audio, cold.audio) and warm.audio_source == "sidecar"


def test_key_follows_file_identity_and_spec(cache, tmp_path):
    path = tmp_path / "v.mp4"
    write_av_clip(path, seconds=1.0, seed=1)
    doc = {"video": str(path), "audio": None, "audio_source": "video"}
    first = load_media(doc, MediaSpec())
    load_media(doc, MediaSpec(fps=4.0))  # another spec: another entry
    assert len(list(cache.glob("*.npz"))) == 2
    write_av_clip(path, seconds=1.0, seed=7)  # replaced clip: new size/mtime, decoded again
    os.utime(path, ns=(1, 1))
    media._cache.clear()
    second = load_media(doc, MediaSpec())
    assert len(list(cache.glob("*.npz"))) == 3
    assert not np.array_equal(first.frames, second.frames)


def test_errors_are_not_cached(cache, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(MediaError):
        load_media({"video": str(bad), "audio": None, "audio_source": "video"}, MediaSpec())
    assert _entries(cache) == []


def test_corrupt_entry_is_decoded_again(cache, clip):
    doc = {"video": clip, "audio": None, "audio_source": "video"}
    cold = load_media(doc, MediaSpec())
    next(cache.glob("*.npz")).write_bytes(b"truncated")
    media._cache.clear()
    again = load_media(doc, MediaSpec())
    assert np.array_equal(again.frames, cold.frames)


def test_disabled_by_env(cache, clip, monkeypatch):
    monkeypatch.setenv("EMOREALM_MEDIA_CACHE", "0")
    load_media({"video": clip, "audio": None, "audio_source": "video"}, MediaSpec())
    assert _entries(cache) == []


def test_digest_is_stable_and_distinct():
    a = media_cache.digest({"video": ["/x", 1, 2], "spec": {"fps": 2.0}})
    assert a == media_cache.digest({"spec": {"fps": 2.0}, "video": ["/x", 1, 2]})
    assert a != media_cache.digest({"video": ["/x", 1, 3], "spec": {"fps": 2.0}})
