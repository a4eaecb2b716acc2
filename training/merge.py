"""Merge a LoRA adapter folder into its base model and save a full HF checkpoint with the processor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from emorealm.errors import ModelError


def merge_adapter(adapter: str | Path, out: str | Path, base: str | None = None) -> Path:
    """Write ``base + adapter`` merged into ``out`` (safetensors, processor, tiny-omni marker if any)."""
    from peft import PeftModel
    from transformers import AutoProcessor

    from emorealm.model_adapters.checkpoint_media import CHECKPOINT_MEDIA
    from emorealm.model_adapters.tiny_models.omni import TINY_MARKER
    from emorealm.training.policy import load_thinker

    adapter, out = Path(adapter), Path(out)
    cfg = adapter / "adapter_config.json"
    if not cfg.exists():
        raise ModelError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
    base = base or json.loads(cfg.read_text()).get("base_model_name_or_path")
    if not base:
        raise ModelError(f"{cfg} names no base_model_name_or_path; pass --base")
    model, processor, _ = load_thinker(base)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), safe_serialization=True)
    saved = (adapter / "processor_config.json").exists() or (adapter / "preprocessor_config.json").exists()
    if saved and hasattr(type(processor), "from_pretrained"):
        AutoProcessor.from_pretrained(str(adapter)).save_pretrained(str(out))
    else:  # the base's processor (AVERE's is built by its loader, not re-read from a folder)
        processor.save_pretrained(str(out))
    for name in (f"{TINY_MARKER}.json", CHECKPOINT_MEDIA):  # the adapter's own, else the base's
        for folder in (adapter, Path(base)):
            if (folder / name).exists():
                shutil.copy(folder / name, out / name)
                break
    return out
