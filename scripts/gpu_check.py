"""GPU check: a randomly initialised model of the real Qwen2.5-Omni-7B thinker configuration
(no weights needed) runs bf16 generation and prefix-cached log-likelihood on sample clips.

    python scripts/gpu_check.py                         # 7b preset, cuda, bfloat16
    python scripts/gpu_check.py --preset tiny --device cpu --dtype float32   # dry run on CPU

Prints: parameter count, memory, prefill tokens, generation tokens/s, log-likelihood questions/s
(prefix-cached) and the naive per-option cost for comparison. Outputs are meaningless (random
weights); only the speed and that everything runs are checked.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

OPTIONS = [" (A) happiness", " (B) sadness", " (C) anger", " (D) surprise"]
PROMPT = "Which emotion does the person express? (A) happiness (B) sadness (C) anger (D) surprise"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="7b", choices=["tiny", "100m", "7b"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--new-tokens", type=int, default=32)
    args = ap.parse_args()

    from emorealm.media.decode import MediaSpec
    from emorealm.media.synth import write_av_clip
    from emorealm.model_adapters.inputs import build_model_inputs
    from emorealm.model_adapters.prefix import score_from_prefix, score_naive
    from emorealm.model_adapters.random_configs import n_parameters, qwen25_omni_thinker, tiny_processor

    dtype = getattr(torch, args.dtype)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # the Qwen2.5-Omni processor applies the released video pixel caps (128..768 x 28 x 28) by default
    processor = tiny_processor()
    t0 = time.perf_counter()
    torch.set_default_dtype(dtype)  # build the random weights directly in the target dtype
    model, processor = qwen25_omni_thinker(args.preset, dtype=dtype, device=args.device, processor=processor)
    torch.set_default_dtype(torch.float32)
    sync()
    print(f"model: random Qwen2.5-Omni thinker ({args.preset}), {n_parameters(model) / 1e9:.2f}B parameters, "
          f"{args.dtype}, {args.device}; built in {time.perf_counter() - t0:.1f} s")
    if cuda:
        print(f"device: {torch.cuda.get_device_name()}, weights {torch.cuda.memory_allocated() / 2**30:.1f} GiB")

    spec = MediaSpec()
    with tempfile.TemporaryDirectory() as tmp:
        clips = [write_av_clip(Path(tmp) / f"c{i}.mp4", seconds=args.seconds, size=(448, 336), seed=i)
                 for i in range(args.clips)]
        inputs = [build_model_inputs(processor, {"media": {"video": str(c), "audio": None, "audio_source": "video"}},
                                     PROMPT, spec) for c in clips]

    def dev(kw):
        return {k: (v.to(args.device, dtype) if v.is_floating_point() else v.to(args.device))
                if isinstance(v, torch.Tensor) else v for k, v in kw.items()}

    kws = [dev(i.model_kwargs()) for i in inputs]
    print(f"clips: {args.clips} x {args.seconds:g} s, prefix tokens {[i.prompt_length for i in inputs]} "
          f"({'+'.join(inputs[0].modalities)}, audio in video)")
    conts = [processor.tokenizer(o, add_special_tokens=False)["input_ids"] for o in OPTIONS]
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")

    with torch.inference_mode():
        model.generate(**kws[0], max_new_tokens=2, do_sample=False)  # warm-up
        score_from_prefix(model, kws[0], conts)
        sync()
        t0, new = time.perf_counter(), 0
        for kw in kws:
            out = model.generate(**kw, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                 do_sample=False, eos_token_id=eos, pad_token_id=eos)
            new += out.shape[1] - kw["input_ids"].shape[1]
        sync()
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lls = [score_from_prefix(model, kw, conts) for kw in kws]
        sync()
        ll_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        naive = [score_naive(model, kw, conts) for kw in kws]
        sync()
        naive_s = time.perf_counter() - t0
    worst = max(abs(a[0] - b[0]) for x, y in zip(lls, naive, strict=True) for a, b in zip(x, y, strict=True))
    print(f"generation: {args.clips} clips x {args.new_tokens} new tokens in {gen_s:.2f} s = "
          f"{new / gen_s:.1f} new tokens/s, {args.clips / gen_s:.2f} clips/s")
    print(f"log-likelihood (prefix-cached, 4 options): {args.clips / ll_s:.2f} questions/s "
          f"({ll_s / args.clips * 1000:.0f} ms/question)")
    print(f"log-likelihood (naive, 4 full forwards): {args.clips / naive_s:.2f} questions/s; "
          f"prefix speed-up {naive_s / ll_s:.2f}x; max |prefix - naive| = {worst:.3g} ({args.dtype})")
    if cuda:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    print("gpu_check: ok")


if __name__ == "__main__":
    main()
