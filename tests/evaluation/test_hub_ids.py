"""A checkpoint named by hub id loads offline from the Hugging Face cache, and its results record the
same weights hash (and smoke-test flag) as the same checkpoint given as a folder."""

from __future__ import annotations

import json
import shutil

from emorealm.fingerprint import local_checkpoint, weights_hash

from support.runs import results_file, run_cli

REPO = "emorealm-test/tiny-omni"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(tmp_path, folder):
    """A Hugging Face cache holding ``folder`` as the main revision of REPO (the on-disk layout)."""
    hub = tmp_path / "hub"
    repo = hub / f"models--{REPO.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return hub


def test_hub_id_results_carry_the_weights_hash(tmp_path, tiny_omni_dir, sample_root):
    hub = _hub_cache(tmp_path, tiny_omni_dir)
    out = tmp_path / "out"
    env = {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    proc = run_cli("run", "--model", "hf", "--model-args", f"pretrained={REPO}", "--tasks", "modality_agreement_ll",
               "--limit", "2", "--data-root", str(sample_root), "--output", str(out), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads(results_file(next(out.iterdir())).read_text())["emorealm"]
    assert meta["model"] == REPO
    assert meta["model_sha256"] == weights_hash(tiny_omni_dir) is not None
    assert meta["smoke_test"] is True  # the tiny model's marker file is found in the snapshot too


def test_unknown_hub_id_has_no_local_checkpoint(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert local_checkpoint("nobody/no-such-model") is None
    assert local_checkpoint("/no/such/folder") is None
    assert weights_hash("nobody/no-such-model") is None
