"""AVEm-DPO loss: every term's gradient direction, the reduction to sigmoid DPO (checked against
TRL's own DPOTrainer loss code on the same tensors), and config validation."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from emorealm.errors import ConfigError
from emorealm.training.loss import (
    SEQUENCES,
    LossConfig,
    avem_dpo_loss,
    debiased_reward,
    grounding_loss,
    hallucination_loss,
    modality_preference_loss,
    response_preference_loss,
)


def _logps(seed: int, b: int = 5, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: (-20 * torch.rand(b, generator=g, dtype=torch.float64)).requires_grad_(requires_grad)
            for n in SEQUENCES}


def test_joint_response_term_value_by_hand():
    r_w, r_vr, r_er = torch.tensor([0.3]), torch.tensor([-0.1]), torch.tensor([0.5])
    got = response_preference_loss(r_w, r_vr, r_er, 0.7, 0.3)
    z = 0.3 - (0.7 * -0.1 + 0.3 * 0.5)
    assert got.item() == pytest.approx(math.log1p(math.exp(-z)), abs=1e-7)
    pw = response_preference_loss(r_w, r_vr, r_er, 0.7, 0.3, form="pairwise")
    want = 0.7 * math.log1p(math.exp(-(0.3 + 0.1))) + 0.3 * math.log1p(math.exp(-(0.3 - 0.5)))
    assert pw.item() == pytest.approx(want, abs=1e-7)


def test_full_loss_value_by_hand():
    cfg = LossConfig(beta=0.2, w_vr=0.6, debias_weight=0.3, modality_weight=0.5, response_weight=2.0, debias_form="margin")
    pol, ref = _logps(0, b=3), _logps(1, b=3)
    loss, metrics = avem_dpo_loss(pol, ref, cfg)
    r = {n: 0.2 * (pol[n] - ref[n]) for n in SEQUENCES}
    hat = {n: r[n] - 0.3 * r[f"{n}_text"] for n in ("chosen", "rejected_vr", "rejected_er")}
    resp = -F.logsigmoid(hat["chosen"] - 0.6 * hat["rejected_vr"] - 0.4 * hat["rejected_er"])
    mod = -F.logsigmoid(r["chosen"] - r["chosen_corrupt"])
    assert loss.item() == pytest.approx((2.0 * resp + 0.5 * mod).mean().item(), abs=1e-9)
    assert metrics["response/acc_vr"] == pytest.approx((hat["chosen"] > hat["rejected_vr"]).double().mean().item())
    assert metrics["modality/margin"] == pytest.approx((r["chosen"] - r["chosen_corrupt"]).mean().item())


@pytest.mark.parametrize("form", ["joint", "pairwise"])
def test_gradients_move_the_right_logprobs_the_right_way(form):
    """Gradient descent must raise log pi(y_w|c), lower both rejected responses and y_w under the
    corrupted input, lower y_w's text-only likelihood (debiasing) and raise the rejected ones'."""
    cfg = LossConfig(response_form=form, debias_form="margin")
    pol, ref = _logps(2, requires_grad=True), _logps(3)
    loss, _ = avem_dpo_loss(pol, ref, cfg)
    loss.backward()
    sign = {n: torch.sign(pol[n].grad) for n in SEQUENCES}
    # d loss / d logp < 0  <=> a descent step increases that log-prob
    assert (sign["chosen"] < 0).all()
    assert (sign["rejected_vr"] > 0).all() and (sign["rejected_er"] > 0).all()
    assert (sign["chosen_corrupt"] > 0).all()
    assert (sign["chosen_text"] > 0).all()
    assert (sign["rejected_vr_text"] < 0).all() and (sign["rejected_er_text"] < 0).all()
    # the reference never gets a gradient
    assert all(not ref[n].requires_grad for n in SEQUENCES)


def test_each_term_off_removes_its_gradients():
    pol, ref = _logps(4, requires_grad=True), _logps(5)
    loss, m = avem_dpo_loss(pol, ref, LossConfig(modality=False, debias=False, debias_form="margin"))
    loss.backward()
    assert pol["chosen_corrupt"].grad is None and pol["chosen_text"].grad is None
    assert "modality/loss" not in m
    pol, ref = _logps(4, requires_grad=True), _logps(5)
    loss, m = avem_dpo_loss(pol, ref, LossConfig(response=False, debias_form="margin"))
    loss.backward()
    assert pol["rejected_vr"].grad is None and pol["chosen_text"].grad is None
    assert (pol["chosen_corrupt"].grad > 0).all() and (pol["chosen"].grad < 0).all()
    assert "response/loss" not in m
    assert LossConfig(w_vr=1.0, debias=False, modality=False, debias_form="margin").needed_sequences() == ("chosen", "rejected_vr")
    assert set(LossConfig(debias_form="margin").needed_sequences()) == set(SEQUENCES)


def test_modality_term_value():
    a, b = torch.tensor([0.2, -1.0]), torch.tensor([0.1, 0.5])
    assert torch.allclose(modality_preference_loss(a, b), torch.log1p(torch.exp(-(a - b))))
    assert torch.equal(debiased_reward(a, b, 0.0), a)
    assert torch.allclose(debiased_reward(a, b, 0.5), a - 0.5 * b)


def _trl_sigmoid_dpo(pol_w, pol_l, ref_w, ref_l, beta):
    """TRL 1.16's DPOTrainer._compute_loss on given summed log-probs (bench/trl_compare.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from trl_compare import trl_loss_from_logps

    return trl_loss_from_logps(pol_w, pol_l, ref_w, ref_l, beta)


