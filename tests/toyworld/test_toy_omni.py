"""toy-omni really reads the clip: measured by ``emorealm diagnose`` (the numbers a user sees) on
held-out toy EmoReAlM questions of a toy world it was not trained on. Builds toy-omni on first use
(cached under the cache root; several minutes on 2 CPU cores)."""

from __future__ import annotations

import json

import pytest

from emorealm.cli import main
from emorealm.toyworld import ToyWorldConfig, write_toy_world

CHANCE = 0.25  # four options


def test_recipe_subset_filters_and_repeats_kinds_exactly():
    from emorealm.toyworld.omni import sft_subset

    lines = [json.dumps({"id": f"sft_train_00001_{k}"}) for k in
             ("reasoning_basic_audio", "reasoning_basic_video", "modality_agreement", "reasoning_stress_audio")]
    ids = lambda out: [json.loads(x)["id"].split("00001_")[1] for x in out]  # noqa: E731
    assert ids(sft_subset(lines, (), (("reasoning_basic_video", 3),))) == [
        "reasoning_basic_audio", "reasoning_basic_video", "reasoning_basic_video~2", "reasoning_basic_video~3",
        "modality_agreement", "reasoning_stress_audio"]
    assert ids(sft_subset(lines, ("reasoning_basic_audio", "modality_agreement"), (("reasoning_basic_audio", 2),))) == [
        "reasoning_basic_audio", "reasoning_basic_audio~2", "modality_agreement"]
    assert sft_subset(lines, (), ()) == lines


def test_repeated_rows_survive_the_sft_loader(tmp_path):
    # the loader drops repeated ids as duplicates: each copy needs its own (a bug once made repeat a no-op)
    from emorealm.toyworld.omni import sft_subset
    from emorealm.training.sft import load_sft_rows

    write_toy_world(tmp_path / "w", ToyWorldConfig(seed=5, n_train=3, n_test=2))
    lines = (tmp_path / "w" / "sft.jsonl").read_text().splitlines()
    keep = sft_subset(lines, (), (("reasoning_basic_audio", 3),))
    (tmp_path / "w" / "sub.jsonl").write_text("\n".join(keep) + "\n")
    rows, report = load_sft_rows(tmp_path / "w" / "sub.jsonl", None)
    assert len(rows) == len(lines) + 2 * 3 and not report.skipped


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    from emorealm.toyworld.omni import ensure_toy_omni

    model = ensure_toy_omni()
    root = tmp_path_factory.mktemp("toy-eval")
    write_toy_world(root / "world", ToyWorldConfig(seed=2000, n_train=2, n_test=60))
    # no media options: the checkpoint's emorealm_media.json (2 frames of 56 x 56 px) supplies them
    rc = main(["diagnose", "--model", "hf", "--model-args", f"pretrained={model}",
               "--tasks", "reasoning_basic_audio_ll,reasoning_basic_video_ll", "--data-root", str(root / "world"),
               "--conditions", "intact,swap_audio,swap_video", "--no-attention", "--bootstrap-iters", "200",
               "--output", str(root / "results")])
    assert rc == 0
    report = json.loads(next((root / "results").rglob("report.json")).read_text())
    return model, report


def test_toy_omni_is_evaluated_with_the_media_it_was_trained_with(diagnosed):
    model, report = diagnosed
    trained = {"min_frames": 2, "max_frames": 2, "min_pixels": 3136, "max_pixels": 3136}
    assert json.loads((model / "emorealm_media.json").read_text())["media"] == trained
    assert report["emorealm"]["media_from_checkpoint"] == trained
    assert {k: report["emorealm"]["media"][k] for k in trained} == trained


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["audio", "video"])
def test_swapping_the_informative_modality_lowers_accuracy_and_likelihood(diagnosed, modality):
    """What the diagnostics must show on a model that reads its inputs: the direction of each effect."""
    _, report = diagnosed
    acc = report["accuracy"][f"reasoning_basic_{modality}_ll"]
    assert acc["intact"]["n"] == 60 and acc["intact"]["n_errors"] == 0
    assert acc["intact"]["value"] > acc[f"swap_{modality}"]["value"]
    shift = report["likelihood_shift"][f"reasoning_basic_{modality}_ll"]["conditions"][f"swap_{modality}"]
    assert shift["mean"] > 0 and shift["mean_ci"][0] > 0  # intact - swapped


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["audio", "video"])
def test_accurate_with_intact_media_and_at_chance_when_that_modality_is_swapped(diagnosed, modality):
    """The issue's grounding target (docs/toy-world.md has the measured numbers)."""
    _, report = diagnosed
    acc = report["accuracy"][f"reasoning_basic_{modality}_ll"]
    assert acc["intact"]["value"] >= 0.8
    assert acc[f"swap_{modality}"]["value"] <= CHANCE + 0.1


@pytest.mark.slow
def test_results_are_flagged_as_smoke_test(diagnosed):
    from emorealm.model_adapters.tiny_models.omni import is_smoke_test_model

    model, report = diagnosed
    assert is_smoke_test_model(model)
    assert report["emorealm"].get("smoke_test") is True
