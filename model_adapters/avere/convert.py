"""``convert-avere``: a released-layout AVERE folder -> one folder holding its towers.

The output (see :mod:`.loading`, "towers inside") has every weight in ``model.safetensors`` under
the released names, the backbone configs in ``config.json`` (``avere_backbones``), the tokenizer and
the Whisper ``preprocessor_config.json``: it loads without a ``backbones/`` folder, without
unpickling anything and without the released code. The conversion itself reads the source with the
same loader evaluation uses, then (unless ``verify=False``) reloads the output and checks that
every tensor is bit-identical to what was loaded from the source.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from emorealm.errors import ConfigError, ModelError
from emorealm.model_adapters.avere.loading import EMBEDDED_KEY, load_avere


def convert_avere(src: str | Path, dst: str | Path, *, backbones: str | None = None, dtype: str = "auto",
                  verify: bool = True, log=print) -> Path:
    """Write ``src`` (released layout) as a towers-inside folder ``dst``; returns ``dst``.

    ``dtype``: ``auto`` keeps the released inference dtype (float16); ``float32`` / ``bfloat16`` cast.
    """
    import json

    src, dst = Path(src), Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise ConfigError(f"{dst} exists and is not empty; give a new folder")
    if (src / "config.json").exists() and EMBEDDED_KEY in json.loads((src / "config.json").read_text()):
        raise ConfigError(f"{src} already holds its towers (config key {EMBEDDED_KEY}); nothing to convert")
    log(f"loading {src} (released layout{', backbones ' + backbones if backbones else ''})")
    model, processor, accepts = load_avere(src, dtype=dtype, backbones=backbones)
    dst.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dst), safe_serialization=True)
    processor.save_pretrained(dst)
    from emorealm.model_adapters.tiny_models.omni import TINY_MARKER

    if (src / f"{TINY_MARKER}.json").exists():  # a smoke-test twin stays flagged as one
        shutil.copy(src / f"{TINY_MARKER}.json", dst / f"{TINY_MARKER}.json")
    if verify:
        log(f"verifying {dst}")
        again, _, accepts_again = load_avere(dst, dtype=dtype)
        want, got = model.state_dict(), again.state_dict()
        bad = sorted(k for k in want if k not in got or not torch.equal(want[k], got[k]))
        if bad or accepts_again != accepts or set(got) != set(want):
            raise ModelError(f"the converted folder {dst} does not reload to the same model: {bad[:5]}")
    log(f"wrote {dst} ({'+'.join(accepts)}, {sum(p.numel() for p in model.parameters()):,} parameters)")
    return dst
