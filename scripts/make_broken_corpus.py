"""Generate the broken-input corpus: every way a data root or a clip can be wrong.

    python scripts/make_broken_corpus.py OUT_DIR

writes under ``OUT_DIR``:

* ``media_root/`` — one EmoReAlM data root whose benchmark file has a row per broken (or merely
  unusual) media file, plus healthy rows. Each such row must either run or fail *as one sample*
  with a clear message; the run itself must finish.
* ``refusals/<case>/`` — one data root per broken annotation file or unsafe path. Loading it must
  be refused before anything runs, with a message that names the problem.
* ``manifest.json`` — ``{"cases": [{"name", "kind": "ok"|"sample_error"|"refusal", "root", "task",
  "id", "expect"}]}``; ``expect`` is a fragment of the message the user must see.

Everything is synthetic (PyAV/soundfile) and small except the 8K frame and the long clip, which are
the point of their cases. tests/evaluation/test_broken_inputs.py builds the corpus in a temp dir and walks it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from emorealm.media.synth import tone, write_av_clip, write_wav

CLIP_DIR = "dfew/dfew_original_clips_24fps"
AUDIO_DIR = "dfew/dfew_original_clips_16khz"
BENCH = "EmoReAlM/emorealm_v1.json"
LONG_SECONDS = 900.0  # 15 minutes: sampled by seeking (tests also cap it with MediaSpec.max_seconds)


@dataclass
class Case:
    name: str
    kind: str  # "ok": runs normally; "sample_error": one failed sample; "refusal": the load is refused
    root: str
    task: str = ""
    id: str = ""
    expect: str = ""  # fragment of the message the user sees (case-insensitive)


def _row(i: str, video: str, task: str) -> dict:
    if task.startswith("reasoning_basic"):
        choices = ["(A) happiness", "(B) sadness", "(C) anger", "(D) fear"]
    else:
        choices = ["(A) Yes", "(B) No"]
    return {"id": i, "video": video, "task": task, "question": f"Question {i}: what does the person feel?",
            "choices": choices, "answer": "A"}


def _good_clip(path: Path, **kw) -> Path:
    opts = {"seconds": 1.0, "fps": 8, "size": (32, 32), "sample_rate": 16000}
    opts.update(kw)
    return write_av_clip(path, **opts)


def _media_root(out: Path) -> list[Case]:
    """One data root, one row per media case (and healthy rows); sidecars only where a case needs one."""
    root = out / "media_root"
    clips, wavs = root / CLIP_DIR, root / AUDIO_DIR
    cases: list[Case] = []
    rows: list[dict] = []

    def add(name: str, kind: str, rel: str, task: str, expect: str = "") -> None:
        cases.append(Case(name, kind, str(root), task, name, expect))
        rows.append(_row(name, rel, task))

    _good_clip(clips / "good.mp4")
    add("healthy_clip", "ok", "good.mp4", "reasoning_basic_video")
    add("healthy_clip_audio_task", "ok", "good.mp4", "reasoning_basic_audio")

    data = (clips / "good.mp4").read_bytes()
    (clips / "truncated.mp4").write_bytes(data[: len(data) // 2])
    add("truncated_mp4", "sample_error", "truncated.mp4", "reasoning_basic_video", "truncated.mp4")

    (clips / "zero.mp4").write_bytes(b"")
    add("zero_byte_file", "sample_error", "zero.mp4", "reasoning_basic_video", "empty (0 bytes)")

    add("missing_file", "sample_error", "does_not_exist.mp4", "reasoning_basic_video", "not found")

    _good_clip(clips / "audio_only.mp4", with_video=False)
    add("mp4_without_video_stream", "sample_error", "audio_only.mp4", "reasoning_basic_video", "no video stream")

    _good_clip(clips / "silent.mp4", with_audio=False)
    add("mp4_without_audio_stream", "sample_error", "silent.mp4", "reasoning_basic_audio", "no audio stream")

    # an audio file where a video is expected (a wav saved under the clip's .mp4 name)
    write_wav(clips / "tmp.wav", tone(1.0, 16000, 220.0))
    os.replace(clips / "tmp.wav", clips / "wav_named_mp4.mp4")
    add("audio_file_as_video", "sample_error", "wav_named_mp4.mp4", "reasoning_basic_video", "no video stream")

    _good_clip(clips / "one_frame.mp4", seconds=1 / 8)
    add("one_frame_video", "ok", "one_frame.mp4", "reasoning_basic_video")

    _good_clip(clips / "eight_k.mp4", seconds=0.25, size=(7680, 4320))
    add("8k_resolution_frame", "ok", "eight_k.mp4", "reasoning_basic_video")

    # very long: 15 minutes at 1 fps, tiny frames, 8 kHz audio (sampled, never loaded whole)
    _good_clip(clips / "long.mp4", seconds=LONG_SECONDS, fps=1, size=(16, 16), sample_rate=8000)
    add("very_long_clip", "ok", "long.mp4", "reasoning_basic_video")

    # a valid mp4 whose name says mkv: containers are probed by content, not by extension
    shutil.copy(clips / "good.mp4", clips / "wrong_ext.mkv")
    add("wrong_extension", "ok", "wrong_ext.mkv", "reasoning_basic_video")

    corrupt = bytearray(data)
    corrupt[:64] = bytes(range(64))
    (clips / "corrupt_header.mp4").write_bytes(bytes(corrupt))
    add("corrupt_container_header", "sample_error", "corrupt_header.mp4", "reasoning_basic_video", "cannot open")

    (clips / "text.mp4").write_text("this is a subtitle file, not a video\n" * 20)
    add("text_file_as_video", "sample_error", "text.mp4", "reasoning_basic_video", "cannot open")

    rng = np.random.default_rng(0)
    (clips / "noise.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    add("random_bytes_as_video", "sample_error", "noise.mp4", "reasoning_basic_video", "cannot open")

    # sidecar wav problems: the clip itself is fine, the released 16 kHz sidecar is not
    _good_clip(clips / "bad_sidecar.mp4")
    wavs.mkdir(parents=True, exist_ok=True)
    (wavs / "bad_sidecar.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage-garbage-garbage")
    add("corrupt_sidecar_wav", "sample_error", "bad_sidecar.mp4", "reasoning_basic_audio", "bad_sidecar.wav")

    _good_clip(clips / "empty_sidecar.mp4")
    write_wav(wavs / "empty_sidecar.wav", np.zeros(0, dtype=np.float32))
    add("empty_sidecar_wav", "sample_error", "empty_sidecar.mp4", "reasoning_basic_audio", "no samples")

    # sidecar at 44.1 kHz instead of 16 kHz: resampled, not refused
    _good_clip(clips / "sidecar_44k.mp4")
    write_wav(wavs / "sidecar_44k.wav", tone(1.0, 44100, 330.0), 44100)
    add("sidecar_wrong_sample_rate", "ok", "sidecar_44k.mp4", "reasoning_basic_audio")

    bench = root / BENCH
    bench.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text(json.dumps(rows, indent=1))
    return cases


def _refusal_root(out: Path, name: str) -> Path:
    """A healthy one-clip data root to break in one way."""
    root = out / "refusals" / name
    _good_clip(root / CLIP_DIR / "good.mp4")
    (root / BENCH).parent.mkdir(parents=True, exist_ok=True)
    return root


def _refusals(out: Path) -> list[Case]:
    cases: list[Case] = []
    good = [_row("r0", "good.mp4", "reasoning_basic_video"), _row("r1", "good.mp4", "modality_agreement")]

    def case(name: str, expect: str, *, rows: list | None = None, text: str | None = None,
             raw: bytes | None = None) -> Path:
        root = _refusal_root(out, name)
        bench = root / BENCH
        if raw is not None:
            bench.write_bytes(raw)
        elif text is not None:
            bench.write_text(text, encoding="utf-8")
        else:
            bench.write_text(json.dumps(rows if rows is not None else good, indent=1))
        cases.append(Case(name, "refusal", str(root), "reasoning_basic_video", "", expect))
        return root

    case("non_utf8_annotation_file", "not UTF-8",
         raw=json.dumps(good).replace("Question", "Qu\u00e9stion").encode("latin-1"))
    case("json_trailing_comma", "not valid JSON", text=json.dumps(good, indent=1)[:-2] + ",\n]")
    bad = [dict(good[0]), good[1]]
    bad[0]["answer"] = "E"
    case("answer_not_among_choices", "is not one of the options", rows=bad)
    case("duplicate_ids", "duplicate ids", rows=[good[0], dict(good[1], id="r0")])
    case("path_escapes_data_root", "outside the data root", rows=[dict(good[0], video="../../../../etc/passwd")])
    case("absolute_media_path", "is absolute", rows=[dict(good[0], video="/etc/passwd")])
    root = case("symlink_out_of_data_root", "outside the data root", rows=[dict(good[0], video="link.mp4")])
    outside = out / "outside_the_root.mp4"
    _good_clip(outside)
    os.symlink(outside, root / CLIP_DIR / "link.mp4")
    case("empty_benchmark_file", "is empty", raw=b"")
    case("empty_json_list", "non-empty JSON list", text="[]")
    case("benchmark_not_a_list", "non-empty JSON list", text=json.dumps({"rows": good}))
    case("row_missing_field", "lacks ['answer']", rows=[{k: v for k, v in good[0].items() if k != "answer"}])
    case("choices_not_a_list", "no list of choices", rows=[dict(good[0], choices="(A) Yes (B) No")])
    case("unknown_task_key", "unknown task", rows=[good[0], dict(good[1], task="reasoning_basic_smell")])
    case("row_not_an_object", "not an object", rows=[good[0], "r1"])
    case("benchmark_file_missing", "not found", rows=good)
    (Path(cases[-1].root) / BENCH).unlink()
    return cases


def make_corpus(out: str | Path) -> list[Case]:
    """Write the whole corpus under ``out`` and return its cases (also saved as manifest.json)."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cases = _media_root(out) + _refusals(out)
    (out / "manifest.json").write_text(json.dumps({"cases": [asdict(c) for c in cases]}, indent=1))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to (re)create")
    args = parser.parse_args(argv)
    cases = make_corpus(args.out)
    kinds = {k: sum(c.kind == k for c in cases) for k in ("ok", "sample_error", "refusal")}
    print(f"{len(cases)} cases under {args.out}: {kinds}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
