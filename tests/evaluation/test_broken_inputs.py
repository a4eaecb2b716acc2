"""The broken-input corpus (scripts/make_broken_corpus.py): every case fails one sample or is refused
up front with a clear message, is counted in the results, and nothing crashes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from emorealm.benchmarks.emorealm import load_docs
from emorealm.errors import DataError

from support.runs import results_file, run_cli, samples_by_task, stamp_of

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_broken_corpus.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_broken_corpus", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("broken")
    cases = _script().make_corpus(out)
    return out, cases


def test_corpus_covers_at_least_twenty_kinds(corpus):
    out, cases = corpus
    manifest = json.loads((out / "manifest.json").read_text())["cases"]
    assert len(manifest) == len(cases) >= 20
    assert len({c["name"] for c in manifest}) == len(manifest)
    kinds = {c.kind for c in cases}
    assert kinds == {"ok", "sample_error", "refusal"}


def test_every_refusal_case_is_refused_with_its_message(corpus):
    _, cases = corpus
    wrong = []
    for case in (c for c in cases if c.kind == "refusal"):
        try:
            load_docs(case.task, data_root=case.root)
        except DataError as exc:
            if case.expect.lower() not in str(exc).lower():
                wrong.append(f"{case.name}: message {exc!s:.300} lacks {case.expect!r}")
        except Exception as exc:  # anything but a DataError is a crash
            wrong.append(f"{case.name}: {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{case.name}: loaded without complaint")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_refusal_from_the_command_line_is_clean(corpus, tiny_omni_dir):
    """A refused data root stops the CLI with exit 2, the message and no traceback, before the model loads."""
    _, cases = corpus
    case = next(c for c in cases if c.name == "path_escapes_data_root")
    proc = run_cli("run", "--model", "tiny-omni", "--tasks", case.task, "--data-root", case.root,
               "--output", str(Path(case.root).parent / "out"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "outside the data root" in proc.stderr and "Traceback" not in proc.stderr
    assert "Loading weights" not in proc.stderr  # refused before the model was loaded


@pytest.mark.slow
def test_media_cases_cost_one_sample_each(corpus, tiny_omni_dir, tmp_path):
    """The whole media root runs through the real pipeline: each broken clip is one counted error."""
    from emorealm.evaluation.runner import RunConfig, evaluate

    out, cases = corpus
    media = [c for c in cases if c.kind != "refusal"]
    root = media[0].root
    tasks = sorted({c.task for c in media})
    cfg = RunConfig(model="tiny-omni", model_args="max_frames=8", tasks=tasks, data_root=root,
                    output=str(tmp_path), gen_kwargs="max_gen_toks=2")
    results, _ = evaluate(cfg)
    folder = tmp_path / "tiny-omni"
    samples = samples_by_task(folder, stamp_of(results_file(folder)))
    by_id = {s["doc"]["id"]: s for rows in samples.values() for s in rows}
    assert set(by_id) == {c.id for c in media}
    problems = []
    for case in media:
        err = by_id[case.id]["doc"].get("_error")
        if case.kind == "ok" and err:
            problems.append(f"{case.name}: unexpected error {err}")
        elif case.kind == "sample_error":
            if not err:
                problems.append(f"{case.name}: no per-sample error")
            elif case.expect.lower() not in err["message"].lower():
                problems.append(f"{case.name}: message {err['message']!r} lacks {case.expect!r}")
            elif by_id[case.id]["acc"] != 0.0:
                problems.append(f"{case.name}: a failed sample must score wrong")
    assert not problems, "\n".join(problems)
    for task in tasks:
        expected = sum(c.kind == "sample_error" and c.task == task for c in media)
        assert results["results"][task]["n_errors,none"] == expected
        assert results["emorealm"]["n_errors"][task] == expected
        assert results["n-samples"][task]["effective"] == sum(c.task == task for c in media)  # none dropped


def _clip(corpus, name: str) -> str:
    out, _ = corpus
    return str(out / "media_root" / "dfew" / "dfew_original_clips_24fps" / name)


def test_decoding_caps_resolution_frames_and_length(corpus, monkeypatch):
    from emorealm.errors import MediaError
    from emorealm.media import decode as media

    spec = media.MediaSpec(max_frames=6, min_pixels=28 * 28, max_pixels=320 * 240)
    frames, _, _, _ = media.decode_video(_clip(corpus, "eight_k.mp4"), spec)
    assert frames.shape[0] <= 6 and frames.shape[1] * frames.shape[2] <= 320 * 240
    # aspect kept up to the 28-pixel grid of the reference rule
    assert frames.shape[2] / frames.shape[1] == pytest.approx(7680 / 4320, rel=0.05)

    # a 900 s clip under a 60 s limit: frames spread over the first 60 s, audio cut at 60 s
    short = media.MediaSpec(max_frames=6, max_seconds=60.0)
    frames, fps, duration, times = media.decode_video(_clip(corpus, "long.mp4"), short)
    assert duration == 60.0 and frames.shape[0] == 6 and max(times) <= 60.0
    assert times == sorted(times) and times[-1] - times[0] >= 50  # spread, not the first six seconds
    wave = media.decode_audio(_clip(corpus, "long.mp4"), short)
    assert len(wave) == 60 * short.sample_rate

    # a source frame above the cap is refused before any frame is decoded
    monkeypatch.setattr(media, "MAX_SOURCE_PIXELS", 1000)
    with pytest.raises(MediaError, match="exceeds"):
        media.decode_video(_clip(corpus, "good.mp4"), spec)


def test_decoded_media_memo_is_bounded_in_bytes(corpus, monkeypatch):
    from emorealm.media import decode as media

    monkeypatch.setattr(media, "_cache", media.OrderedDict())
    spec = media.MediaSpec(max_frames=4)
    one = media.load_media({"video": _clip(corpus, "good.mp4"), "audio": None, "audio_source": "video"}, spec)
    monkeypatch.setattr(media, "_CACHE_BYTES", int(media._nbytes(one) * 1.5))
    for name in ("good.mp4", "wrong_ext.mkv", "bad_sidecar.mp4", "empty_sidecar.mp4"):
        media.load_media({"video": _clip(corpus, name), "audio": None, "audio_source": "video"}, spec)
    assert len(media._cache) == 1  # only the latest fits


def test_long_clips_are_sampled_by_seeking_with_the_same_frames(corpus, monkeypatch):
    from emorealm.media import decode as media

    spec = media.MediaSpec(max_frames=8, max_seconds=600.0)  # 600 s of the 900 s clip
    seek = media.decode_video(_clip(corpus, "long.mp4"), spec)
    calls = []
    monkeypatch.setattr(media, "_decode_by_seeking", lambda *a: calls.append(1) or {})
    sequential = media.decode_video(_clip(corpus, "long.mp4"), spec)
    assert calls  # the seeking path was the one taken above
    assert seek[3] == sequential[3] and np.array_equal(seek[0], sequential[0])
    assert seek[2] == 600.0 and seek[3][-1] > 550


# CSV-based benchmarks (DFEW split files, EMER annotation files): refused before the run, or one
# sample each, never a crash.
def _dfew_root(tmp_path, csv_bytes: bytes):
    base = tmp_path / "DFEW"
    split = base / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv"
    split.parent.mkdir(parents=True)
    split.write_bytes(csv_bytes)
    from emorealm.media.synth import write_av_clip

    for i in (1, 2):
        write_av_clip(base / "Clip" / "original" / f"{i:05d}.mp4", seconds=0.5, fps=8, size=(32, 32))
    return tmp_path


@pytest.mark.parametrize(("name", "csv_bytes", "expect"), [
    ("csv_missing_column", b"video_name\n1\n2\n", "missing ['label']"),
    ("csv_wrong_columns", b"clip,emotion\n1,1\n", "expected ['video_name', 'label']"),
    ("csv_not_utf8", "video_name,label\n1,1\n2,caf\u00e9\n".encode("latin-1"), "not UTF-8"),
])
def test_csv_refusals(tmp_path, name, csv_bytes, expect):
    from emorealm.benchmarks.dfew import load_dfew

    with pytest.raises(DataError) as info:
        load_dfew(data_root=str(_dfew_root(tmp_path, csv_bytes)))
    assert expect in str(info.value)


def test_csv_label_out_of_range_costs_one_sample(tmp_path):
    from emorealm.benchmarks.dfew import load_dfew

    docs = load_dfew(data_root=str(_dfew_root(tmp_path, b"video_name,label\n1,9\n2,1\n"))).docs
    bad = [d for d in docs if d.get("_load_error")]
    assert len(docs) == 2 and len(bad) == 1 and "9" in bad[0]["_load_error"]["message"]


def test_emer_csv_missing_column_is_refused(tmp_path):
    from emorealm.benchmarks.emer import load_emer

    base = tmp_path / "EMER"
    base.mkdir()
    (base / "track3_train_ovmerd.csv").write_text("name,description\nsample_1,happy\n")
    with pytest.raises(DataError, match="missing \\['reason'\\]"):
        load_emer(data_root=str(tmp_path))
