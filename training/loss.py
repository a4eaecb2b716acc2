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


@dataclass
class LossConfig:
    """Weights and switches of the objective. Defaults follow the released AVERE launcher where it
    states them (beta, response weight, ``tpd_gamma`` = our ``debias_weight``); the rest are ours
    (docs/avem-dpo.md). The released launcher's ``gamma`` is an SFT weight, so ours is not called that."""

    beta: float = 0.1
    response: bool = True  # response preference term (two rejected responses)
    response_weight: float = 1.0
    w_vr: float = 0.5  # weight of y_l^vr (spurious emotion association); w_er = 1 - w_vr
    response_form: str = "joint"  # "joint": -log s(r_w - w_vr r_vr - w_er r_er); "pairwise": weighted sum of DPOs
    modality: bool = True  # prompt-based modality preference term
    modality_weight: float = 1.0
    debias: bool = True  # text-prior debiasing of the response term's rewards
    debias_weight: float = 0.2  # the released launcher's tpd_gamma (config alias)

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

    @property
    def w_er(self) -> float:
        return 1.0 - self.w_vr

    def needed_sequences(self) -> tuple[str, ...]:
        """The sequences whose log-probs the objective reads (the forward pass computes only these)."""
        need: list[str] = []
        if self.response or self.modality:
            need.append("chosen")
        if self.response:
            if self.w_vr > 0:
                need.append("rejected_vr")
            if self.w_er > 0:
                need.append("rejected_er")
            if self.debias and self.debias_weight > 0:
                need += [f"{n}_text" for n in list(need)]
        if self.modality:
            need.append("chosen_corrupt")
        return tuple(dict.fromkeys(need))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reward(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """Implicit DPO reward ``beta * (log pi - log pi_ref)``."""
    return beta * (policy_logps - ref_logps)


def debiased_reward(r: torch.Tensor, r_text: torch.Tensor | None, gamma: float) -> torch.Tensor:
    """Text-prior debiasing: ``r(y|c) - gamma * r(y|prompt only)`` (``gamma = 0`` leaves ``r``)."""
    if r_text is None or gamma == 0:
        return r
    return r - gamma * r_text


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
    if cfg.response:
        g = cfg.debias_weight if cfg.debias else 0.0
        rw = debiased_reward(r["chosen"], r.get("chosen_text"), g)
        rvr = debiased_reward(r["rejected_vr"], r.get("rejected_vr_text"), g) if "rejected_vr" in r else None
        rer = debiased_reward(r["rejected_er"], r.get("rejected_er_text"), g) if "rejected_er" in r else None
        term = response_preference_loss(rw, rvr, rer, cfg.w_vr, cfg.w_er, cfg.response_form)
        total = total + cfg.response_weight * term
        metrics["response/loss"] = float(term.mean().detach())
        for name, rl in (("vr", rvr), ("er", rer)):
            if rl is not None:
                metrics[f"response/margin_{name}"] = float((rw - rl).mean().detach())
                metrics[f"response/acc_{name}"] = float((rw > rl).float().mean())
    if cfg.modality:
        term = modality_preference_loss(r["chosen"], r["chosen_corrupt"])
        total = total + cfg.modality_weight * term
        metrics["modality/loss"] = float(term.mean().detach())
        metrics["modality/margin"] = float((r["chosen"] - r["chosen_corrupt"]).mean().detach())
        metrics["modality/acc"] = float((r["chosen"] > r["chosen_corrupt"]).float().mean())
    metrics["rewards/chosen"] = float(r["chosen"].mean().detach())
    if "chosen_text" in r:
        metrics["rewards/chosen_text"] = float(r["chosen_text"].mean().detach())
    loss = total.mean()
    metrics["loss"] = float(loss.detach())
    return loss, metrics