def test_reduces_to_sigmoid_dpo_and_matches_trl():
    """debias_weight = 0, w_er = 0 and no modality term: exactly TRL's sigmoid DPO on the same tensors."""
    cfg = LossConfig(beta=0.1, w_vr=1.0, debias_weight=0.0, modality=False, debias_form="margin")
    pol, ref = _logps(6, b=8), _logps(7, b=8)
    ours, _ = avem_dpo_loss(pol, ref, cfg)
    theirs = _trl_sigmoid_dpo(pol["chosen"], pol["rejected_vr"], ref["chosen"], ref["rejected_vr"], 0.1)
    assert abs(ours.item() - float(theirs)) < 1e-6
    # debias switched off instead of weight 0 is the same objective
    ours2, _ = avem_dpo_loss(pol, ref, LossConfig(beta=0.1, w_vr=1.0, debias=False, modality=False, debias_form="margin"))
    assert abs(ours2.item() - float(theirs)) < 1e-6
    # and with weight > 0 it differs (the debiasing does something)
    ours3, _ = avem_dpo_loss(pol, ref, LossConfig(beta=0.1, w_vr=1.0, debias_weight=0.2, modality=False, debias_form="margin"))
    assert abs(ours3.item() - float(theirs)) > 1e-4


@pytest.mark.parametrize("bad", [dict(beta=0), dict(w_vr=1.5), dict(response_form="x"),
                                 dict(response=False, modality=False), dict(debias_weight=-1), dict(debias_form="x")])
def test_bad_config_raises(bad):
    with pytest.raises(ConfigError):
        LossConfig(**bad)


def test_missing_logps_raise():
    pol, ref = _logps(8), _logps(9)
    del pol["chosen_corrupt"]
    with pytest.raises(ConfigError, match="chosen_corrupt"):
        avem_dpo_loss(pol, ref, LossConfig(debias_form="margin"))


# -- text-prior debiasing forms (docs/avem-dpo.md, "Text-prior debiasing forms") ---------------------

def _finite_difference(pol, ref, cfg, name, eps=1e-6):
    """Central difference of the loss along one log-prob (float64, row 0), independent of autograd."""
    def at(delta):
        p = {k: v.detach().clone() for k, v in pol.items()}
        p[name][0] += delta
        return avem_dpo_loss(p, ref, cfg)[0].item()
    return (at(eps) - at(-eps)) / (2 * eps)


@pytest.mark.parametrize("form", ["margin", "grounding", "hallucination"])
def test_autograd_matches_finite_differences(form):
    cfg = LossConfig(debias_form=form, debias_weight=0.4)
    pol, ref = _logps(10, b=3, requires_grad=True), _logps(11, b=3)
    loss, _ = avem_dpo_loss(pol, ref, cfg)
    loss.backward()
    for name in cfg.needed_sequences():
        fd = _finite_difference(pol, ref, cfg, name)
        assert pol[name].grad[0].item() == pytest.approx(fd, rel=1e-5, abs=1e-9), name


def _text_grads(form):
    cfg = LossConfig(debias_form=form, debias_weight=0.5)
    pol, ref = _logps(12, requires_grad=True), _logps(13)
    avem_dpo_loss(pol, ref, cfg)[0].backward()
    return cfg, pol


def test_margin_raises_the_hallucinated_text_only_likelihood():
    """The issue's finding: the margin form's gradient *raises* log pi(y_l^er|text) (descent along
    -grad with grad < 0), and log pi(y_l^vr|text) too, while lowering log pi(y_w|text)."""
    _, pol = _text_grads("margin")
    assert (pol["rejected_er_text"].grad < 0).all() and (pol["rejected_vr_text"].grad < 0).all()
    assert (pol["chosen_text"].grad > 0).all()


def test_grounding_prefers_chosen_with_media_over_text_only():
    cfg, pol = _text_grads("grounding")
    assert (pol["chosen_text"].grad > 0).all()  # descent lowers r(y_w|text) ...
    assert (pol["chosen"].grad < 0).all()  # ... and raises r(y_w|c)
    # the rejected responses' text-only likelihoods are not read at all
    assert "rejected_er_text" not in cfg.needed_sequences() and pol["rejected_er_text"].grad is None
    assert pol["rejected_vr_text"].grad is None


