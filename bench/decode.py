"""Media sampling throughput: ours (PyAV) vs the ffmpeg command line, and the disk cache warm vs cold.

Clips: synthetic H.264 + AAC mp4s (``--clips`` of ``--seconds`` s at 24 fps, ``--size``), like the
DFEW clips EmoReAlM uses. For each clip ours samples frames under the default media spec
(``qwen-reference``: the qwen-omni-utils frame rule, each frame resized once from the source with
bicubic + antialias) and 16 kHz mono audio from the clip's own track (native rate, channel average,
soxr HQ; ``emorealm.media.decode.load_media``); the baseline runs one ``ffmpeg`` command per clip that
extracts exactly the same frame indices (``select`` filter), scales them to the same size (bicubic)
as rgb24 and gives 16 kHz mono float audio. The outputs are compared (frame count and pixels, audio
length) so both sides do the same work. The disk cache's key holds the spec (name and fields).

Lines: clips/s of each side, then ``decode_vs_ffmpeg: <ours ÷ ffmpeg> (target >= 1.0)`` and, last,
``decode_cache: <warm ÷ cold> (target >= 20)`` where warm reads the disk cache (in-process LRU
cleared) and cold decodes (cache off).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def ffmpeg_extract(clip: str, frame_indices: list[int], width: int, height: int, out_dir: Path,
                   sample_rate: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """The ffmpeg CLI doing our sampling: the given frames as rgb24, audio as 16 kHz mono f32."""
    uniq = sorted(set(frame_indices))
    select = "+".join(f"eq(n\\,{i})" for i in uniq)
    vid, aud = out_dir / "frames.raw", out_dir / "audio.raw"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", clip,
           "-map", "0:v:0", "-vf", f"select='{select}',scale={width}:{height}:flags=bicubic", "-fps_mode", "vfr",
           "-f", "rawvideo", "-pix_fmt", "rgb24", str(vid),
           "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", str(aud)]
    subprocess.run(cmd, check=True)
    frames = np.fromfile(vid, dtype=np.uint8).reshape(-1, height, width, 3)
    # our sampler repeats a frame when two target times fall on it; expand the same way
    pos = {i: k for k, i in enumerate(uniq)}
    return frames[[pos[i] for i in frame_indices]], np.fromfile(aud, dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", default="480x360")
    ap.add_argument("--rounds", type=int, default=5, help="each side's best of this many passes")
    args = ap.parse_args()
    if not shutil.which("ffmpeg"):
        raise SystemExit("bench/decode.py needs the ffmpeg command line (Debian: apt-get install -y ffmpeg)")

    from emorealm.media import decode as media
    from emorealm.media.decode import MediaSpec, load_media
    from emorealm.media.synth import write_av_clip

    w, h = (int(x) for x in args.size.split("x"))
    spec = MediaSpec()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ["EMOREALM_CACHE"] = str(tmp_path / "cache")
        clips = [str(write_av_clip(tmp_path / f"c{i}.mp4", seconds=args.seconds, size=(w, h), seed=i))
                 for i in range(args.clips)]
        docs = [{"video": c, "audio": None, "audio_source": "video"} for c in clips]

        def ours() -> list:
            media._cache.clear()
            return [load_media(d, spec) for d in docs]

        def timed(fn) -> tuple[float, object]:
            best, out = float("inf"), None
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                out = fn()
                best = min(best, time.perf_counter() - t0)
            return best, out

        os.environ["EMOREALM_MEDIA_CACHE"] = "0"
        cold, decoded = timed(ours)
        # the same frame indices our sampler chose, for ffmpeg
        indices = [[int(round(t * 24)) for t in d.frame_times] for d in decoded]

        def baseline() -> list:
            return [ffmpeg_extract(c, idx, d.frames.shape[2], d.frames.shape[1], tmp_path)
                    for c, idx, d in zip(clips, indices, decoded, strict=True)]

        base, extracted = timed(baseline)
        diffs, alen = [], []
        for d, (frames, audio) in zip(decoded, extracted, strict=True):
            if frames.shape != d.frames.shape:
                raise SystemExit(f"ffmpeg gave {frames.shape} frames, ours {d.frames.shape}: not the same work")
            diffs.append(float(np.abs(frames.astype(int) - d.frames.astype(int)).mean()))
            alen.append(len(audio) - len(d.audio))
        os.environ["EMOREALM_MEDIA_CACHE"] = "1"
        ours()  # fill the disk cache
        warm, _ = timed(ours)

    n = args.clips
    f0 = decoded[0].frames
    print(f"media spec {spec.name} (checked against {spec.record().get('reference')})")
    print(f"{n} clips, {args.seconds:g} s, {w}x{h} @24 fps; {f0.shape[0]} frames of {f0.shape[2]}x{f0.shape[1]} "
          "+ 16 kHz audio each")
    print(f"same work: mean |pixel diff| vs ffmpeg {np.mean(diffs):.2f}/255, audio length diff (samples) {alen}")
    print(f"ours (PyAV, cold): {n / cold:8.1f} clips/s")
    print(f"ffmpeg CLI:        {n / base:8.1f} clips/s")
    print(f"ours (disk cache): {n / warm:8.1f} clips/s")
    print(f"decode_vs_ffmpeg: {base / cold:.2f} (target >= 1.0)")
    print(f"decode_cache: {cold / warm:.1f} (target >= 20)")


if __name__ == "__main__":
    main()
