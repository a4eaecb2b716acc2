"""toy-omni: a few-million-parameter Qwen2.5-Omni (random init, encoders trainable) fine-tuned by
SFT in the toy world, so that it really reads the clip. Built on first use and cached like
tiny-omni (docs/toy-world.md); results from it are flagged as smoke-test results.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emorealm.model_adapters.tiny_models.omni import TINY_MARKER
from emorealm.paths import cache_root, ensure_versioned_dir

TOY_OMNI_VERSION = 2
TOY_MARKER = "emorealm_toy_omni.json"


@dataclass(frozen=True)
class ToyOmniRecipe:
    """How toy-omni is built (part of its version: change it, bump ``TOY_OMNI_VERSION``)."""

    seed: int = 0
    world_seed: int = 1000  # its training world; study/test worlds use other seeds
    train_clips: int = 96
    hidden: int = 128
    layers: int = 4
    steps: int = 300
    batch_size: int = 8
    lr: float = 1e-3
    lr_scheduler: str = "linear"
    warmup_steps: int = 10
    frames: int = 2  # frames per clip (min = max); evaluate with min_frames=2,max_frames=2
    # pixels per frame (min_pixels = max_pixels); 0: the media rule's defaults (a 64 px clip is then
    # upscaled to ~316 px: 144 video tokens per clip)
    pixels: int = 56 * 56
    # SFT rows of these question kinds only (empty: all five task keys)
    kinds: tuple[str, ...] = ()
    # curriculum weight: each SFT row of these kinds appears this many times per epoch. The basic
    # questions are where the model must learn to read each modality; the other kinds still train.
    # (chosen on the validation world, seed 3000, among the candidates in docs/toy-world.md)
    repeat: tuple[tuple[str, int], ...] = (("reasoning_basic_audio", 3), ("reasoning_basic_video", 3))


def sft_subset(lines: list[str], kinds: tuple[str, ...], repeat: tuple[tuple[str, int], ...]) -> list[str]:
    """The SFT rows (jsonl lines) of ``kinds`` (all when empty), each row of a kind in ``repeat``
    written that many times (the row id ends with its task key). Copies get their own ids
    (``<id>~2``, ``<id>~3``, ...): the SFT loader drops a repeated id as a duplicate."""
    times = dict(repeat)
    out = []
    for line in lines:
        row = json.loads(line)
        key = next((k for k in (*kinds, *times) if row["id"].endswith(k)), None)
        if kinds and (key is None or key not in kinds):
            continue
        out.append(line)
        out.extend(json.dumps({**row, "id": f"{row['id']}~{n}"}) for n in range(2, times.get(key, 1) + 1))
    return out


def toy_omni_dir() -> Path:
    return cache_root() / "models" / "toy-omni"


def toy_config(tokenizer, hidden: int, layers: int):
    """tiny-omni's config family at toy-omni's width and depth."""
    from emorealm.model_adapters.tiny_models.omni import tiny_config

    cfg = tiny_config(tokenizer, hidden=hidden, layers=layers)
    cfg.thinker_config.text_config.num_key_value_heads = hidden // 32
    return cfg


def _write_base(out: Path, recipe: ToyOmniRecipe) -> Path:
    import torch
    from transformers import Qwen2_5OmniForConditionalGeneration, set_seed

    from emorealm.model_adapters.tiny_models.omni import _build_processor, _train_tokenizer

    set_seed(recipe.seed)
    processor = _build_processor(_train_tokenizer())
    config = toy_config(processor.tokenizer, recipe.hidden, recipe.layers)
    torch.manual_seed(recipe.seed)
    model = Qwen2_5OmniForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


def _marker(recipe: ToyOmniRecipe, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": "toy-omni", "version": TOY_OMNI_VERSION, "recipe": asdict(recipe), "smoke_test": True,
            "note": "a few-million-parameter model trained by SFT in the synthetic toy world; not a real model",
            **(extra or {})}


def _build_into(target: Path, recipe: ToyOmniRecipe, console=None) -> None:
    """Generate its toy world, build the random base and SFT it (full, encoders trainable) into ``target``."""
    from emorealm.toyworld.build import ToyWorldConfig, write_toy_world
    from emorealm.training.config import config_from_dict
    from emorealm.training.trainer import Trainer

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=".toy-omni-work-", dir=target.parent) as work:
        world = Path(work) / "world"
        write_toy_world(world, ToyWorldConfig(seed=recipe.world_seed, n_train=recipe.train_clips, n_test=2))
        data = world / "sft.jsonl"
        if recipe.kinds or recipe.repeat:
            keep = sft_subset(data.read_text().splitlines(), recipe.kinds, recipe.repeat)
            data = world / "sft_subset.jsonl"
            data.write_text("\n".join(keep) + "\n")
        base = _write_base(Path(work) / "base", recipe)
        # the smoke-test marker travels into the trained checkpoint (the trainer copies it)
        (base / f"{TINY_MARKER}.json").write_text(json.dumps(_marker(recipe)))
        cfg = config_from_dict({
            "objective": "sft", "model": str(base), "data": str(data), "output_dir": str(target),
            "finetune": "full", "freeze_encoders": False, "seed": recipe.seed,
            "media": {"min_frames": recipe.frames, "max_frames": recipe.frames,
                      **({"min_pixels": recipe.pixels, "max_pixels": recipe.pixels} if recipe.pixels else {})},
            "train": {"max_steps": recipe.steps, "batch_size": recipe.batch_size, "lr": recipe.lr,
                      "warmup_steps": recipe.warmup_steps, "lr_scheduler_type": recipe.lr_scheduler,
                      "max_completion_length": 8, "mixed_precision": "no", "logging_steps": 10},
        })
        result = Trainer(cfg, console=console).run()
    shutil.rmtree(target / "checkpoints", ignore_errors=True)
    info = _marker(recipe, {"train_seconds": round(time.time() - t0, 1), "final_loss": result.metrics[-1]["loss"]})
    for name in (f"{TINY_MARKER}.json", TOY_MARKER):
        (target / name).write_text(json.dumps(info, indent=2))


def build_toy_omni(out_dir: str | Path | None = None, recipe: ToyOmniRecipe | None = None, console=None) -> Path:
    """(Re)build toy-omni into ``out_dir`` atomically (a temporary sibling renamed into place)."""
    recipe = recipe or ToyOmniRecipe()
    out = Path(out_dir) if out_dir else toy_omni_dir()
    (out / TOY_MARKER).unlink(missing_ok=True)  # a rebuild: the old version no longer counts
    return ensure_versioned_dir(out, TOY_MARKER, TOY_OMNI_VERSION, lambda d: _build_into(d, recipe, console),
                                ".toy-omni-")


def ensure_toy_omni(out_dir: str | Path | None = None, console=None) -> Path:
    """The toy-omni folder under the cache root, built on first use (or when its version changed)."""
    out = Path(out_dir) if out_dir else toy_omni_dir()
    marker = out / TOY_MARKER
    if marker.exists() and json.loads(marker.read_text()).get("version") == TOY_OMNI_VERSION:
        return out
    from filelock import FileLock

    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out.parent / f".{out.name}.lock")):  # one builder at a time (parallel test workers)
        if marker.exists() and json.loads(marker.read_text()).get("version") == TOY_OMNI_VERSION:
            return out
        return build_toy_omni(out, console=console)
