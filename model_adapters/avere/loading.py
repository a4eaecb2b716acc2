"""Load a checkpoint folder in the released AVERE layout (``model_type: "avere"``).

Layout (as ``checkpoint/AVERE-7B`` and the released ``./backbones``)::

    DIR/config.json, generation_config.json, tokenizer files
    DIR/pytorch_model.bin | pytorch_model-*.bin + index | model.safetensors (+ index)
    DIR/backbones/LanguageBind_Image/        config.json + weights   (mm_image_tower)
    DIR/backbones/LanguageBind_Video_merge/  config.json + weights   (mm_video_tower)
    DIR/backbones/whisper-large-v3/          config.json + weights + preprocessor_config.json
    DIR/backbones/bert-base-uncased/         config.json             (the Q-Former's BERT geometry)

The towers' ``./backbones/<name>`` paths in config.json are read relative to ``DIR`` (the released
code reads them relative to the working directory), or below ``backbones=ROOT`` when given. As in
the released loader, tower weights come from the backbone folders; the copies inside the main
weights file are ignored. Weights are read with ``torch.load(weights_only=True)`` or safetensors:
nothing from the checkpoint is executed.

Towers inside (what training and ``convert-avere`` write): ``config.json`` also holds
``avere_backbones`` (the backbone configs: ``image``/``video`` LanguageBind, ``speech`` Whisper, ``bert``),
``model.safetensors`` every weight (towers included, released names), ``preprocessor_config.json``
the Whisper feature extractor; no ``backbones/`` folder is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from emorealm.errors import ConfigError, ModelError
from emorealm.model_adapters.avere.config import AvereConfig, check_projectors, uses_bert
from emorealm.model_adapters.avere.model import AvereForCausalLM, TowerConfigs
from emorealm.model_adapters.avere.processor import AvereProcessor
from emorealm.model_adapters.avere.qformer import qformer_bert_config
from emorealm.model_adapters.avere.towers import vision_config

TOWER_KEYS = ("mm_image_tower", "mm_video_tower", "mm_speech_tower")
TOWER_PREFIXES = ("model.image_tower.", "model.video_tower.", "model.speech_tower.")
BERT_FOLDER = "bert-base-uncased"  # hard-coded by the released SpeechQFormer
EMBEDDED_KEY = "avere_backbones"  # our config key: the backbone configs of a folder that holds its towers


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """All tensors of a weights folder: safetensors or plain (weights_only) torch files, sharded or not."""
    from safetensors.torch import load_file

    for index_name, loader in (("model.safetensors.index.json", load_file),
                               ("pytorch_model.bin.index.json", _torch_load)):
        index = folder / index_name
        if index.exists():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            out: dict[str, torch.Tensor] = {}
            for shard in shards:
                out.update(loader(str(folder / shard)))
            return out
    if (folder / "model.safetensors").exists():
        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").exists():
        return _torch_load(str(folder / "pytorch_model.bin"))
    raise ModelError(f"no weights in {folder} (looked for model.safetensors, pytorch_model.bin and their indexes)")


def _torch_load(path: str) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unpickling refusal names the offending object
        raise ModelError(f"{path} is not a plain state dict of tensors ({exc}); refusing to unpickle it") from exc


def tower_folder(folder: Path, configured: str, backbones: str | None, key: str) -> Path:
    """Where the tower named ``configured`` (a config.json value) lives, or an error naming the places tried."""
    name = Path(configured).name
    candidates = [Path(backbones) / name] if backbones else []
    path = Path(configured)
    candidates += [path] if path.is_absolute() else [folder / path, folder / "backbones" / name]
    for c in candidates:
        if (c / "config.json").exists():
            return c
    raise ModelError(f"{key} {configured!r}: no backbone folder with a config.json at "
                     f"{', '.join(str(c) for c in dict.fromkeys(candidates))}; put the released backbones there "
                     "or pass backbones=<folder holding them> in --model-args")


def _load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _tower_configs(folder: Path, config: AvereConfig, backbones: str | None
                   ) -> tuple[TowerConfigs, dict[str, Path], dict[str, dict]]:
    """Tower configs, the backbone folders holding their weights, and the raw backbone configs."""
    paths, raw = {}, {}
    for key, kind, suffix in (("mm_image_tower", "image", "LanguageBind_Image"),
                              ("mm_video_tower", "video", "LanguageBind_Video_merge")):
        name = getattr(config, key, None)
        if name is None:
            continue
        if not str(name).rstrip("/").endswith(suffix):  # the released builder's own test
            raise ConfigError(f"{key} {name!r}: only LanguageBind towers ending in {suffix} are implemented")
        paths[kind] = tower_folder(folder, name, backbones, key)
        raw[kind] = _load_json(paths[kind] / "config.json")
    speech = getattr(config, "mm_speech_tower", None)
    if speech is not None:
        if "whisper" not in str(speech):
            raise ConfigError(f"mm_speech_tower {speech!r}: only Whisper speech towers are implemented")
        paths["speech"] = tower_folder(folder, speech, backbones, "mm_speech_tower")
        raw["speech"] = _load_json(paths["speech"] / "config.json")
    if uses_bert(config):
        bert_root = str(Path(backbones) / BERT_FOLDER) if backbones else str(folder / "backbones" / BERT_FOLDER)
        raw["bert"] = _load_json(tower_folder(folder, bert_root, None, "Q-Former BERT config") / "config.json")
    return _configs_from_raw(raw), paths, raw


def _configs_from_raw(raw: dict[str, dict]) -> TowerConfigs:
    from transformers import WhisperConfig

    towers = TowerConfigs()
    for kind in ("image", "video"):
        if kind in raw:
            setattr(towers, kind, vision_config(raw[kind]["vision_config"]))
    if "speech" in raw:
        towers.speech = WhisperConfig(**{k: v for k, v in raw["speech"].items() if k != "model_type"})
    if "bert" in raw:
        towers.qformer = qformer_bert_config(raw["bert"])
    return towers


def _load_towers(model: AvereForCausalLM, paths: dict[str, Path]) -> None:
    for kind, prefix in (("image", "vision_model."), ("video", "vision_model."), ("speech", "encoder.")):
        if kind not in paths:
            continue
        sd = {k[len(prefix):]: v for k, v in read_state_dict(paths[kind]).items() if k.startswith(prefix)}
        module = getattr(model.model, f"{kind}_tower")
        target = module.vit if kind != "speech" else module.speech_tower
        missing, _ = target.load_state_dict(sd, strict=False)
        if missing:
            raise ModelError(f"backbone {paths[kind]} lacks {len(missing)} {kind} tower weights, e.g. {missing[:3]}")


def _load_main(model: AvereForCausalLM, folder: Path, towers_inside: bool = False) -> list[str]:
    sd = read_state_dict(folder)
    towers = () if towers_inside else TOWER_PREFIXES  # towers inside: their weights come from this file
    ignored = [k for k in sd if (towers and k.startswith(towers)) or k.endswith("rotary_emb.inv_freq")]
    inv = [sd[k] for k in ignored if k.endswith("rotary_emb.inv_freq")]
    ours = getattr(model.model.rotary_emb, "inv_freq", None)
    if inv and ours is not None and not torch.allclose(inv[0].float(), ours.float(), rtol=1e-2):
        raise ModelError("the checkpoint's stored rotary inv_freq differs from the RoPE computed from its config")
    keep = {k: v for k, v in sd.items() if k not in set(ignored)}
    try:
        missing, unexpected = model.load_state_dict(keep, strict=False)
    except RuntimeError as exc:  # shapes that do not fit this config's geometry
        raise ModelError(f"{folder}: weights do not fit the AVERE architecture of its config.json: {exc}") from exc
    missing = [k for k in missing if not (towers and k.startswith(towers))]
    if unexpected or missing:
        raise ModelError(f"{folder}: weights do not fit the AVERE architecture: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return ignored


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _empty_model(config: AvereConfig, towers: TowerConfigs, dtype: torch.dtype) -> AvereForCausalLM:
    """The model without random initialisation, built in the target dtype (a 7B fp32 init would take
    minutes and twice the memory; every weight is overwritten by the checkpoint anyway)."""
    from transformers.initialization import no_init_weights

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights():
            return AvereForCausalLM(config, towers)
    finally:
        torch.set_default_dtype(previous)


def load_avere(pretrained: str | Path, *, dtype: str = "float32", device: str = "cpu",
               backbones: str | None = None, modalities: tuple[str, ...] | None = None):
    """``(model, processor, accepted modalities)`` for a released-layout AVERE folder.

    ``dtype`` ``auto`` is float16, the released inference dtype; ``modalities`` narrows what is given.
    """
    from transformers import AutoTokenizer, GenerationConfig, WhisperFeatureExtractor

    folder = Path(pretrained)
    raw = _load_json(folder / "config.json")
    if raw.get("model_type") != "avere":
        raise ConfigError(f"{folder} is not an AVERE checkpoint (model_type {raw.get('model_type')!r})")
    config = AvereConfig(**{k: v for k, v in raw.items() if k != "model_type"})
    check_projectors(config)
    dtype = "float16" if dtype == "auto" else dtype
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPES)} or auto")
    inside = raw.get(EMBEDDED_KEY)
    if inside:  # converted / trained layout: backbone configs in config.json, every weight in the main file
        if backbones:
            raise ConfigError(f"{folder} holds its towers (config key {EMBEDDED_KEY}); backbones= does not apply")
        towers, paths, sources = _configs_from_raw(inside), {}, inside
    else:
        towers, paths, sources = _tower_configs(folder, config, backbones)
    # carried in the config, so that a model saved from here (training, convert-avere) holds its towers
    setattr(config, EMBEDDED_KEY, sources)
    config._name_or_path = str(folder.resolve())  # what a LoRA adapter trained on it names as its base
    model = _empty_model(config, towers, DTYPES[dtype])
    _load_towers(model, paths)
    _load_main(model, folder, towers_inside=bool(inside))
    if (folder / "generation_config.json").exists():
        model.generation_config = GenerationConfig.from_pretrained(str(folder))
    rope = model.model.rotary_emb
    inv_freq = rope.inv_freq.float().clone()
    model.to(device=device, dtype=DTYPES[dtype]).eval()
    # RoPE frequencies stay float32 (the released model's cos/sin cache is computed in float32 at init;
    # fp16 frequencies would shift the angles of late positions, e.g. behind 2000 media tokens)
    rope.inv_freq = inv_freq.to(device)
    if hasattr(rope, "original_inv_freq"):
        rope.original_inv_freq = inv_freq.to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), config=config)  # config given: no re-read of config.json
    if tokenizer.pad_token_id is None:  # released train(): pad_token = unk_token
        tokenizer.pad_token = tokenizer.unk_token
    extractor = None
    if getattr(model.model, "speech_tower", None) is not None:
        extractor = WhisperFeatureExtractor.from_pretrained(str(paths.get("speech", folder)))
    processor = AvereProcessor(tokenizer, extractor, num_frames=model.num_frames,
                               tokens_per_frame=model.tokens_per_frame, audio_tokens=model.audio_tokens,
                               max_length=getattr(config, "tokenizer_model_max_length", None))
    accepts = tuple(m for m, ok in (("video", towers.video is not None), ("audio", towers.speech is not None)) if ok)
    if modalities is not None:
        narrowed = tuple(m for m in accepts if m in modalities)
        if not narrowed:
            raise ConfigError(f"modalities={'+'.join(modalities)} but {folder} accepts only {'+'.join(accepts)}")
        accepts = narrowed
    return model, processor, accepts


def is_avere_folder(pretrained: str | Path) -> bool:
    """True for a local folder whose config.json says ``model_type: "avere"``."""
    cfg = Path(pretrained) / "config.json"
    try:
        return cfg.is_file() and json.loads(cfg.read_text()).get("model_type") == "avere"
    except (OSError, ValueError):
        return False
