"""A synthetic EmoReAlM data root of any size, for resume tests and memory benchmarks.

``write_emorealm_root(root, n_questions)`` writes the released layout (benchmark JSON, 24 fps clips,
16 kHz sidecars for every other clip) with ``n_questions`` rows cycling the five task keys over a
few short synthetic clips. Answers are arbitrary labels: the data exercises the pipeline, it is not
ground truth about the pictures.
"""

from __future__ import annotations

import json
from pathlib import Path

from emorealm.media.synth import tone, write_av_clip, write_wav

CLIP_DIR = "dfew/dfew_original_clips_24fps"
AUDIO_DIR = "dfew/dfew_original_clips_16khz"
# the released task keys, in the order rows cycle through them
TASK_KEYS = ("reasoning_basic_audio", "reasoning_basic_video", "modality_agreement", "reasoning_stress_audio",
             "reasoning_stress_video")


def write_emorealm_root(root: str | Path, n_questions: int = 200, n_clips: int = 4, seconds: float = 0.5,
                        size: tuple[int, int] = (32, 32)) -> Path:
    """Write the data root and return it. Even clips get a sidecar wav; odd ones use the video's audio."""
    root = Path(root)
    for c in range(n_clips):
        write_av_clip(root / CLIP_DIR / "part_1" / f"{c:05d}.mp4", seconds=seconds, fps=8, size=size,
                      sample_rate=16000, tone_hz=150.0 + 40 * c, seed=c)
        if c % 2 == 0:
            write_wav(root / AUDIO_DIR / "part_1" / f"{c:05d}.wav", tone(seconds, 16000, 150.0 + 40 * c, seed=c))
    rows = []
    for i in range(n_questions):
        task = TASK_KEYS[i % len(TASK_KEYS)]
        if task.startswith("reasoning_basic"):
            choices = ["(A) happiness", "(B) sadness", "(C) anger", "(D) fear"]
        else:
            choices = ["(A) Yes", "(B) No"]
        rows.append({"id": f"q{i:05d}", "video": f"part_1/{i % n_clips:05d}.mp4", "task": task,
                     "question": f"Question {i}: which emotion does the person show?", "choices": choices,
                     "answer": "AB"[i % 2]})
    bench = root / "EmoReAlM" / "emorealm_v1.json"
    bench.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text(json.dumps(rows, indent=1))
    return root
