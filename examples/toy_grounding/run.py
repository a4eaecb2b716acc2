"""Toy grounding study: plain DPO vs AVEm-DPO on clips whose emotion is carried by the audio.

Clips: a loud rising chirp = happy, a quiet falling chirp = sad; the frames carry nothing. Each
prompt names a visual cue ("The person is smiling widely." / "...looks tearful."). In training the
cue agrees with the audio in ``--consistent`` of the rows (a text shortcut worth exploiting); on
the held-out clips it always contradicts the audio. The tiny random Qwen2.5-Omni is trained with
LoRA for the same steps with (a) plain DPO (debias_weight 0, w_er 0, no modality term) and (b) AVEm-DPO
(all terms, released defaults), then scored on held-out clips:

* accuracy: log p("The voice sounds <true>.") > log p("The voice sounds <other>.") given the clip
  and prompt, through emorealm.model_adapters.inputs (as evaluation does);
* audio reliance: mean drop of log p(true answer) when the clip's audio is replaced by the other
  emotion's audio (bigger = the answer depends more on the audio);
* text reliance: accuracy of the same model when the prompt's cue is flipped to agree with the audio.

    python examples/toy_grounding/run.py [--steps 60] [--out examples/toy_grounding/results]

Writes ``results.json`` and ``results.md`` in ``--out``. Report whatever comes out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def score(model, proc, rows, spec, *, replace_audio: bool = False, flip_cue: bool = False) -> dict[str, float]:
    from emorealm.media.decode import load_media
    from emorealm.model_adapters.inputs import append_continuation, build_inputs
    from emorealm.training.sample_prefs import emotion_audio

    correct, lls = 0, []
    for i, r in enumerate(rows):
        media = load_media(r["media"], spec)
        prompt = r["prompt"]
        if flip_cue:
            prompt = prompt.replace("The person is smiling widely.", "@@").replace(
                "The person looks tearful.", "The person is smiling widely.").replace("@@", "The person looks tearful.")
        override = None
        if replace_audio:
            other = "sad" if r["emotion"] == "happy" else "happy"
            override = {"audio": emotion_audio(other, len(media.audio) / spec.sample_rate, spec.sample_rate, 777 + i)}
        ctx = build_inputs(proc, media, prompt, spec, media_override=override)
        out = {}
        for emo in ("happy", "sad"):
            ids = proc.tokenizer(f"The voice sounds {emo}.", add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(**append_continuation(ctx, ids).model_kwargs()).logits[0].float()
            p = ctx.prompt_length
            lp = torch.log_softmax(logits[p - 1:p - 1 + len(ids)], -1)
            out[emo] = float(lp.gather(1, torch.tensor(ids)[:, None]).sum())
        other = "sad" if r["emotion"] == "happy" else "happy"
        correct += out[r["emotion"]] > out[other]
        lls.append(out[r["emotion"]])
    return {"acc": correct / len(rows), "ll_true": sum(lls) / len(lls)}


def evaluate(model, proc, rows, spec) -> dict[str, float]:
    model.eval()
    clean = score(model, proc, rows, spec)
    swapped = score(model, proc, rows, spec, replace_audio=True)
    flipped = score(model, proc, rows, spec, flip_cue=True)
    return {"heldout_acc": clean["acc"], "ll_true": clean["ll_true"],
            "ll_shift_audio_replaced": clean["ll_true"] - swapped["ll_true"],
            "acc_audio_replaced": swapped["acc"], "acc_cue_agrees": flipped["acc"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-rows", type=int, default=24)
    ap.add_argument("--heldout", type=int, default=12)
    ap.add_argument("--consistent", type=float, default=0.75)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="examples/toy_grounding/results")
    args = ap.parse_args()

    from transformers import AutoProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    from emorealm.media.decode import MediaSpec
    from emorealm.model_adapters.hf import load_model, resolve_checkpoint
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni
    from emorealm.training.config import config_from_dict
    from emorealm.training.sample_prefs import toy_rows
    from emorealm.training.trainer import Trainer

    work = Path(tempfile.mkdtemp(prefix="toy-grounding-"))
    train_rows = toy_rows(work, args.train_rows, seed=args.seed, prefix="train", consistent=args.consistent)
    with open(work / "train.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in train_rows)
    held = toy_rows(work, args.heldout, seed=args.seed + 1, prefix="heldout", consistent=0.0)
    for r in held:
        r["media"] = {"video": str(work / r["video"]), "audio": None, "audio_source": "video"}
        r["prompt"] = r["prompt"].split("\n")[-1]
    spec = MediaSpec(max_frames=4)
    base = str(ensure_tiny_omni())
    results: dict[str, dict] = {}
    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(base)
    results["base (untrained)"] = evaluate(model, AutoProcessor.from_pretrained(base), held, spec)
    methods = {
        "plain DPO": {"w_vr": 1.0, "debias_weight": 0.0, "debias": False, "modality": False},
        "AVEm-DPO": {},
    }
    for name, loss in methods.items():
        t0 = time.time()
        cfg = config_from_dict({
            "model": "tiny-omni", "data": str(work / "train.jsonl"), "output_dir": str(work / name.replace(" ", "_")),
            "seed": args.seed, "media": {"max_frames": 4}, "lora": {"r": 16, "alpha": 32}, "loss": loss,
            "train": {"batch_size": 4, "max_steps": args.steps, "epochs": 100, "lr": args.lr,
                      "max_completion_length": 16, "logging_steps": 10}})
        res = Trainer(cfg).run()
        model, proc = load_model(*resolve_checkpoint(str(res.output_dir), None))
        results[name] = {**evaluate(model, proc, held, spec), "train_seconds": round(time.time() - t0, 1),
                         "final_train_loss": res.metrics[-1]["loss"]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in vars(args).items()}
    (out / "results.json").write_text(json.dumps({"settings": meta, "results": results}, indent=2))
    cols = ["heldout_acc", "ll_shift_audio_replaced", "acc_audio_replaced", "acc_cue_agrees", "ll_true"]
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")
    table = "\n".join(lines)
    (out / "results.md").write_text(f"settings: {json.dumps(meta)}\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
