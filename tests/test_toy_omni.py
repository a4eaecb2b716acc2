"""toy-omni really reads the clip: measured by ``emorealm diagnose`` (the numbers a user sees) on
held-out toy EmoReAlM questions of a toy world it was not trained on. Builds toy-omni on first use
(cached under the cache root; several minutes on 2 CPU cores)."""

from __future__ import annotations

import json

import pytest

from emorealm.cli import main
from emorealm.toyworld import ToyWorldConfig, write_toy_world

CHANCE = 0.25  # four options


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    from emorealm.toyworld.omni import ensure_toy_omni

    model = ensure_toy_omni()
    root = tmp_path_factory.mktemp("toy-eval")
    write_toy_world(root / "world", ToyWorldConfig(seed=2000, n_train=2, n_test=60))
    rc = main(["diagnose", "--model", "hf", "--model-args", f"pretrained={model},min_frames=2,max_frames=2",
               "--tasks", "reasoning_basic_audio_ll,reasoning_basic_video_ll", "--data-root", str(root / "world"),
               "--conditions", "intact,swap_audio,swap_video", "--no-attention", "--bootstrap-iters", "200",
               "--output", str(root / "results")])
    assert rc == 0
    report = json.loads(next((root / "results").rglob("report.json")).read_text())
    return model, report


# Measured with the committed recipe (docs/toy-world.md): audio intact 0.617 (< 0.8), so the audio
# case is an expected failure until the recipe is strengthened (strict: passing it fails the suite,
# so the marker must be removed then).
_AUDIO_SHORT = pytest.mark.xfail(strict=True, reason="toy-omni reaches 0.617 on held-out audio questions (target 0.8)")


@pytest.mark.slow
@pytest.mark.parametrize("modality", [pytest.param("audio", marks=_AUDIO_SHORT), "video"])
def test_accurate_with_intact_media_and_at_chance_when_that_modality_is_swapped(diagnosed, modality):
    _, report = diagnosed
    acc = report["accuracy"][f"reasoning_basic_{modality}_ll"]
    assert acc["intact"]["n"] == 60 and acc["intact"]["n_errors"] == 0
    assert acc["intact"]["value"] >= 0.8
    assert acc[f"swap_{modality}"]["value"] <= CHANCE + 0.1
    # the likelihood of the correct letter falls when its evidence is replaced
    shift = report["likelihood_shift"][f"reasoning_basic_{modality}_ll"]["conditions"][f"swap_{modality}"]
    assert shift["mean"] > 0 and shift["mean_ci"][0] > 0  # intact - swapped


@pytest.mark.slow
def test_results_are_flagged_as_smoke_test(diagnosed):
    from emorealm.tiny import is_smoke_test_model

    model, report = diagnosed
    assert is_smoke_test_model(model)
    assert report["emorealm"].get("smoke_test") is True