def test_hallucination_lowers_the_hallucinated_text_only_likelihood():
    cfg, pol = _text_grads("hallucination")
    assert (pol["rejected_er_text"].grad > 0).all()  # descent lowers log pi(y_l^er|text)
    assert pol["chosen_text"].grad is None and pol["rejected_vr_text"].grad is None
    assert cfg.needed_sequences() == ("chosen", "rejected_vr", "rejected_er", "rejected_er_text", "chosen_corrupt")


def test_form_values_by_hand():
    pol, ref = _logps(14, b=4), _logps(15, b=4)
    r = {n: 0.1 * (pol[n] - ref[n]) for n in SEQUENCES}
    resp = -F.logsigmoid(r["chosen"] - 0.5 * r["rejected_vr"] - 0.5 * r["rejected_er"])
    mod = -F.logsigmoid(r["chosen"] - r["chosen_corrupt"])
    g, _ = avem_dpo_loss(pol, ref, LossConfig(debias_form="grounding", debias_weight=0.3))
    want = resp + mod + 0.3 * torch.log1p(torch.exp(-(r["chosen"] - r["chosen_text"])))
    assert g.item() == pytest.approx(want.mean().item(), abs=1e-9)
    h, m = avem_dpo_loss(pol, ref, LossConfig(debias_form="hallucination", debias_weight=0.3))
    want = resp + mod + 0.3 * torch.log1p(torch.exp(r["rejected_er_text"]))
    assert h.item() == pytest.approx(want.mean().item(), abs=1e-9)
    assert m["hallucination/loss"] == pytest.approx(torch.log1p(torch.exp(r["rejected_er_text"])).mean().item())
    assert torch.allclose(grounding_loss(r["chosen"], r["chosen_text"]), -F.logsigmoid(r["chosen"] - r["chosen_text"]))
    assert torch.allclose(hallucination_loss(r["rejected_er_text"]), -F.logsigmoid(-r["rejected_er_text"]))


def _train_categorical(form: str, steps: int = 60) -> dict[str, float]:
    """A tiny policy: per context (clean c, text only) a softmax over three one-token responses
    (y_w, y_l^vr, y_l^er); the reference is its initial copy. Returns how much each log-prob moved."""
    torch.manual_seed(0)
    init = torch.randn(2, 3, dtype=torch.float64)
    theta = init.clone().requires_grad_(True)
    ref_lp = torch.log_softmax(init, -1)
    # modality term off: the corrupted context would be a third softmax, irrelevant to these properties
    cfg = LossConfig(debias_form=form, debias_weight=1.0, modality=False)
    opt = torch.optim.SGD([theta], lr=0.5)

    def logps(lp):
        idx = {"chosen": (0, 0), "rejected_vr": (0, 1), "rejected_er": (0, 2),
               "chosen_text": (1, 0), "rejected_vr_text": (1, 1), "rejected_er_text": (1, 2)}
        return {n: lp[c, y].reshape(1) for n, (c, y) in idx.items()}

    for _ in range(steps):
        opt.zero_grad()
        avem_dpo_loss(logps(torch.log_softmax(theta, -1)), logps(ref_lp), cfg)[0].backward()
        opt.step()
    moved = torch.log_softmax(theta.detach(), -1) - ref_lp
    return {"chosen": moved[0, 0].item(), "chosen_text": moved[1, 0].item(), "rejected_er_text": moved[1, 2].item()}


def test_trained_tiny_policy_moves_as_each_form_says():
    """Gradient descent on a real (tiny) softmax policy: margin trains the text-only model toward the
    hallucinated response, hallucination away from it, grounding widens r(y_w|c) - r(y_w|text)."""
    margin, grounding, halluc = (_train_categorical(f) for f in ("margin", "grounding", "hallucination"))
    assert margin["rejected_er_text"] > 0.05
    assert halluc["rejected_er_text"] < -0.05
    assert grounding["chosen"] - grounding["chosen_text"] > 0.05
    assert grounding["chosen_text"] < 0


def test_weight_aliases_and_refused_old_name():
    from emorealm.training.config import config_from_dict

    assert config_from_dict({"loss": {"tpd_gamma": 0.3}}).loss.debias_weight == 0.3
    with pytest.raises(ConfigError, match="debias_weight"):
        config_from_dict({"loss": {"gamma": 0.3}})
    assert config_from_dict({"loss": {"debias_form": "hallucination"}}).loss.debias_form == "hallucination"


def test_the_default_form_is_the_studys_choice():
    # docs/avem-dpo-study.md: the pre-registered rule chose `hallucination` (the tests above pin
    # `margin` where they check that form's formulas)
    assert LossConfig().debias_form == "hallucination" and LossConfig().uses_rejected_er


def test_hallucination_form_needs_rejected_2_even_without_w_er():
    cfg = LossConfig(w_vr=1.0, debias_form="hallucination")
    assert cfg.uses_rejected_er and "rejected_er" not in cfg.needed_sequences()
    assert not LossConfig(w_vr=1.0, debias_form="margin").uses_rejected_er
    assert not LossConfig(w_vr=1.0, debias_form="hallucination", debias=False).uses_rejected_er
