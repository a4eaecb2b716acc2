"""What the toy world is made of: emotions, the cues that carry them, the emotion-irrelevant cues
present in every clip, and the seeded plan of clips (docs/toy-world.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

EMOTIONS = ("happiness", "sadness", "anger", "calm")

# emotion -> (pitch Hz, pitch change over the clip as a fraction, amplitude, syllables per second, harmonic)
AUDIO_FEATURES: dict[str, tuple[float, float, float, float, float]] = {
    "happiness": (330.0, +0.35, 0.45, 5.0, 0.0),
    "sadness": (140.0, -0.30, 0.07, 1.5, 0.0),
    "anger": (240.0, 0.0, 0.85, 7.0, 0.5),
    "calm": (200.0, 0.0, 0.20, 0.0, 0.0),
}
AUDIO_CUES = {"happiness": "a high rising pitch", "sadness": "a low falling pitch",
              "anger": "loud rapid bursts", "calm": "a soft steady voice"}

# emotion -> (face RGB, mouth curvature (+ smile, - frown), motion kind)
VIDEO_FEATURES: dict[str, tuple[tuple[int, int, int], float, str]] = {
    "happiness": ((235, 205, 40), +1.0, "bounce"),
    "sadness": ((50, 80, 210), -1.0, "droop"),
    "anger": ((215, 35, 35), 0.0, "shake"),
    "calm": ((60, 175, 95), 0.3, "still"),
}
VIDEO_CUES = {"happiness": "a yellow smiling face", "sadness": "a blue frowning face",
              "anger": "a red shaking face", "calm": "a green still face"}

# present in clips, independent of the emotion (the spurious associations y_l^vr makes)
AUDIO_IRRELEVANT = ("a faint high beep", "a ticking sound")
VIDEO_IRRELEVANT = ("a white square in the corner", "a black bar at the bottom")

CUES = {"audio": AUDIO_CUES, "video": VIDEO_CUES}
IRRELEVANT = {"audio": AUDIO_IRRELEVANT, "video": VIDEO_IRRELEVANT}


@dataclass
class ToyClip:
    """One clip's ground truth (what its captions state)."""

    id: str
    split: str  # train | test
    audio_emotion: str
    video_emotion: str
    audio_irrelevant: str
    video_irrelevant: str
    seed: int

    @property
    def agree(self) -> bool:
        return self.audio_emotion == self.video_emotion

    def emotion(self, modality: str) -> str:
        return self.audio_emotion if modality == "audio" else self.video_emotion

    def true_cue(self, modality: str) -> str:
        return CUES[modality][self.emotion(modality)]

    def irrelevant_cue(self, modality: str) -> str:
        return self.audio_irrelevant if modality == "audio" else self.video_irrelevant

    def present_cues(self, modality: str | None = None) -> list[str]:
        mods = ("audio", "video") if modality is None else (modality,)
        return [c for m in mods for c in (self.true_cue(m), self.irrelevant_cue(m))]

    def absent_cues(self, modality: str) -> list[str]:
        """Cues of ``modality`` that this clip does not show (hallucinations if claimed)."""
        present = set(self.present_cues())
        return [c for c in CUES[modality].values() if c not in present]

    def caption(self) -> dict[str, Any]:
        a, v = self.audio_emotion, self.video_emotion
        return {
            "id": self.id, "audio_emotion": a, "video_emotion": v,
            "audio_cues": self.present_cues("audio"), "video_cues": self.present_cues("video"),
            "audio_caption": f"A voice with {AUDIO_CUES[a]}, and {self.audio_irrelevant} in the background.",
            "video_caption": f"{VIDEO_CUES[v].capitalize()}, and {self.video_irrelevant}.",
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_clips(n: int, split: str, seed: int, agree_rate: float, start: int = 0) -> list[ToyClip]:
    """``n`` clips with balanced audio emotions; the video shows the same emotion with probability
    ``agree_rate``, else a uniformly drawn different one; irrelevant cues drawn independently."""
    rng = np.random.default_rng([seed, {"train": 1, "test": 2}.get(split, 3)])
    audio = [EMOTIONS[i % len(EMOTIONS)] for i in range(n)]
    rng.shuffle(audio)
    clips = []
    for i, a in enumerate(audio):
        if rng.random() < agree_rate:
            v = a
        else:
            v = str(rng.choice([e for e in EMOTIONS if e != a]))
        clips.append(ToyClip(id=f"{split}_{start + i:05d}", split=split, audio_emotion=str(a), video_emotion=v,
                             audio_irrelevant=str(rng.choice(AUDIO_IRRELEVANT)),
                             video_irrelevant=str(rng.choice(VIDEO_IRRELEVANT)),
                             seed=int(rng.integers(0, 2**31 - 1))))
    return clips
