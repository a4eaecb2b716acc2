"""Plain DPO against TRL 1.16's DPOTrainer at a policy that differs from its reference, on rows with
video and audio (bench/trl_compare.py): loss and every LoRA gradient, at the log-prob level and
through TRL's own compute path; the comparison fails when TRL is given another beta or swapped
chosen/rejected; TRL's own data path on such rows is text-only."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from trl_compare import GRAD_TOL, LOSS_TOL, Setup, compare_at, trl_default_batch_keys  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from emorealm.media.decode import MediaSpec
    from emorealm.model_adapters.architectures.qwen_omni import Qwen25Omni
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni
    from emorealm.training.collate import PreferenceCollator
    from emorealm.training.config import LoraSettings
    from emorealm.training.data import load_preferences
    from emorealm.training.loss import LossConfig
    from emorealm.training.policy import freeze_encoders, load_thinker
    from emorealm.training.sample_prefs import toy_rows

    tmp = tmp_path_factory.mktemp("trl")
    raw = toy_rows(tmp, 2, seed=5)
    with open(tmp / "prefs.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in raw)
    rows, _ = load_preferences(tmp / "prefs.jsonl")
    model, proc, _ = load_thinker(str(ensure_tiny_omni()))
    freeze_encoders(model)
    batch = PreferenceCollator(proc, MediaSpec(max_frames=4),
                               LossConfig(w_vr=1.0, debias_weight=0.0, debias=False, modality=False))(rows)
    assert all(k != "text" for k in batch.context_kinds)  # every context carries video and audio
    s = Setup(model, proc, batch, LoraSettings().target_regex(Qwen25Omni.lora_scope), seed=0, std=4.0)
    yield {"setup": s, "raw": raw, "root": tmp, "proc": proc}
    # TRL's trainer initialised accelerate's process-wide state: later tests build their own Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def test_ours_equals_trl_away_from_the_reference(setup):
    res = compare_at(setup["setup"])
    # the policy really differs from the reference: per-row margins far from 0 (the batch loss can
    # still sit near log 2 when the rows' margins have opposite signs)
    assert max(abs(m) for m in res["margins"]) > 0.3, res
    assert abs(res["loss_ours"] - math.log(2)) > 1e-3, res
    assert res["media_reached_trl"] == {"pixel_values_videos": True, "input_features": True}
    assert abs(res["loss_ours"] - res["loss_trl_logps"]) < 1e-6, res
    assert abs(res["loss_ours"] - res["loss_trl"]) < LOSS_TOL, res
    assert res["grad_gap_logps"] < 1e-5 and res["grad_gap_trl"] < 1e-3, res
    assert res["match"]


@pytest.mark.parametrize("bad", [{"trl_beta": 0.12}, {"swap": True}])
def test_the_comparison_fails_on_a_wrong_beta_or_swapped_pairs(setup, bad):
    res = compare_at(setup["setup"], **bad)
    assert not res["match"], res
    # caught by the loss and, by a wide margin, by the gradients
    assert abs(res["loss_ours"] - res["loss_trl"]) > 5 * LOSS_TOL, res
    assert abs(res["loss_ours"] - res["loss_trl_logps"]) > 5 * LOSS_TOL, res
    assert res["grad_gap_trl"] > 10 * GRAD_TOL and res["grad_gap_logps"] > 10 * GRAD_TOL, res


def test_trl_own_data_path_drops_audio_and_video(setup):
    keys = trl_default_batch_keys(setup["proc"], setup["raw"], setup["root"])
    assert keys == {"input_ids", "attention_mask", "completion_mask"}
