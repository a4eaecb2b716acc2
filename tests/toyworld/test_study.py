"""The controlled study (emorealm study): config refusals, statistics, the probe, identical LoRA
initialisation and data order across arms, and an end-to-end reduced run that resumes per cell."""

from __future__ import annotations

import json
import math

import pytest

from emorealm.errors import ConfigError
from emorealm.toyworld.study.aggregate import aggregate, choose_default_form, t_interval
from emorealm.toyworld.study.config import DEFAULT_ARMS, study_from_dict
from emorealm.toyworld.study.world import probe_rows

TRAIN = {"finetune": "lora", "media": {"min_frames": 2, "max_frames": 2},
         "train": {"max_steps": 2, "batch_size": 2, "lr": 1e-3, "max_completion_length": 32,
                   "mixed_precision": "no"}}


def test_default_arms_are_accepted():
    cfg = study_from_dict({"train": TRAIN})
    assert list(cfg.arms) == list(DEFAULT_ARMS) and cfg.seeds == [0, 1, 2]


@pytest.mark.parametrize(("arms", "train", "message"), [
    ({"a": {"objective": "dpo"}, "b": {"train": {"lr": 5e-4}}}, TRAIN, "differ in train.lr"),
    ({"a": {"objective": "dpo"}, "b": {"lora": {"r": 16}}}, TRAIN, "differ in lora.r"),
    ({"a": {}, "b": {"media": {"max_frames": 4}}}, TRAIN, "differ in media.max_frames"),
    ({"a": {}, "b": {"finetune": "full"}}, TRAIN, "differ in finetune"),
    ({"a": {}, "b": {"seed": 3}}, TRAIN, "sets seed"),
    ({"a": {}, "b": {"data": "x.jsonl"}}, TRAIN, "sets data"),
    ({"a": {}, "b": {"objective": "sft"}}, TRAIN, "objective must be one of"),
    ({"a": {}, "b": {}}, {**TRAIN, "loss": {"beta": 0.2}}, "train block sets loss"),
    ({"a": {}, "b": {"loss": {"debias_form": "typo"}}}, TRAIN, "debias_form must be one of"),
])
def test_arms_that_differ_in_anything_but_the_loss_are_refused(arms, train, message):
    with pytest.raises(ConfigError, match=message):
        study_from_dict({"train": train, "arms": arms})


def test_a_default_spelled_out_in_one_arm_is_no_difference():
    cfg = study_from_dict({"train": TRAIN, "arms": {"a": {"objective": "dpo"}, "b": {"lora": {"r": 8}},
                                                    "c": {"loss": {"beta": 0.2, "modality": False}}}})
    assert list(cfg.arms) == ["a", "b", "c"]


def test_bad_seeds_and_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match="distinct"):
        study_from_dict({"train": TRAIN, "seeds": [1, 1]})
    with pytest.raises(ConfigError, match="wolrd"):
        study_from_dict({"train": TRAIN, "wolrd": {}})


def test_t_interval_over_seeds():
    s = t_interval([1.0, 2.0, 3.0])
    # t(0.975, df=2) = 4.302653 (tables); sd = 1
    assert s["mean"] == 2.0 and s["sd"] == pytest.approx(1.0) and s["n"] == 3
    assert s["ci"] == pytest.approx([2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)], abs=1e-5)
    assert t_interval([0.5])["ci"] is None and t_interval([])["mean"] is None


def _rec(arm, seed, h, acc):
    return {"arm": arm, "seed": seed, "metrics": {"hallucination_rate": h, "acc/basic_mean": acc}}


def test_paired_differences_and_the_default_form_rule():
    cells = [_rec("plain_dpo", s, 0.5, a) for s, a in ((0, 0.70), (1, 0.72), (2, 0.74))]
    cells += [_rec("avem_margin", s, 0.2, a) for s, a in ((0, 0.50), (1, 0.52), (2, 0.54))]  # accuracy too low
    cells += [_rec("avem_grounding", s, 0.4, a) for s, a in ((0, 0.71), (1, 0.73), (2, 0.75))]
    cells += [_rec("avem_hallucination", s, 0.3, a) for s, a in ((0, 0.69), (1, 0.71), (2, 0.73))]
    arms = ["plain_dpo", "avem_margin", "avem_grounding", "avem_hallucination"]
    agg = aggregate(cells, arms, [0, 1, 2])
    d = agg["paired_vs_plain_dpo"]["avem_grounding"]["acc/basic_mean"]
    assert d["mean"] == pytest.approx(0.01) and d["sd"] == pytest.approx(0.0, abs=1e-12)
    choice = choose_default_form(agg)
    # plain DPO's floor: 0.72 - 4.302653 * 0.02 / sqrt(3) = 0.6703; margin (0.52) is below it
    assert choice["plain_dpo_basic_acc_floor"] == pytest.approx(0.72 - 4.302653 * 0.02 / math.sqrt(3), abs=1e-5)
    assert [c["eligible"] for c in choice["candidates"]] == [False, True, True]
    assert choice["default"] == "hallucination"


