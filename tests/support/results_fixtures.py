"""Results fixtures in lm-eval 0.4.13's exact on-disk layout (their fidelity: tests/leaderboard/test_leaderboard_fixtures.py).

``make_run`` writes ``<out>/<model>/results_<ts>.json`` and ``samples_<task>_<ts>.jsonl`` the way
``EvaluationTracker.save_results_aggregated`` / ``save_results_samples`` do, with aggregates computed
by lm-eval's own functions (``mean``, ``mean_stderr``, ``unweighted_mean_stderr``) and sklearn
(``balanced_accuracy_score`` for UAR, ``f1_score`` for macro-F1), and the ``emorealm`` block of
docs/contracts.md §6. Predictions are drawn from a seeded RNG: these files exercise the
leaderboard's validation; they are never presented as a model's output.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import warnings
from pathlib import Path
from typing import Any

from lm_eval.api.metrics import mean, mean_stderr, unweighted_mean_stderr
from lm_eval.utils import hash_string
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

EMOREALM_TASKS = ["reasoning_basic_audio", "reasoning_basic_video", "modality_agreement",
                  "reasoning_stress_audio", "reasoning_stress_video"]
LL_TASKS = [f"{t}_ll" for t in EMOREALM_TASKS]
YES_NO = {"modality_agreement", "reasoning_stress_audio", "reasoning_stress_video"}
CLASSES = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
EMER_SCORES = ["cue_overlap", "emotion_consistency", "emotion_cue_association", "hallucinated_cues"]
FP = {t: "sha256:" + hash_string(f"data-{t.removesuffix('_ll')}")
      for t in [*EMOREALM_TASKS, *LL_TASKS, "dfew", "ravdess", "dfew_ll", "ravdess_ll", "emer"]}
CLS_ITEMS = ("acc", "war", "uar", "macro_f1", "uar_strict", "war_strict", "macro_f1_strict")
GROUPS = {"emorealm": EMOREALM_TASKS, "emorealm_ll": LL_TASKS}


def _doc(task: str, i: int, answer: str, choices: list[str]) -> dict[str, Any]:
    return {"id": f"{task}-{i}", "clip_id": f"clip{i // 2:04d}", "_task": task,
            "media": {"video": f"/data/dfew/clips/{i:05d}.mp4", "audio": None, "audio_source": "video"},
            "question": f"Question {i} about the clip?", "choices": choices, "answer": answer}


def _sample(task: str, i: int, doc: dict[str, Any], prompt: str, resp: str, metrics: dict[str, Any]) -> dict[str, Any]:
    target = doc["answer"]
    rec = {
        "doc_id": i, "doc": doc, "target": str(target),
        "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["\n"], "max_gen_toks": 5, "do_sample": False}}},
        "resps": [[resp]], "filtered_resps": [resp], "filter": "none", "metrics": list(metrics),
        "doc_hash": hash_string(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": hash_string(prompt), "target_hash": hash_string(str(target)),
    }
    rec.update(metrics)
    return rec


def _task_samples(task: str, n: int, rng: random.Random, skill: float) -> list[dict[str, Any]]:
    out = []
    ll, task = task.endswith("_ll"), task.removesuffix("_ll")
    for i in range(n):
        ok = rng.random() < skill
        invalid = not ok and rng.random() < 0.2
        if task in YES_NO:
            gold = "A" if i % 2 == 0 else "B"
            pred = gold if ok else (None if invalid else ("B" if gold == "A" else "A"))
            # the encoding of emorealm/benchmarks/emorealm.py: None = not applicable to this sample
            m: dict[str, Any] = {"acc": float(ok), "acc_strict": float(ok and rng.random() < 0.9),
                                 "invalid_rate": float(invalid), "n_errors": 0.0,
                                 "acc_yes": float(ok) if gold == "A" else None,
                                 "acc_no": float(ok) if gold == "B" else None,
                                 "f1_yes_no": [gold == "A", float(ok)],
                                 "yes_rate": None if pred is None else float(pred == "A")}
            doc = _doc(task, i, gold, ["(A) Yes", "(B) No"])
        elif task.startswith("reasoning_basic"):
            gold = "ABCD"[i % 4]
            pred = gold if ok else (None if invalid else "ABCD"[(i + 1) % 4])
            m = {"acc": int(ok), "acc_strict": int(ok), "invalid_rate": int(invalid), "n_errors": int(invalid and i % 5 == 0)}
            doc = _doc(task, i, gold, ["(A) a", "(B) b", "(C) c", "(D) d"])
        elif task in ("dfew", "ravdess"):
            gold = CLASSES[i % 7]
            pred = gold if ok else (None if invalid else CLASSES[(i + 3) % 7])
            # the encoding of emorealm/benchmarks/recognition.py: [gold, released label, dropped] / [gold, label]
            released = [gold, pred, False]
            if ll:
                m = {k: [gold, pred] for k in ("acc", "war", "uar", "macro_f1")}
                m["n_errors"] = 0.0
            else:
                m = {"acc": released, "war": released, "uar": released, "macro_f1": released,
                     "uar_strict": [gold, pred], "war_strict": [gold, pred], "macro_f1_strict": [gold, pred],
                     "invalid_rate": float(invalid), "n_errors": 0.0}
            doc = _doc(task, i, gold, [])
        else:  # emer (judge scores present: a run with a judge)
            gold, pred = "happy", "happy"
            m = {s: rng.randint(1, 10) for s in EMER_SCORES}
            p_, r_ = round(rng.random(), 3), round(rng.random(), 3)
            m.update({"emotion_precision": p_, "emotion_recall": r_, "emotion_f1": [p_, r_], "judge_skipped": 0.0,
                      "n_errors": 0})
            doc = _doc(task, i, gold, [])
        if ll and task not in ("dfew", "ravdess"):  # process_results_ll reports acc, n_errors and the yes/no metrics only
            m = {k: v for k, v in m.items() if k not in ("acc_strict", "invalid_rate")}
        if ll:
            doc["_task"] = task + "_ll"
        out.append(_sample(task, i, doc, doc["question"] + " " + " ".join(doc["choices"]), str(pred), m))
    return out


def _aggregate(task: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    block: dict[str, Any] = {"name": task, "alias": task, "sample_len": len(samples)}
    names = [k for k in samples[0]["metrics"]]
    names += [k for s in samples for k in s["metrics"] if k not in names]
    for m in dict.fromkeys(names):
        vals = [s[m] for s in samples if m in s]
        if m in CLS_ITEMS and isinstance(vals[0], list):
            gold = [v[0] for v in vals]
            pred = [str(v[1]) if v[1] is not None else "<invalid>" for v in vals]
            if m in ("acc", "war", "war_strict"):
                value = accuracy_score(gold, pred)
            elif m in ("uar", "uar_strict"):
                with warnings.catch_warnings():  # invalid predictions are classes absent from the gold labels
                    warnings.simplefilter("ignore", UserWarning)
                    value = balanced_accuracy_score(gold, pred)
            else:  # F1 over the classes seen in gold or valid predictions (emorealm.scoring.classification)
                labels = sorted(set(gold) | {p for p in pred if p != "<invalid>"})
                value = f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
            block[f"{m},none"], block[f"{m}_stderr,none"] = float(value), "N/A"
        elif m == "emotion_f1":  # harmonic mean of the mean precision and the mean recall
            a, b = mean([v[0] for v in vals]), mean([v[1] for v in vals])
            block[f"{m},none"], block[f"{m}_stderr,none"] = (0.0 if a + b == 0 else 2 * a * b / (a + b)), "N/A"
        elif m == "f1_yes_no":
            a = mean([c for g, c in vals if g])
            b = mean([c for g, c in vals if not g])
            block[f"{m},none"], block[f"{m}_stderr,none"] = (0.0 if a + b == 0 else 2 * a * b / (a + b)), "N/A"
        elif m in ("acc_yes", "acc_no", "yes_rate"):
            defined = [v for v in vals if v is not None]
            block[f"{m},none"], block[f"{m}_stderr,none"] = mean(defined), "N/A"
        elif m == "n_errors":
            block[f"{m},none"], block[f"{m}_stderr,none"] = sum(vals), "N/A"
        else:
            block[f"{m},none"], block[f"{m}_stderr,none"] = mean(vals), mean_stderr(vals)
    return block


def make_run(
    out: Path,
    *,
    model: str = "tiny-omni",
    model_sha: str | None = None,
    tasks: list[str] | None = None,
    n: int = 12,
    original: int | None = None,
    seed: int = 0,
    smoke: bool = True,
    skill: float = 0.6,
    version: float = 1.0,
    timestamp: str | None = None,
) -> Path:
    """Write one run's results + samples files; returns the results file path."""
    tasks = tasks or [*EMOREALM_TASKS, "dfew", "ravdess", "emer"]
    rng = random.Random(seed)
    folder = out / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    ts = timestamp or dt.datetime(2026, 1, 2, 3, 4, 5, seed % 1000000).isoformat().replace(":", "-")
    results: dict[str, Any] = {}
    samples: dict[str, list] = {}
    for t in tasks:
        samples[t] = _task_samples(t, n, rng, skill)
        results[t] = _aggregate(t, samples[t])
    groups: dict[str, Any] = {}
    subtasks: dict[str, list[str]] = {}  # 0.4.13 lists groups only
    for g, members in GROUPS.items():
        if not all(t in tasks for t in members):
            continue
        accs = [results[t]["acc,none"] for t in members]
        groups[g] = {"alias": g, "name": g, "sample_len": n * 5, "acc,none": sum(accs) / 5,
                     "acc_stderr,none": unweighted_mean_stderr([results[t]["acc_stderr,none"] for t in members]),
                     "sample_count": {"acc,none": n * 5}}
        results[g] = dict(groups[g])
        subtasks[g] = list(members)
    cfg = {t: {"task": t, "tag": None, "dataset_path": "json", "test_split": "test", "output_type": "generate_until",
               "doc_to_text": "<function doc_to_text>", "doc_to_target": "answer", "metric_list": [],
               "generation_kwargs": {"until": ["\n"], "max_gen_toks": 5, "do_sample": False},
               "repeats": 1, "num_fewshot": 0, "metadata": {"version": version}} for t in tasks}
    sha = model_sha or hash_string(f"weights-{model}-{seed}")
    doc = {
        "results": results,
        **({"groups": groups} if groups else {}),
        "group_subtasks": subtasks,
        "configs": dict(sorted(cfg.items())),
        "versions": {**{t: version for t in sorted(tasks)}, **{g: "1.0" for g in groups}},
        "n-shot": {t: 0 for t in tasks},
        "higher_is_better": {t: {m.split(",")[0]: True for m in results[t] if "," in m} for t in tasks},
        "n-samples": {t: {"original": original or n, "effective": n} for t in tasks},
        "config": {"model": "emorealm-hf", "model_args": f"pretrained=/cache/models/{model}", "model_num_parameters": 1234567,
                   "batch_size": 1, "batch_sizes": [], "device": "cpu", "use_cache": None,
                   "limit": n if original else None, "bootstrap_iters": 100000, "gen_kwargs": None,
                   "random_seed": 0, "numpy_seed": 1234, "torch_seed": 1234, "fewshot_seed": 1234},
        "git_hash": None, "date": 1767322800.0 + seed, "pretty_env_info": "...",
        "transformers_version": "5.24.0", "lm_eval_version": "0.4.13", "upper_git_hash": None,
        "task_hashes": {t: hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in samples[t]))
                        for t in tasks},
        "model_source": "emorealm-hf", "model_name": f"/cache/models/{model}", "model_name_sanitized": model.replace("/", "__"),
        "system_instruction": None, "system_instruction_sha": None, "fewshot_as_multiturn": None,
        "chat_template": None, "chat_template_sha": None, "start_time": 1.0, "end_time": 2.0,
        "total_evaluation_time_seconds": "1.0",
        "emorealm": {"harness_version": "0.1.0", "adapter": "hf", "model": f"/cache/models/{model}",
                     "model_sha256": sha, "smoke_test": smoke,
                     "data_fingerprint": {t: FP[t] for t in tasks},
                     "protocol": {"gen_kwargs": {"max_new_tokens": 5}, "decoding": "greedy", "seed": 0},
                     "media": {"fps": 2.0, "max_frames": 64, "sample_rate": 16000, "audio_in_video": True},
                     "packages": {"torch": "2.14.1", "transformers": "5.24.0", "lm_eval": "0.4.13"},
                     "n_errors": {t: results[t]["n_errors,none"] for t in tasks}},
    }
    path = folder / f"results_{ts}.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    for t in tasks:
        with open(folder / f"samples_{t}_{ts}.jsonl", "w", encoding="utf-8") as f:
            for s in samples[t]:
                f.write(json.dumps(s, ensure_ascii=False) + "\n")
    return path
