"""Shared fixtures: the tiny-omni checkpoint and the sample data, built once per cache root.

Tests use the real cache root ($EMOREALM_CACHE, default ~/.cache/emorealm) so that later tiers
(the vLLM tier) load the very tiny-omni folder this suite built.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_omni_dir() -> Path:
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    return ensure_tiny_omni()


@pytest.fixture(scope="session")
def sample_root() -> Path:
    from emorealm.sample_data.builtin import ensure_sample_data

    return ensure_sample_data()


@pytest.fixture(scope="session")
def hf_adapter(tiny_omni_dir):
    from emorealm.model_adapters.hf import HFAdapter

    return HFAdapter(pretrained=str(tiny_omni_dir))


@pytest.fixture(scope="session")
def processor(tiny_omni_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_omni_dir)


@pytest.fixture(autouse=True)
def _restore_emorealm_logger():
    """An in-process CLI call (in a test or a module fixture) installs the console handler on the
    ``emorealm`` logger and stops it propagating, so caplog would see nothing in later tests: every
    test starts with the logger propagating, and gets back the state it found."""
    logger = logging.getLogger("emorealm")
    state = (list(logger.handlers), logger.level, logger.propagate)
    logger.propagate = True
    yield
    logger.handlers[:], logger.level, logger.propagate = state[0], state[1], state[2]
