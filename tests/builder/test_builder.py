"""build-benchmark with the template backend: every stage, review round trip, determinism, bad input,
and the result evaluated by ``emorealm run --tasks emorealm``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from emorealm.benchmarks.emorealm import TASK_KEYS, load_docs
from emorealm.builder.questions import validate_generated
from emorealm.cli import main

EMOS = ["happiness", "sadness", "anger", "surprise", "fear", "disgust", "neutral", "happiness"]


def _manifest(folder: Path, sample_root: Path, n: int = 8, drop_label: bool = False) -> Path:
    rows = []
    for i in range(n):
        r = {"id": f"clip{i + 1}", "video": str(sample_root / f"dfew/dfew_original_clips_24fps/part_1/{i + 1:05d}.mp4"),
             "emotion": EMOS[i]}
        if i % 2 == 0:
            r["audio"] = str(sample_root / f"dfew/dfew_original_clips_16khz/part_1/{i + 1:05d}.wav")
        rows.append(r)
    if drop_label:
        rows.append({"id": "nolabel", "video": rows[0]["video"]})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clips.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder / "clips.jsonl"


def _build(man: Path, out: Path, *extra: str) -> int:
    return main(["build-benchmark", "--clips", str(man), "--output", str(out), "--backend", "template",
                 "--seed", "7", *extra])


@pytest.fixture(scope="module")
def built(tmp_path_factory, sample_root):
    base = tmp_path_factory.mktemp("build")
    man = _manifest(base, sample_root, drop_label=True)
    assert _build(man, base / "root") == 0
    return man, base / "root"


def test_stages_write_verified_cues_and_balanced_questions(built):
    man, root = built
    assert not (root / "EmoReAlM").exists()  # not reviewed yet: nothing written
    rep = json.loads((root / "build" / "verification.report.json").read_text())
    ver = [json.loads(x) for x in (root / "build" / "verification.jsonl").read_text().splitlines()]
    assert len(ver) == 16  # 8 labelled clips x 2 modalities; the unlabelled row is counted in the manifest
    caps = {(r["clip"], r["modality"]): r["caption"] for r in ver}
    for r in ver:
        for c in r["cues"]:
            assert len(c["votes"]) == 1 and c["relevant"] == (c["votes"][0] == r["emotion"])
        own = (caps[(r["clip"], "audio")] + caps[(r["clip"], "video")]).lower()
        for a in r["absent"]:
            assert a["cue"].lower() not in own and a["from"] != r["clip"]
            src = next(o for o in ver if o["clip"] == a["from"] and o["modality"] == r["modality"])
            assert any(c["cue"] == a["cue"] and c["relevant"] for c in src["cues"])
    assert rep["counts"]["relevant"] == sum(c["relevant"] for r in ver for c in r["cues"])
    qs = [json.loads(x) for x in (root / "build" / "questions.jsonl").read_text().splitlines()]
    assert {q["task"] for q in qs} == set(TASK_KEYS)
    for task in TASK_KEYS:
        answers = Counter(q["answer"] for q in qs if q["task"] == task)
        if task.startswith("reasoning_basic"):
            assert max(answers.values()) - min(answers[x] for x in "ABCD") <= 1
        else:
            assert answers["A"] == answers["B"] > 0  # Yes == No after balancing
    for q in qs:
        texts = [c.split(") ", 1)[1] for c in q["choices"]]
        assert len(set(texts)) == len(texts)
        if q["task"].startswith("reasoning_basic"):
            correct = texts["ABCD".index(q["answer"])]
            assert any(c["relevant"] and c["cue"] in correct for c in q["evidence"]["cues"])
    keys = [(q["task"], q["video"], q["question"], tuple(sorted(q["choices"]))) for q in qs]
    assert len(set(keys)) == len(keys)


def _fill(csv_path: Path, out: Path) -> tuple[Path, dict]:
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    for r in rows:
        r["verdict"], r["reviewer"] = "accept", "ana"
    basic = [r for r in rows if r["task"] == "reasoning_basic_video"]
    basic[0]["verdict"] = "reject"
    basic[1]["question"] = "Which cue shows the person's emotion?"  # a valid edit
    basic[2]["answer"] = "E"  # breaks the schema
    basic[3]["reviewer"] = ""
    stress = [r for r in rows if r["task"] == "reasoning_stress_audio"]
    stress[0]["choice_B"] = "Maybe"  # a Yes/No question may not change its options
    stress[1]["reviewer"] = "ben"
    rows.append({**rows[0], "id": "nope"})
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out, {"edited": basic[1]["id"], "gone": {basic[0]["id"], basic[2]["id"], basic[3]["id"], stress[0]["id"]},
                 "n": len(rows) - 1}


@pytest.mark.slow
def test_review_round_trip_then_emorealm_run(built, tmp_path, tiny_omni_dir):
    man, root = built
    page = (root / "review" / "review.html").read_text()
    srcs = [s.split('"')[0] for s in page.split('<video controls preload="metadata" src="')[1:]]
    qs = [json.loads(x) for x in (root / "build" / "questions.jsonl").read_text().splitlines()]
    assert len(srcs) == len(qs) and all((root / "review" / s).resolve().is_file() for s in srcs)
    verdicts, info = _fill(root / "review" / "review.csv", tmp_path / "verdicts.csv")
    assert _build(man, root, "--import-review", str(verdicts)) == 0
    bench = json.loads((root / "EmoReAlM" / "emorealm_v1.json").read_text())
    assert len(bench) == info["n"] - 4 and all(set(r) == {"id", "video", "task", "question", "choices", "answer"}
                                               for r in bench)
    assert {r["id"] for r in bench}.isdisjoint(info["gone"])
    assert next(r for r in bench if r["id"] == info["edited"])["question"] == "Which cue shows the person's emotion?"
    prov = json.loads((root / "EmoReAlM" / "emorealm_v1.provenance.json").read_text())
    review = prov["stages"]["review"]
    drops = review["dropped"]
    answer_edit = [k for k in drops if k.startswith("edit breaks the schema: row 0")]
    assert len(answer_edit) == 1 and "answer 'E' is not one of the options" in answer_edit[0]
    assert {k: v for k, v in drops.items() if k not in answer_edit} == {
        "unknown id in review": 1, "rejected by reviewer": 1, "accepted without a reviewer name": 1,
        "edit breaks the schema: yes/no options changed": 1}
    assert review["counts"]["reviewer:ben"] == 1 and review["counts"]["edited"] == 1
    assert prov["stages"]["manifest"]["dropped"] == {"clip without emotion label": 1}
    assert prov["review"]["reviewed"] is True and prov["prompts_version"].startswith("sha256:")
    assert prov["stages"]["captions"]["skipped"] is True  # reused, not rebuilt
    for task in TASK_KEYS:  # the loader reads it as the released file, clips inside the root
        docs = load_docs(task, data_root=str(root))
        assert docs and all(Path(d["media"]["video"]).is_file() for d in docs)
    proc = subprocess.run([sys.executable, "-m", "emorealm", "run", "--model", "tiny-omni", "--tasks", "emorealm",
                           "--data-root", str(root), "--output", str(tmp_path / "res"), "--limit", "2"],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(next((tmp_path / "res" / "tiny-omni").glob("results_*.json")).read_text())
    assert set(TASK_KEYS) <= set(res["results"]) and res["emorealm"]["n_errors"] == {k: 0 for k in TASK_KEYS}


def test_same_inputs_give_identical_bytes(sample_root, tmp_path):
    man = _manifest(tmp_path / "m", sample_root, n=5)
    for out in ("a", "b"):
        assert _build(man, tmp_path / out, "--accept-unreviewed") == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert any(f.name == "emorealm_v1.json" for f in files) and any(f.suffix == ".mp4" for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert _build(man, tmp_path / "c", "--accept-unreviewed", "--seed", "8") == 0
    assert (tmp_path / "c" / "build" / "questions.jsonl").read_bytes() != \
        (tmp_path / "a" / "build" / "questions.jsonl").read_bytes()


def test_stage_outputs_are_reused_and_rerun_on_request(sample_root, tmp_path):
    man = _manifest(tmp_path / "m", sample_root, n=4)
    assert _build(man, tmp_path / "o", "--stages", "captions,cues") == 0
    assert not (tmp_path / "o" / "build" / "verification.jsonl").exists()
    caps = tmp_path / "o" / "build" / "captions.jsonl"
    caps.write_text(caps.read_text().replace("; ", "; a brand new cue; ", 1))  # a hand edit must survive
    assert _build(man, tmp_path / "o", "--stages", "verification") == 0
    ver = (tmp_path / "o" / "build" / "verification.jsonl").read_text()
    assert "a brand new cue" not in ver  # cues.jsonl existed: reused, so the edit did not propagate
    assert _build(man, tmp_path / "o", "--stages", "cues,verification", "--force") == 0
    assert "a brand new cue" in (tmp_path / "o" / "build" / "verification.jsonl").read_text()


def test_bad_captions_are_counted_not_written(sample_root, tmp_path):
    man = _manifest(tmp_path / "m", sample_root, n=4)
    same = tmp_path / "a.jsonl"
    same.write_text("".join(json.dumps({"id": f"clip{i + 1}", "caption": "a person talking"}) + "\n" for i in range(4)))
    some = tmp_path / "v.jsonl"
    some.write_text("".join(json.dumps({"id": f"clip{i + 1}", "caption": "" if i == 0 else f"a wide smile; cue {i}"})
                            + "\n" for i in range(4)))
    assert main(["build-benchmark", "--clips", str(man), "--output", str(tmp_path / "o"), "--audio-captions",
                 str(same), "--video-captions", str(some), "--stages", "captions"]) == 0
    rep = json.loads((tmp_path / "o" / "build" / "captions.report.json").read_text())
    assert rep["dropped"] == {"same caption for every clip (audio)": 4, "captioner returned nothing (video)": 1}
    rows = [json.loads(x) for x in (tmp_path / "o" / "build" / "captions.jsonl").read_text().splitlines()]
    assert [(r["clip"], r["modality"]) for r in rows] == [(f"clip{i}", "video") for i in (2, 3, 4)]


@pytest.mark.parametrize("got,why", [
    ({"question": "q", "choices": []}, "question names no option"),
    ({"choices": ["(A) x", "(B) y", "(C) z", "(D) x"], "answer": "A"}, "question repeats an option"),
    ({"choices": ["(A) x", "(B) y", "(C) z", "(D) w"], "answer": "E"}, "answer letter outside the choices"),
    ({"choices": ["(A) x", "(B) y", "(C) z", "(D) w"], "answer": "B"}, "answer letter not on the correct option"),
    ({"choices": ["(A) x", "(B) y", "(C) z", "(D) v"], "answer": "A"}, "options differ from the verified cues"),
    ({"choices": ["(A) w", "(B) y", "(C) x", "(D) z"], "answer": "C"}, None),
])
def test_generated_question_validation(got, why):
    assert validate_generated(got, ["x", "y", "z", "w"], 0) == why
