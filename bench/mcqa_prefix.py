"""Cost of scoring a 4-option question relative to scoring one option (prefix-cached scoring).

Model: a randomly initialised Qwen2.5-Omni thinker of about 100M parameters (float32, CPU unless
--device says otherwise). Input: a 4 s synthetic clip with its audio track interleaved
(use_audio_in_video), the EmoReAlM prompt layout, and four full-sentence options (multi-token, the
harder case; single-letter options cost one prefix pass whatever their number).

Prints the cost (process CPU time; runs alternate, cheapest kept) of: prefix scoring with 1 option, prefix scoring with 4 options, and the
naive method (one full forward per option) with 4 options. Last line:
``mcqa_prefix: <4-option ÷ 1-option> (target <= 1.3)``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

OPTIONS = [
    " (A) The person feels happiness, as shown by a rising pitch.",
    " (B) The person feels sadness, as shown by a trembling voice.",
    " (C) The person feels anger, as shown by loud shouting.",
    " (D) The person feels surprise, as shown by soft sighing.",
]
PROMPT = ("Based on the speaker's tone of voice, which emotion is the person most likely feeling, and why? "
          "(A) happiness (B) sadness (C) anger (D) surprise")


def _timed(fn) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()

    from emorealm.media.decode import MediaSpec
    from emorealm.media.synth import write_av_clip
    from emorealm.model_adapters.inputs import build_model_inputs
    from emorealm.model_adapters.prefix import score_from_prefix, score_naive
    from emorealm.model_adapters.random_configs import n_parameters, qwen25_omni_thinker

    model, processor = qwen25_omni_thinker("100m", device=args.device)
    print(f"model: random Qwen2.5-Omni thinker, {n_parameters(model) / 1e6:.1f}M parameters, float32, {args.device}")
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_av_clip(Path(tmp) / "clip.mp4", seconds=args.seconds, size=(112, 84), seed=1)
        doc = {"media": {"video": str(clip), "audio": None, "audio_source": "video"}}
        inputs = build_model_inputs(processor, doc, PROMPT, MediaSpec())
    kw = {k: v.to(args.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.model_kwargs().items()}
    conts = [processor.tokenizer(o, add_special_tokens=False)["input_ids"] for o in OPTIONS]
    print(f"prefix: {inputs.prompt_length} tokens ({', '.join(inputs.modalities)}); "
          f"options: {[len(c) for c in conts]} tokens")

    score_from_prefix(model, kw, conts)  # warm-up
    # Cost = CPU time of this process (all its threads): on a shared machine wall time mostly
    # measures the neighbours. The two measurements alternate; each keeps its cheapest run.
    ones, fours = [], []
    for _ in range(args.repeats):
        ones.append(_timed(lambda: score_from_prefix(model, kw, conts[:1])))
        fours.append(_timed(lambda: score_from_prefix(model, kw, conts)))
    naives = [_timed(lambda: score_naive(model, kw, conts)) for _ in range(max(1, args.repeats // 2))]
    (one, _), (four, _), (naive, naive_w) = min(ones), min(fours), min(naives)
    print(f"runs (cpu s): 1 option {[round(t[0], 2) for t in ones]}, 4 options {[round(t[0], 2) for t in fours]}")
    print(f"1 option (prefix):  {one:7.2f} cpu s  {min(t[1] for t in ones):7.2f} wall s")
    print(f"4 options (prefix): {four:7.2f} cpu s  {min(t[1] for t in fours):7.2f} wall s")
    print(f"4 options (naive):  {naive:7.2f} cpu s  {naive_w:7.2f} wall s   naive ratio {naive / one:.2f}")
    print(f"wall-time ratio (noisy on a shared machine): {min(t[1] for t in fours) / min(t[1] for t in ones):.2f}")
    print(f"mcqa_prefix: {four / one:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
