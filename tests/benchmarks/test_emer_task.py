"""EMER scoring end to end: loader → process_results → aggregation, with the judge over real HTTP
(a local OpenAI-compatible server started here answering well, with nonsense, and slowly)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from emorealm.benchmarks.emer import agg_emotion_f1, emotion_overlap, judge_settings, load_emer, process_results
from emorealm.errors import ConfigError, SampleError, error_response
from emorealm.sample_data.other_benchmarks import EMER_ROWS, write_emer
from emorealm.scoring.aggregations import mean_defined, total

ROOT = Path(__file__).resolve().parents[2]
AVERE_REPLY = {"cue_overlap": 6, "emotion_consistency": 8, "emotion_cue_association": 7, "hallucinated_cues": 9}
ELL_REPLY = {"clue_overlap": 5, "label_overlap": 4}


class JudgeServer:
    """Answers by the clip's reference text: sample 1 well, sample 2 with nonsense, sample 3 slowly
    the first time (then well)."""

    def __init__(self, slow_s: float = 1.0):
        self.calls: list[str] = []
        self.slow_done: set[str] = set()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][0]["content"]
                rubric = "ell" if "label_overlap" in prompt else "avere"
                ref = next(i for i, (_, reason, _) in enumerate(EMER_ROWS) if reason in prompt)
                outer.calls.append(f"{ref}:{rubric}")
                reply = json.dumps(ELL_REPLY if rubric == "ell" else AVERE_REPLY)
                if ref == 1:
                    reply = "The prediction is fine I guess."
                if ref == 2 and rubric not in outer.slow_done:
                    outer.slow_done.add(rubric)
                    time.sleep(slow_s)
                data = json.dumps({"choices": [{"message": {"content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def judge_server(monkeypatch):
    s = JudgeServer()
    monkeypatch.setenv("EMOREALM_JUDGE_BASE_URL", s.url)
    monkeypatch.setenv("EMOREALM_JUDGE_API_KEY", "sk-local")
    yield s
    s.close()


def _emer_root(tmp_path: Path) -> Path:
    base = tmp_path / "EMER"
    base.mkdir(parents=True)
    (base / "track3_train_ovmerd.csv").write_text("name,reason\n" + "".join(f'{n},"{r}"\n' for n, r, _ in EMER_ROWS))
    (base / "track2_train_ovmerd.csv").write_text("name,openset\n" + "".join(f'{n},"{o}"\n' for n, _, o in EMER_ROWS))
    for n, _, _ in EMER_ROWS:
        (base / "video").mkdir(exist_ok=True)
        (base / "video" / f"{n}.mp4").write_bytes(b"")
    return tmp_path


def _aggregate(rows):
    keys = {k for r in rows for k in r}
    agg = {}
    for k in keys:
        vals = [r[k] for r in rows if k in r]
        agg[k] = agg_emotion_f1(vals) if k == "emotion_f1" else total(vals) if k in {"n_errors", "judge_failures", "n_no_reference"} else mean_defined(vals)
    return agg


def test_yaml_lists_every_metric():
    cfg = yaml.safe_load((ROOT / "tasks" / "emer" / "emer.yaml").read_text().replace("!function", ""))
    listed = {m["metric"] for m in cfg["metric_list"]}
    doc = {"id": "x", "answer": "ref", "reference_emotions": ["happy"], "_judge": judge_settings({})}
    assert set(process_results(doc, ["happy"])) <= listed


def test_emotion_overlap():
    p, r, pred, ref = emotion_overlap("She is happy and excited, not sad.", ["happy", "relaxed"])
    assert (pred, ref) == (["happiness", "excitement"], ["happiness", "calm"])
    assert (p, r) == (0.5, 0.5)
    assert emotion_overlap("Nothing to see.", ["sad"])[:2] == (0.0, 0.0)


def test_judge_free_only(tmp_path):
    docs = load_emer(data_root=_emer_root(tmp_path)).docs
    settings = judge_settings({})
    assert settings["spec"] == "none"
    preds = ["She looks happy and excited.", "He seems angry.", "Calm and neutral."]
    rows = []
    for d, pred in zip(docs, preds, strict=True):
        d["_judge"] = settings
        rows.append(process_results(d, [pred]))
    agg = _aggregate(rows)
    # P: 2/2, 1/1, 0/2 ; R: 2/2, 1/2, 0/2
    assert agg["emotion_precision"] == pytest.approx(2 / 3)
    assert agg["emotion_recall"] == pytest.approx(0.5)
    assert agg["emotion_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert agg["judge_skipped"] == 1.0 and "cue_overlap" not in agg


def test_judge_over_http_normal_malformed_slow(tmp_path, judge_server):
    docs = load_emer(data_root=_emer_root(tmp_path)).docs
    settings = judge_settings({"judge": "openai:local-judge", "judge_timeout": 0.4, "judge_retries": 2})
    rows = []
    for d in docs:
        d["_judge"] = settings
        rows.append(process_results(d, ["She looks happy."]))
    agg = _aggregate(rows)
    # sample 1 (index 0) scored, sample 2 nonsense twice per rubric, sample 3 timed out once then scored
    assert agg["cue_overlap"] == 6 and agg["hallucinated_cues"] == 9 and agg["clue_overlap"] == 5
    assert rows[1]["cue_overlap"] is None and rows[1]["judge_failures"] == 2
    assert agg["judge_failures"] == 2 and agg["judge_skipped"] == 0
    assert docs[1]["_judge_outcomes"]["avere"]["failure"] == "unparseable"
    assert docs[2]["_judge_outcomes"]["avere"]["attempts"] == 2
    assert sorted(judge_server.calls).count("1:avere") == 2


def test_failed_sample_is_not_judged(tmp_path, judge_server):
    docs = load_emer(data_root=_emer_root(tmp_path)).docs
    d = docs[0]
    d["_judge"] = judge_settings({"judge": "openai:local-judge"})
    out = process_results(d, [error_response(SampleError("MediaError", "cannot decode"))])
    assert out["n_errors"] == 1 and out["cue_overlap"] is None and out["emotion_precision"] == 0.0
    assert judge_server.calls == []


def test_bad_judge_options():
    with pytest.raises(ConfigError, match="rubric"):
        judge_settings({"judge_rubrics": "vibes"})
    with pytest.raises(ConfigError, match="judge_timeout"):
        judge_settings({"judge_timeout": "soon"})


@pytest.mark.slow
def test_cli_run_with_judge(tmp_path, judge_server, monkeypatch, capsys):
    """tiny-omni generates, the judge scores over HTTP, the results file records it all."""
    from emorealm.cli import main

    write_emer(tmp_path)
    code = main(["run", "--model", "tiny-omni", "--tasks", "emer", "--data-root", str(tmp_path),
                 "--task-args", "judge=openai:local-judge,judge_timeout=0.4,judge_retries=2",
                 "--gen-kwargs", "max_gen_toks=8", "--output", str(tmp_path / "out")])
    assert code == 0
    res = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    emer = res["results"]["emer"]
    assert emer["judge_failures,none"] == 2 and emer["cue_overlap,none"] == 6
    judge = res["emorealm"]["judge"]
    assert judge["skipped"] is False and judge["rubrics"]["avere"]["version"] == "avere-v1"
    assert "sk-local" not in json.dumps(res)
    assert "emer" in capsys.readouterr().out