def test_probe_statement_contradicts_the_audio():
    from emorealm.toyworld.spec import CUES

    bench = [{"id": f"q{i}", "task": t, "question": "Q?", "choices": [], "answer": "A",
              "toy": {"modality": "audio", "kind": "basic", "emotion": e}}
             for i, (t, e) in enumerate([("reasoning_basic_audio", "happiness"), ("reasoning_basic_video", "calm"),
                                         ("reasoning_basic_audio", "sadness"), ("reasoning_basic_audio", "anger")])]
    rows = probe_rows(bench, seed=0)
    assert [r["id"] for r in rows] == ["q0_probe", "q2_probe", "q3_probe"]
    for r, src in zip(rows, [bench[0], bench[2], bench[3]], strict=True):
        other = r["toy"]["statement_emotion"]
        assert other != src["toy"]["emotion"]
        assert r["question"] == f"Note: the clip shows {CUES['audio'][other]}. Q?"
        assert r["answer"] == src["answer"]


# -- with toy-omni (built on first use, cached) --------------------------------------------------------------

@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    from emorealm.toyworld import ToyWorldConfig, write_toy_world

    root = tmp_path_factory.mktemp("study-world")
    write_toy_world(root, ToyWorldConfig(seed=3000, n_train=8, n_test=4))
    return root


@pytest.mark.slow
def test_every_arm_of_a_seed_starts_from_the_same_lora_and_data_order(small_world, tmp_path):
    import torch

    from emorealm.toyworld.omni import ensure_toy_omni
    from emorealm.toyworld.study.config import build_arm_configs
    from emorealm.training.trainer import Trainer

    cfg = study_from_dict({"train": TRAIN})
    base = str(ensure_toy_omni())

    def start(arm, seed):
        t = Trainer(build_arm_configs(cfg, seed, base, str(small_world / "prefs.jsonl"), tmp_path)[arm])
        lora = {n: p.detach().clone() for n, p in t.policy_model.named_parameters() if "lora_" in n}
        order = [rid for batch in t._loader(0) for rid in batch.row_ids]  # the order training sees rows in
        return lora, [r.id for r in t.rows], order

    a, rows_a, order_a = start("plain_dpo", 0)
    b, rows_b, order_b = start("avem_hallucination", 0)
    c, _, _ = start("plain_dpo", 1)
    assert a and a.keys() == b.keys()
    assert all(torch.equal(a[n], b[n]) for n in a)  # same LoRA initialisation in every arm of a seed
    assert rows_a == rows_b and order_a == order_b and len(order_a) == 16
    assert any(not torch.equal(a[n], c[n]) for n in a if "lora_A" in n)  # and another seed differs


