"""Media specs: how clips become frames and audio for a model, as named, recorded presets.

``qwen-reference`` (the default, for Qwen2.5-Omni and Qwen3-Omni) is the rule of Qwen's own
preprocessing, ``qwen-omni-utils`` 0.0.9 (``process_mm_info(messages, use_audio_in_video=True)``,
whose vision part is qwen-vl-utils' ``fetch_video``):

* frames: ``floor_2(min(max(n_total / avg_fps * fps, min_frames), max_frames, n_total))`` where
  ``max_frames`` is also capped by the clip's frame count rounded down to even; frame indices
  ``round(linspace(0, n_total - 1, n))`` (float32, round half to even, as torch does);
  ``n_total`` and ``avg_fps`` come from a scan of the stream's packets, never from the header's
  duration;
* size: ``smart_resize`` once from the source size (multiples of 28, ``[min_pixels, max_pixels]``
  per frame, ``max_pixels`` also ``<= total_pixels / n * 2``), bicubic with antialiasing
  (torchvision) on uint8 frames;
* fps handed to the processor: none (the processor then assumes 2.0, so ``video_second_per_grid``
  is 1.0);
* audio: the whole track at its native rate, channels averaged, resampled to 16 kHz by soxr's HQ
  filter (librosa's default), no length cap of its own (the processor's feature extractor cuts at
  its ``n_samples``).

Any field can be changed (``--model-args max_frames=64`` or ``MediaSpec(max_frames=64)``); the
spec's name then records the change (``qwen-reference+max_frames=64``), so results never claim the
reference rule for inputs that did not follow it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from emorealm.errors import ConfigError
from emorealm.options import parse_bool, parse_number

FRAME_FACTOR = 2
REFERENCE_PACKAGE = "qwen-omni-utils"
REFERENCE_VERSION = "0.0.9"  # the version the parity test (tests/test_media_parity.py) pins
MAX_RATIO = 200  # qwen-vl-utils refuses frames with a longer/shorter side ratio above this


@dataclass(frozen=True)
class MediaSpec:
    """How media are sampled for a model. Recorded in every results file (``as_dict``)."""

    name: str = "qwen-reference"
    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 768
    size_factor: int = 28  # frame sides are multiples of this (patch 14 x merge 2)
    min_pixels: int = 128 * 28 * 28
    max_pixels: int = 768 * 28 * 28
    total_pixels: float = 128000 * 28 * 28 * 0.9  # whole-video budget: max_pixels <= total / frames * 2
    processor_fps: bool = False  # hand the sampled fps to the processor (the reference hands none)
    sample_rate: int = 16000
    use_audio_in_video: bool = True
    max_seconds: float | None = None  # sample only the first max_seconds (None: the whole clip)
    video: bool = True  # give the model frames
    audio: bool = True  # give the model audio

    def __post_init__(self) -> None:
        # a preset's name stays true: every sampling field that differs from the preset is appended
        base = self.name.split("+")[0]
        if base in PRESET_FIELDS:
            ref = {**_CLASS_DEFAULTS, **PRESET_FIELDS[base]}
            tags = [f"{k}={getattr(self, k)}" for k in _SAMPLING_FIELDS if getattr(self, k) != ref[k]]
            object.__setattr__(self, "name", "+".join([base, *tags]))
        if self.max_pixels < self.min_pixels:
            raise ConfigError(f"media spec: max_pixels {self.max_pixels} is below min_pixels {self.min_pixels}; "
                              "lower min_pixels as well")
        if self.fps <= 0 or self.min_frames < 1 or self.max_frames < FRAME_FACTOR:
            raise ConfigError(f"media spec: fps must be > 0, min_frames >= 1, max_frames >= 2 (got {self.fps}, "
                              f"{self.min_frames}, {self.max_frames})")

    def as_dict(self) -> dict[str, Any]:
        """The fields (``MediaSpec(**spec.as_dict())`` rebuilds the spec)."""
        return asdict(self)

    def record(self) -> dict[str, Any]:
        """What results files record: the fields, plus the reference package and version the rule was
        checked against when the spec is an unchanged preset."""
        d = self.as_dict()
        if self.name in PRESET_FIELDS:
            d["reference"] = f"{REFERENCE_PACKAGE}=={REFERENCE_VERSION}"
        return d


# Presets: field values that differ from the class defaults (the defaults are qwen-reference).
# Qwen3-Omni's model card calls the same process_mm_info with its defaults (image_patch_size=14), so its
# frames and audio are those of Qwen2.5-Omni; its processor then applies its own 32-pixel grid.
PRESET_FIELDS: dict[str, dict[str, Any]] = {"qwen-reference": {}}
_CLASS_DEFAULTS = {f.name: f.default for f in fields(MediaSpec)}
# switching a modality off is an ablation of what the model is given, not of how media are sampled
_SAMPLING_FIELDS = [f.name for f in fields(MediaSpec) if f.name not in ("name", "video", "audio", "use_audio_in_video")]


def preset(name: str) -> MediaSpec:
    """The named media spec (``qwen-reference``)."""
    if name not in PRESET_FIELDS:
        raise ConfigError(f"unknown media spec {name!r}; known: {', '.join(PRESET_FIELDS)}")
    return MediaSpec(name=name, **PRESET_FIELDS[name])


_CONVERT: dict[str, Any] = {"fps": float, "min_frames": int, "max_frames": int, "size_factor": int,
                            "min_pixels": int, "max_pixels": int, "total_pixels": float, "sample_rate": int}
_BOOLS = ("processor_fps", "use_audio_in_video", "video", "audio")
# every model_args key spec_from_args reads
MEDIA_ARGS = ("media", *_CONVERT, *_BOOLS, "max_seconds")


def spec_from_args(args: dict[str, Any], defaults: MediaSpec | None = None) -> MediaSpec:
    """A MediaSpec from adapter ``model_args``; the keys it uses are popped from ``args``.

    ``media=<preset>`` picks the preset (default ``defaults`` or ``qwen-reference``); any other spec
    field given overrides it and is appended to the name.
    """
    base = defaults or preset("qwen-reference")
    if "media" in args:
        base = preset(str(args.pop("media")))
    changed: dict[str, Any] = {}
    for name, conv in _CONVERT.items():
        if name in args:
            changed[name] = parse_number(args.pop(name), name, conv)
    for name in _BOOLS:
        if name in args:
            changed[name] = parse_bool(args.pop(name), name)
    if "max_seconds" in args:
        value = args.pop("max_seconds")
        changed["max_seconds"] = None if str(value).lower() in {"", "none", "0"} else parse_number(value, "max_seconds")
    if "decode_max_pixels" in args:
        raise ConfigError("model_args decode_max_pixels was removed: frames are resized once from the source; "
                          "use max_pixels (per frame) instead")
    return with_changes(base, **changed)


def with_changes(spec: MediaSpec, **changes: Any) -> MediaSpec:
    """``spec`` with ``changes`` (its name then records every sampling field that left the preset)."""
    known = {f.name for f in fields(MediaSpec)}
    bad = sorted(set(changes) - known)
    if bad:
        raise ConfigError(f"unknown media spec fields {bad}")
    return replace(spec, **{**changes, "name": changes.get("name", spec.name.split("+")[0])})


def round_by(x: float, factor: int) -> int:
    return round(x / factor) * factor


def floor_by(x: float, factor: int) -> int:
    return math.floor(x / factor) * factor


def ceil_by(x: float, factor: int) -> int:
    return math.ceil(x / factor) * factor


def n_frames_for(n_total: int, avg_fps: float, spec: MediaSpec) -> int:
    """Frames to sample from a clip of ``n_total`` frames at ``avg_fps`` (qwen-vl-utils ``smart_nframes``)."""
    if n_total < 1:
        raise ValueError("the clip has no frames")
    if n_total < FRAME_FACTOR:
        # a one-frame clip: that frame twice, as qwen-vl-utils pads a frame list to an even count (its
        # file readers refuse such a clip instead)
        return FRAME_FACTOR
    min_frames = ceil_by(spec.min_frames, FRAME_FACTOR)
    max_frames = floor_by(min(spec.max_frames, n_total), FRAME_FACTOR)
    n = n_total / avg_fps * spec.fps
    n = min(min(max(n, min_frames), max_frames), n_total)
    return floor_by(n, FRAME_FACTOR)


def frame_indices(n_total: int, n: int) -> list[int]:
    """Indices of the sampled frames: torch's float32 linspace, rounded half to even."""
    import torch

    if n_total == 1:
        return [0] * n

    return torch.linspace(0, n_total - 1, n).round().long().tolist()


def frame_size(height: int, width: int, n_frames: int, spec: MediaSpec) -> tuple[int, int]:
    """(height, width) of every sampled frame (qwen-vl-utils ``smart_resize`` with the video budget)."""
    factor = spec.size_factor
    max_pixels = max(min(spec.max_pixels, spec.total_pixels / n_frames * FRAME_FACTOR), int(spec.min_pixels * 1.05))
    max_pixels = min(spec.max_pixels, max_pixels)
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"frame aspect ratio {max(height, width) / min(height, width):.0f} exceeds {MAX_RATIO}")
    h_bar = max(factor, round_by(height, factor))
    w_bar = max(factor, round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = floor_by(height / beta, factor)
        w_bar = floor_by(width / beta, factor)
    elif h_bar * w_bar < spec.min_pixels:
        beta = math.sqrt(spec.min_pixels / (height * width))
        h_bar = ceil_by(height * beta, factor)
        w_bar = ceil_by(width * beta, factor)
    return h_bar, w_bar
