"""AVEm-DPO objective as pure functions of summed completion log-probs (docs/avem-dpo.md).

Every function takes per-example tensors of shape ``[B]`` (log-probabilities already summed over
the completion tokens, in float32) and returns per-example losses or rewards; nothing here touches
a model. Notation: ``r(y|c) = beta * (log pi(y|c) - log pi_ref(y|c))``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from emorealm.errors import ConfigError

# Names of the sequences one preference row contributes (policy and reference each):
#   chosen / rejected_vr / rejected_er  under c = (video, audio, prompt)
#   chosen_corrupt                      under c~ (the prompt's modality replaced by its rejected input)
#   *_text                              under the prompt alone (text-only prior)
SEQUENCES = ("chosen", "rejected_vr", "rejected_er", "chosen_corrupt",
             "chosen_text", "rejected_vr_text", "rejected_er_text")


DEBIAS_FORMS = ("margin", "grounding", "hallucination")
@dataclass
class LossConfig:
    """Weights and switches of the objective. Defaults follow the released AVERE launcher where it
    states them (beta, response weight, ``tpd_gamma``); the rest are ours (docs/avem-dpo.md)."""

    beta: float = 0.1
    response: bool = True  # response preference term (two rejected responses)
    response_weight: float = 1.0
    w_vr: float = 0.5  # weight of y_l^vr (spurious emotion association); w_er = 1 - w_vr
    response_form: str = "joint"  # "joint": -log s(r_w - w_vr r_vr - w_er r_er); "pairwise": weighted sum of DPOs
    modality: bool = True  # prompt-based modality preference term
    modality_weight: float = 1.0
    debias: bool = True  # text-prior debiasing (form below)
    debias_weight: float = 0.2  # tpd_gamma
    # margin: r(y|c) - w r(y|text) inside the response sigmoid; grounding: w * -log s(r(y_w|c) - r(y_w|text));
    # hallucination: w * -log s(-r(y_l^er|text))   (docs/avem-dpo.md, "Text-prior debiasing forms")
    # default chosen by the controlled study's pre-registered rule (docs/avem-dpo-study.md)
    debias_form: str = "hallucination"

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ConfigError(f"loss.beta must be > 0, got {self.beta}")
        if not 0.0 <= self.w_vr <= 1.0:
            raise ConfigError(f"loss.w_vr must lie in [0, 1] (w_er = 1 - w_vr), got {self.w_vr}")
        if self.response_form not in ("joint", "pairwise"):
            raise ConfigError(f"loss.response_form must be 'joint' or 'pairwise', got {self.response_form!r}")
        if not (self.response or self.modality):
            raise ConfigError("loss: at least one of response / modality must be on")
        if self.debias_weight < 0:
            raise ConfigError(f"loss.debias_weight must be >= 0, got {self.debias_weight}")
        if self.debias_form not in DEBIAS_FORMS:
            raise ConfigError(f"loss.debias_form must be one of {', '.join(DEBIAS_FORMS)}, got {self.debias_form!r}")

    @property
    def w_er(self) -> float:
        return 1.0 - self.w_vr

    @property
    def debias_active(self) -> bool:
        return self.debias and self.debias_weight > 0

    @property
    def uses_rejected_er(self) -> bool:
        """True when the objective reads y_l^er (the row's ``rejected_2``)."""
        return "rejected_er" in self.needed_sequences() or "rejected_er_text" in self.needed_sequences()

    def needed_sequences(self) -> tuple[str, ...]:
        """The sequences whose log-probs the objective reads (the forward pass computes only these)."""
        need: list[str] = ["chosen"]
        if self.response:
            if self.w_vr > 0:
                need.append("rejected_vr")
            if self.w_er > 0:
                need.append("rejected_er")
        if self.debias_active:
            if self.debias_form == "margin":  # debiases the response term's rewards: inert without it
                need += [f"{n}_text" for n in list(need)] if self.response else []
            elif self.debias_form == "grounding":
                need.append("chosen_text")
            else:
                need.append("rejected_er_text")
        if self.modality:
            need.append("chosen_corrupt")
        return tuple(dict.fromkeys(need))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reward(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """Implicit DPO reward ``beta * (log pi - log pi_ref)``."""
    return beta * (policy_logps - ref_logps)


def debiased_reward(r: torch.Tensor, r_text: torch.Tensor | None, weight: float) -> torch.Tensor:
    """``margin`` debiasing: ``r(y|c) - weight * r(y|prompt only)`` (``weight = 0`` leaves ``r``)."""
    if r_text is None or weight == 0:
        return r
    return r - weight * r_text


def grounding_loss(r_w: torch.Tensor, r_w_text: torch.Tensor) -> torch.Tensor:
    """``grounding`` debiasing: ``-log sigma(r(y_w|c) - r(y_w|prompt only))`` (mDPO's conditional
    preference with the text-only input as the corrupted one)."""
    return -F.logsigmoid(r_w - r_w_text)


def hallucination_loss(r_er_text: torch.Tensor) -> torch.Tensor:
    """``hallucination`` debiasing: ``-log sigma(-r(y_l^er|prompt only))`` lowers the text-only
    reward of the hallucinated response."""
    return -F.logsigmoid(-r_er_text)


def response_preference_loss(r_w: torch.Tensor, r_vr: torch.Tensor | None, r_er: torch.Tensor | None,
                             w_vr: float, w_er: float, form: str = "joint") -> torch.Tensor:
    """Per-example response preference loss with two rejected responses.

    ``joint``: ``-log sigma(r_w - w_vr r_vr - w_er r_er)``; ``pairwise``:
    ``w_vr * -log sigma(r_w - r_vr) + w_er * -log sigma(r_w - r_er)``. A zero weight drops its response.
    """
    zero = torch.zeros_like(r_w)
    r_vr = r_vr if r_vr is not None and w_vr > 0 else None
    r_er = r_er if r_er is not None and w_er > 0 else None
    if r_vr is None and r_er is None:
        raise ConfigError("response preference needs at least one rejected response with a positive weight")
    if form == "joint":
        mix = (w_vr * r_vr if r_vr is not None else zero) + (w_er * r_er if r_er is not None else zero)
        return -F.logsigmoid(r_w - mix)
    out = zero
    if r_vr is not None:
        out = out + w_vr * -F.logsigmoid(r_w - r_vr)
    if r_er is not None:
        out = out + w_er * -F.logsigmoid(r_w - r_er)
    return out


def modality_preference_loss(r_w: torch.Tensor, r_w_corrupt: torch.Tensor) -> torch.Tensor:
    """Prompt-based modality preference: ``-log sigma(r(y_w|c) - r(y_w|c~))``."""
    return -F.logsigmoid(r_w - r_w_corrupt)


def avem_dpo_loss(policy: dict[str, torch.Tensor], ref: dict[str, torch.Tensor],
                  cfg: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The full objective: mean over the batch of the enabled, weighted terms.

    ``policy`` / ``ref`` map sequence names (:data:`SEQUENCES`) to summed log-probs ``[B]``; only
    ``cfg.needed_sequences()`` are read. Returns ``(loss, metrics)``; metrics hold per-term losses,
    reward margins and accuracies (floats, detached).
    """
    missing = [n for n in cfg.needed_sequences() if n not in policy or n not in ref]
    if missing:
        raise ConfigError(f"avem_dpo_loss: log-probs missing for {missing}")
    def f32(t: torch.Tensor) -> torch.Tensor:  # at least float32 (bf16 log-probs lose the margins)
        return t.to(torch.promote_types(t.dtype, torch.float32))

    r = {n: reward(f32(policy[n]), f32(ref[n]), cfg.beta) for n in cfg.needed_sequences()}
    total = torch.zeros_like(r["chosen"])
    metrics: dict[str, float] = {}
    margin_w = cfg.debias_weight if cfg.debias_active and cfg.debias_form == "margin" else 0.0
    if cfg.response:
        rw = debiased_reward(r["chosen"], r.get("chosen_text"), margin_w)
        rvr = debiased_reward(r["rejected_vr"], r.get("rejected_vr_text"), margin_w) if "rejected_vr" in r else None
        rer = debiased_reward(r["rejected_er"], r.get("rejected_er_text"), margin_w) if "rejected_er" in r else None
        term = response_preference_loss(rw, rvr, rer, cfg.w_vr, cfg.w_er, cfg.response_form)
        total = total + cfg.response_weight * term
        metrics["response/loss"] = float(term.mean().detach())
        for name, rl in (("vr", rvr), ("er", rer)):
            if rl is not None:
                metrics[f"response/margin_{name}"] = float((rw - rl).mean().detach())
                metrics[f"response/acc_{name}"] = float((rw > rl).float().mean())
    if cfg.debias_active and cfg.debias_form == "grounding":
        term = grounding_loss(r["chosen"], r["chosen_text"])
        total = total + cfg.debias_weight * term
        metrics["grounding/loss"] = float(term.mean().detach())
        metrics["grounding/margin"] = float((r["chosen"] - r["chosen_text"]).mean().detach())
    if cfg.debias_active and cfg.debias_form == "hallucination":
        term = hallucination_loss(r["rejected_er_text"])
        total = total + cfg.debias_weight * term
        metrics["hallucination/loss"] = float(term.mean().detach())
    if cfg.modality:
        term = modality_preference_loss(r["chosen"], r["chosen_corrupt"])
        total = total + cfg.modality_weight * term
        metrics["modality/loss"] = float(term.mean().detach())
        metrics["modality/margin"] = float((r["chosen"] - r["chosen_corrupt"]).mean().detach())
        metrics["modality/acc"] = float((r["chosen"] > r["chosen_corrupt"]).float().mean())
    metrics["rewards/chosen"] = float(r["chosen"].mean().detach())
    for name in ("chosen_text", "rejected_er_text"):
        if name in r:
            metrics[f"rewards/{name}"] = float(r[name].mean().detach())
    loss = total.mean()
    metrics["loss"] = float(loss.detach())
    return loss, metrics
