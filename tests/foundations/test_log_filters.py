"""Loading tiny-omni prints no warnings about token ids of transformers' own default sub-configs,
while a real out-of-vocabulary id in a loaded config still warns."""

from __future__ import annotations

import subprocess
import sys

NOISE = "within the vocabulary"


def _load(folder, import_emorealm: bool) -> str:
    code = ("import emorealm\n" if import_emorealm else "") + (
        "from transformers import AutoConfig\n"
        f"AutoConfig.from_pretrained({str(folder)!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stderr


def test_default_subconfig_noise_is_dropped(tiny_omni_dir):
    assert NOISE in _load(tiny_omni_dir, import_emorealm=False)  # transformers alone does print it
    assert NOISE not in _load(tiny_omni_dir, import_emorealm=True)


def test_a_loaded_configs_bad_token_id_still_warns(tmp_path):
    from transformers import LlamaConfig

    LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, pad_token_id=0).save_pretrained(tmp_path)
    cfg = (tmp_path / "config.json").read_text().replace('"pad_token_id": 0', '"pad_token_id": 999')
    (tmp_path / "config.json").write_text(cfg)
    err = _load(tmp_path, import_emorealm=True)
    assert NOISE in err and "999" in err
