"""Issue 19: the core accepts vLLM's transformers range; the one path that needs a newer
transformers (the HF adapter's interleaved audio-in-video) checks it when used, naming the fix.
(scripts/check-vllm-resolves.sh, run by scripts/test.sh, proves `emorealm[vllm]` resolves.)"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from emorealm.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
# vLLM 0.33.0's own metadata: Requires-Dist transformers<5.21.0,>=5.16.1 and torch==2.14.0
VLLM_TRANSFORMERS, VLLM_TORCH = "5.20.2", "2.14.0"


def _requires() -> dict[str, Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    reqs = [Requirement(line) for line in cfg["options"]["install_requires"].split("\n") if line.strip()]
    return {r.name: r for r in reqs}


def test_core_requirements_admit_what_vllm_pins():
    req = _requires()
    assert req["transformers"].specifier.contains(VLLM_TRANSFORMERS)
    assert req["torch"].specifier.contains(VLLM_TORCH)


def test_old_transformers_is_refused_where_it_matters(monkeypatch):
    from emorealm import version_checks

    monkeypatch.setattr(version_checks, "version", lambda name: VLLM_TRANSFORMERS)
    with pytest.raises(ModelError, match=r"needs transformers >= 5.24, this environment has 5.20.2: "
                                         r"pip install 'transformers>=5.24'"):
        version_checks.require("transformers", "5.24", "the HF adapter's audio-in-video layout")
    monkeypatch.setattr(version_checks, "version", lambda name: "5.24.0")
    version_checks.require("transformers", "5.24", "x")  # new enough: no error


def test_hf_adapter_checks_transformers_only_for_interleaved_audio(monkeypatch, tiny_omni_dir):
    from emorealm import version_checks
    from emorealm.model_adapters.hf import HFAdapter

    monkeypatch.setattr(version_checks, "version", lambda name: VLLM_TRANSFORMERS)
    with pytest.raises(ModelError, match="use_audio_in_video=false"):
        HFAdapter(pretrained=str(tiny_omni_dir))
    lm = HFAdapter(pretrained=str(tiny_omni_dir), use_audio_in_video="false")
    assert lm.spec.use_audio_in_video is False
