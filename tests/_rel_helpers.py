"""Helpers shared by the reliability tests (resume, determinism, broken inputs, safety)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from emorealm.emorealm_data import TASK_KEYS

# keys of a results file that say when/how long, not what (everything else must match between runs)
VOLATILE_TOP = ("date", "start_time", "end_time", "total_evaluation_time_seconds")


def make_emorealm_root(root: Path, n_questions: int = 200, n_clips: int = 4, seconds: float = 0.5) -> Path:
    """An EmoReAlM data root with ``n_questions`` rows (cycling the five task keys) over a few short clips.

    Even clips get a 16 kHz sidecar wav, odd ones take audio from the video, as in the release.
    """
    from emorealm.synth import tone, write_av_clip, write_wav

    clip_dir = root / "dfew" / "dfew_original_clips_24fps" / "part_1"
    wav_dir = root / "dfew" / "dfew_original_clips_16khz" / "part_1"
    for c in range(n_clips):
        write_av_clip(clip_dir / f"{c:05d}.mp4", seconds=seconds, fps=8, size=(32, 32), sample_rate=16000,
                      tone_hz=150.0 + 40 * c, seed=c)
        if c % 2 == 0:
            write_wav(wav_dir / f"{c:05d}.wav", tone(seconds, 16000, 150.0 + 40 * c, seed=c))
    rows = []
    for i in range(n_questions):
        task = TASK_KEYS[i % len(TASK_KEYS)]
        if task.startswith("reasoning_basic"):
            choices = ["(A) happiness", "(B) sadness", "(C) anger", "(D) fear"]
        else:
            choices = ["(A) Yes", "(B) No"]
        rows.append({"id": f"q{i:04d}", "video": f"part_1/{i % n_clips:05d}.mp4", "task": task,
                     "question": f"Question {i}: which emotion does the person show?", "choices": choices,
                     "answer": "AB"[i % 2]})
    bench = root / "EmoReAlM" / "emorealm_v1.json"
    bench.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text(json.dumps(rows, indent=1))
    return root


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emorealm", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def popen_cli(*args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen:
    fh = open(log, "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "emorealm", *args], stdout=fh, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def results_file(folder: Path) -> Path:
    files = sorted(folder.glob("results_*.json"))
    assert files, f"no results file in {folder}"
    return files[-1]


def normalized_results(path: Path) -> dict[str, Any]:
    """A results file without its timestamps, durations and run accounting (journal counts)."""
    res = json.loads(path.read_text())
    for key in VOLATILE_TOP:
        res.pop(key, None)
    res.get("emorealm", {}).pop("journal", None)
    return res


def samples_by_task(folder: Path, stamp: str) -> dict[str, list[dict[str, Any]]]:
    """The samples files of one results timestamp, per task, sorted by doc id."""
    out = {}
    for f in folder.glob(f"samples_*_{stamp}.jsonl"):
        task = f.name[len("samples_"):-len(f"_{stamp}.jsonl")]
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        out[task] = sorted(rows, key=lambda r: r["doc_id"])
    return out


def stamp_of(results_path: Path) -> str:
    return results_path.stem[len("results_"):]