@pytest.mark.slow
def test_study_end_to_end_reduced_and_resumable(small_world, tmp_path):
    """1 seed, 2 steps, 4 questions per task key, two arms: every output written from the harness'
    files; a killed cell is redone on the next run while a finished one is kept."""
    import yaml

    from emorealm.cli import main

    cfg_path = tmp_path / "study.yaml"
    cfg = {"seeds": [0], "reference_base": False, "world": {"seed": 3000, "train_clips": 8, "test_clips": 4},
           "eval": {"attention_docs": 2, "bootstrap_iters": 20}, "train": TRAIN,
           "arms": {"plain_dpo": {"objective": "dpo"}, "avem_hallucination": {"loss": {"debias_form": "hallucination"}}}}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "out"
    assert main(["study", str(cfg_path), "--out", str(out)]) == 0
    study = json.loads((out / "study.json").read_text())
    assert [(c["arm"], c["seed"]) for c in study["cells"]] == [("plain_dpo", 0), ("avem_hallucination", 0)]
    for c in study["cells"]:
        m = c["metrics"]
        assert m["n_errors"] == 0 and set(m["n_questions"].values()) == {4}
        assert c["train"]["steps"] == 2 and c["train"]["rows"] == 16
        assert 0 <= m["probe_acc"] <= 1 and math.isfinite(m["logp_shift_swap_audio/reasoning_basic_audio"])
        shares = [m[f"attention/reasoning_basic_audio/{k}"] for k in ("audio", "video", "text")]
        assert sum(shares) == pytest.approx(1.0, abs=1e-4)
    assert study["cells"][0]["train"]["objective"] == "dpo"
    assert study["cells"][1]["train"]["loss"]["debias_form"] == "hallucination"
    # the hallucination rate, recomputed from the samples file emorealm run wrote
    bench = {r["id"]: r["toy"] for r in json.loads((out / "world/EmoReAlM/emorealm_v1.json").read_text())}
    yes = []
    for f in (out / "cells/plain_dpo/seed0/eval/run").rglob("samples_reasoning_stress_*_ll_*.jsonl"):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if bench[r["doc"]["id"]]["kind"] == "hallucinated":
                ll = [float(x[0]) for x in r["filtered_resps"]]
                yes.append(float(ll[0] > ll[1]))
    h = study["cells"][0]["metrics"]["hallucination_rate"]
    assert (h is None and not yes) or h == pytest.approx(sum(yes) / len(yes))
    assert study["aggregate"]["arms"]["plain_dpo"]["probe_acc"]["n"] == 1
    assert study["default_debias_form"]["default"] in ("margin", "grounding", "hallucination")
    for png in ("study_accuracy.png", "study_grounding.png", "study_paired.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a kill during avem_hallucination's training: its metrics and training record are gone
    kept = out / "cells/plain_dpo/seed0/metrics.json"
    before = kept.stat().st_mtime_ns
    (out / "cells/avem_hallucination/seed0/metrics.json").unlink()
    (out / "cells/avem_hallucination/seed0/model/emorealm_train.json").unlink()
    assert main(["study", str(cfg_path), "--out", str(out)]) == 0
    assert kept.stat().st_mtime_ns == before  # the finished cell was not redone
    again = json.loads((out / "study.json").read_text())
    assert again["cells"][0]["metrics"] == study["cells"][0]["metrics"]
    assert again["cells"][1]["metrics"]["n_questions"] == study["cells"][1]["metrics"]["n_questions"]
    # another config in the same folder is refused, nothing lost
    cfg["train"] = {**TRAIN, "train": {**TRAIN["train"], "lr": 5e-4}}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["study", str(cfg_path), "--out", str(out)]) == 2
    assert kept.stat().st_mtime_ns == before


def test_report_finished_uses_whole_seeds_only(tmp_path):
    """An unfinished study reports the seeds whose every arm finished, and lists the rest."""
    from emorealm.toyworld.study.driver import prepare_folder, report_finished

    base = tmp_path / "base"
    base.mkdir()
    cfg = study_from_dict({"base_model": str(base), "seeds": [0, 1], "reference_base": False, "train": TRAIN,
                           "arms": {"plain_dpo": {"objective": "dpo"}, "avem_margin": {}}})
    out = tmp_path / "study"
    prepare_folder(cfg, out, overwrite=False)
    (out / "world").mkdir()
    (out / "world" / "toyworld.json").write_text("{}")
    for arm, seed, h in (("plain_dpo", 0, 0.5), ("avem_margin", 0, 0.25), ("plain_dpo", 1, 0.75)):
        folder = out / "cells" / arm / f"seed{seed}"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"arm": arm, "seed": seed, "train": {"rows": 16},
                                                         "metrics": {"hallucination_rate": h}}))
    study = report_finished(out)
    assert study["partial"] and study["seeds"] == [0] and study["unfinished_cells"] == ["avem_margin/seed1"]
    assert study["aggregate"]["arms"]["plain_dpo"]["hallucination_rate"]["mean"] == 0.5
    assert study["aggregate"]["paired_vs_plain_dpo"]["avem_margin"]["hallucination_rate"]["mean"] == -0.25


def test_the_shipped_study_config_loads_with_every_arm_and_three_seeds():
    from pathlib import Path

    from emorealm.toyworld.study import load_study_config

    cfg = load_study_config(Path(__file__).resolve().parents[2] / "examples" / "toy_grounding" / "study.yaml")
    assert list(cfg.arms) == list(DEFAULT_ARMS) and cfg.seeds == [0, 1, 2] and cfg.world.test_clips == 200
