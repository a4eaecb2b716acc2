"""Built-in sample data: a miniature EmoReAlM (and the other benchmarks) in the released layouts.

``write_sample_data(root)`` writes::

    root/EmoReAlM/emorealm_v1.json
    root/dfew/dfew_original_clips_24fps/part_1/<clip>.mp4     (H.264 + AAC, 24 fps)
    root/dfew/dfew_original_clips_16khz/part_1/<clip>.wav     (16 kHz sidecars, for some clips)

Questions are templated after the released ones (4 options for basic reasoning, Yes/No for
modality agreement and the stress tests); the clips are synthetic, so answers are arbitrary labels
for exercising the pipeline, not ground truth about the pictures.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from emorealm.media.synth import tone, write_av_clip, write_wav
from emorealm.paths import ensure_versioned_dir, sample_data_dir

SAMPLE_VERSION = 2
MARKER = "emorealm_sample_data.json"
CLIP_DIR = "dfew/dfew_original_clips_24fps"
AUDIO_DIR = "dfew/dfew_original_clips_16khz"
N_CLIPS = 8
# modules of other benchmarks that add their miniature data: each exposes write_all(root)
EXTRA_WRITERS: list[str] = ["emorealm.sample_data.other_benchmarks"]

_EMOTIONS = ["happiness", "sadness", "anger", "surprise", "fear", "disgust", "neutral"]
_AUDIO_CUES = ["a rising pitch", "a trembling voice", "loud shouting", "soft sighing"]
_VIDEO_CUES = ["raised eyebrows", "a wide smile", "a furrowed brow", "tears on the cheeks"]


def _rows() -> list[dict]:
    rows: list[dict] = []
    letters = "ABCD"
    for q in range(4):
        clip = f"part_1/{q + 1:05d}.mp4"
        opts = [_EMOTIONS[(q + k) % 7] for k in range(4)]
        ans = letters[(q * 3) % 4]
        rows.append({
            "id": f"rba_{q}", "video": clip, "task": "reasoning_basic_audio",
            "question": "Based on the speaker's tone of voice, which emotion is the person most likely feeling, and why?",
            "choices": [f"({letters[k]}) The person feels {opts[k]}, as shown by {_AUDIO_CUES[k]}." for k in range(4)],
            "answer": ans,
        })
        clip_v = f"part_1/{q + 3:05d}.mp4"
        rows.append({
            "id": f"rbv_{q}", "video": clip_v, "task": "reasoning_basic_video",
            "question": "Which visual cue best explains the emotion of the person in the video?",
            "choices": [f"({letters[k]}) {_VIDEO_CUES[k].capitalize()} indicating {opts[k]}." for k in range(4)],
            "answer": letters[(q + 1) % 4],
        })
        rows.append({
            "id": f"ma_{q}", "video": f"part_1/{q + 5:05d}.mp4", "task": "modality_agreement",
            "question": "Do the audio and the video of this clip convey the same emotion?",
            "choices": ["(A) Yes", "(B) No"], "answer": "AB"[q % 2],
        })
        rows.append({
            "id": f"rsa_{q}", "video": f"part_1/{(q * 2) % N_CLIPS + 1:05d}.mp4", "task": "reasoning_stress_audio",
            "question": f"Does the {_AUDIO_CUES[q]} in the audio contribute to the {_EMOTIONS[q]} of the person?",
            "choices": ["(A) Yes", "(B) No"], "answer": "AB"[(q + 1) % 2],
        })
        rows.append({
            "id": f"rsv_{q}", "video": f"part_1/{(q * 2 + 1) % N_CLIPS + 1:05d}.mp4", "task": "reasoning_stress_video",
            "question": f"Does the {_VIDEO_CUES[q]} in the video contribute to the {_EMOTIONS[q + 1]} of the person?",
            "choices": ["(A) Yes", "(B) No"], "answer": "AB"[q % 2],
        })
    return rows


def write_emorealm(root: Path) -> None:
    """Miniature EmoReAlM: 20 questions (4 per task key) over 8 clips; half the clips get sidecars."""
    for i in range(N_CLIPS):
        rel = f"part_1/{i + 1:05d}"
        write_av_clip(root / CLIP_DIR / f"{rel}.mp4", seconds=2.0, fps=24, size=(64, 48),
                      tone_hz=160.0 + 35.0 * i, seed=i)
        if i % 2 == 0:  # released 16 kHz sidecar wav next to half of the clips
            write_wav(root / AUDIO_DIR / f"{rel}.wav", tone(2.0, 16000, 160.0 + 35.0 * i, seed=i), 16000)
    bench = root / "EmoReAlM" / "emorealm_v1.json"
    bench.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text(json.dumps(_rows(), indent=1))


def write_sample_data(root: str | Path) -> Path:
    """Write every built-in miniature benchmark under ``root`` and return it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    write_emorealm(root)
    for module in EXTRA_WRITERS:
        importlib.import_module(module).write_all(root)
    (root / MARKER).write_text(json.dumps({"version": SAMPLE_VERSION, "synthetic": True}))
    return root


def ensure_sample_data() -> Path:
    """The cached sample data under the cache root, written on first use (atomically)."""
    return ensure_versioned_dir(sample_data_dir(), MARKER, SAMPLE_VERSION, write_sample_data, ".sample-data-")
