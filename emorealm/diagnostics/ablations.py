"""Input ablations: what a model sees instead of a doc's own audio and video.

An ablation is a *media transform*: ``(doc, DecodedMedia) -> media_override`` for
:func:`emorealm.model_adapters.inputs.build_inputs`. It works on decoded media only, so no file is rewritten and the
adapter's own decode and inputs-building code runs unchanged. Conditions:

============  ==============================================================================
intact        the doc's own audio and video
no_audio      audio removed: silence of the same length (``removal="drop"``: no audio at all)
no_video      video removed: black frames of the same shape (``removal="drop"``: no video)
swap_audio    audio of another clip (a seeded derangement over clips: never the same clip)
swap_video    frames of another clip
swap_both     audio and frames of another clip (the same other clip for both)
============  ==============================================================================

Swapped media are fitted to the doc's own media (audio looped or cut to the same number of samples,
frames re-sampled to the same count and resized to the same size), so the model receives the same
number of tokens of each kind as with intact inputs and the comparison isolates content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from emorealm.errors import ConfigError, MediaError
from emorealm.media.decode import DecodedMedia, MediaSpec, load_media

CONDITIONS: dict[str, str] = {
    "intact": "the doc's own audio and video",
    "no_audio": "audio removed (silence of the same length, or dropped with --removal drop)",
    "no_video": "video removed (black frames of the same shape, or dropped with --removal drop)",
    "swap_audio": "audio of another clip",
    "swap_video": "video frames of another clip",
    "swap_both": "audio and video of another clip",
}
REMOVALS = ("zero", "drop")

MediaTransform = Callable[[dict[str, Any], DecodedMedia], dict[str, Any]]


def parse_conditions(text: str | Iterable[str] | None) -> list[str]:
    """Condition names from ``"a,b"`` (``intact`` always first, added when missing)."""
    names = list(CONDITIONS) if not text else (
        [t.strip() for t in text.split(",") if t.strip()] if isinstance(text, str) else list(text))
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        raise ConfigError(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}")
    return ["intact"] + [n for n in dict.fromkeys(names) if n != "intact"]


def derangement(clips: Iterable[str], seed: int = 0) -> dict[str, str]:
    """A seeded map clip -> another clip with no fixed point (one cycle through a shuffled order).

    Deterministic for a given set of clips and seed; needs at least two distinct clips.
    """
    order = sorted(set(clips))
    if len(order) < 2:
        raise ConfigError(f"swap conditions need at least two distinct clips, got {len(order)}; "
                          "evaluate more docs (raise --limit) or drop the swap conditions")
    perm = np.random.default_rng(seed).permutation(len(order))
    shuffled = [order[i] for i in perm]
    return {c: shuffled[(i + 1) % len(shuffled)] for i, c in enumerate(shuffled)}


def fit_audio(wave: np.ndarray, n: int) -> np.ndarray:
    """``wave`` looped or cut to exactly ``n`` samples."""
    if n <= 0:
        return wave[:0].copy()
    if wave.size == 0:
        return np.zeros(n, dtype=np.float32)
    reps = -(-n // wave.size)
    return np.tile(wave, reps)[:n].astype(np.float32, copy=True)


def fit_frames(frames: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``frames`` [T', H', W', 3] re-sampled to ``like``'s frame count and resized to its size."""
    t, h, w = like.shape[:3]
    idx = np.linspace(0, frames.shape[0] - 1, t).round().astype(int)
    picked = frames[idx]
    if picked.shape[1:3] == (h, w):
        return picked.copy()
    import torch

    x = torch.from_numpy(picked).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


@dataclass
class Ablation:
    """A media transform for one condition (``HFAdapter.media_transform``)."""

    condition: str
    spec: MediaSpec
    removal: str = "zero"
    swap_map: dict[str, str] | None = None  # clip_id -> the clip whose media replace it
    clip_media: dict[str, dict[str, Any]] | None = None  # clip_id -> that clip's doc["media"]

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ConfigError(f"unknown condition {self.condition!r}; known: {', '.join(CONDITIONS)}")
        if self.removal not in REMOVALS:
            raise ConfigError(f"unknown removal {self.removal!r}; use one of {REMOVALS}")
        if self.condition.startswith("swap_") and (not self.swap_map or not self.clip_media):
            raise ConfigError(f"condition {self.condition} needs a swap map and the clips' media")

    def donor(self, doc: dict[str, Any]) -> str:
        """The clip whose media replace ``doc``'s (swap conditions)."""
        clip = str(doc.get("clip_id"))
        if clip not in (self.swap_map or {}):
            raise MediaError(f"clip {clip!r} of doc {doc.get('id')!r} is not in the swap map")
        return self.swap_map[clip]  # type: ignore[index]

    def __call__(self, doc: dict[str, Any], media: DecodedMedia) -> dict[str, Any]:
        cond = self.condition
        if cond == "intact":
            return {}
        override: dict[str, Any] = {}
        if cond == "no_audio" and media.audio is not None:
            override["audio"] = None if self.removal == "drop" else np.zeros_like(media.audio)
        elif cond == "no_video" and media.frames is not None:
            override["frames"] = None if self.removal == "drop" else np.zeros_like(media.frames)
        elif cond.startswith("swap_"):
            other = load_media(self.clip_media[self.donor(doc)], self.spec)  # type: ignore[index]
            if cond in ("swap_audio", "swap_both") and media.audio is not None:
                if other.audio is None:
                    raise MediaError(f"swap donor clip {self.donor(doc)!r} has no audio")
                override["audio"] = fit_audio(other.audio, media.audio.size)
            if cond in ("swap_video", "swap_both") and media.frames is not None:
                if other.frames is None:
                    raise MediaError(f"swap donor clip {self.donor(doc)!r} has no video frames")
                override["frames"] = fit_frames(other.frames, media.frames)
        return override


def clip_media_map(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """clip_id -> the media dict of the first doc about that clip."""
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc.get("clip_id") is not None and doc.get("media"):
            out.setdefault(str(doc["clip_id"]), doc["media"])
    return out
