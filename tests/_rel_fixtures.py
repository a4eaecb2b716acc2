"""Fixtures of the reliability tests (star-imported; named apart from the suite's conftest ones)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["rel_tiny", "rel_sample_root", "rel_adapter"]


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def rel_tiny() -> Path:
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    return ensure_tiny_omni()


@pytest.fixture(scope="session")
def rel_sample_root() -> Path:
    from emorealm.sample_data.builtin import ensure_sample_data

    return ensure_sample_data()


@pytest.fixture(scope="session")
def rel_adapter(rel_tiny):
    from emorealm.model_adapters.hf import HFAdapter

    return HFAdapter(pretrained=str(rel_tiny))
