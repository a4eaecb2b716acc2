"""Runs the builder stages in order, each reading the previous stage's jsonl (see the package doc)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.benchmarks.emorealm import DEFAULTS
from emorealm.builder import STAGES
from emorealm.builder.backends import PROMPTS, PROMPTS_VERSION, redact
from emorealm.builder.captions import run_captions
from emorealm.builder.common import StageReport, read_jsonl, read_manifest, sha256_file, write_jsonl
from emorealm.builder.cues import run_cues
from emorealm.builder.questions import run_questions
from emorealm.builder.review import export_review, import_review
from emorealm.builder.verify import AgreementRule, run_verification
from emorealm.builder.write import write_benchmark, write_provenance
from emorealm.errors import ConfigError, DataError

FILES = {"captions": "captions.jsonl", "cues": "cues.jsonl", "verification": "verification.jsonl",
         "questions": "questions.jsonl"}


@dataclass
class BuildConfig:
    clips: Path
    output: Path
    captioner: Any
    generator: Any
    stages: tuple[str, ...] = STAGES
    seed: int = 0
    rule: AgreementRule = field(default_factory=AgreementRule)
    caption_files: dict[str, Path] = field(default_factory=dict)
    import_review: Path | None = None
    accept_unreviewed: bool = False
    force: bool = False
    benchmark_file: str = DEFAULTS["benchmark_file"]


@dataclass
class BuildResult:
    reports: dict[str, StageReport]
    benchmark: Path | None
    review_csv: Path | None
    message: str


def run_build(cfg: BuildConfig) -> BuildResult:
    """Run the selected stages; a stage whose output exists is skipped unless ``force``."""
    bad = [s for s in cfg.stages if s not in STAGES]
    if bad:
        raise ConfigError(f"unknown stage(s) {bad}; stages are {', '.join(STAGES)}")
    build = cfg.output / "build"
    reports: dict[str, StageReport] = {}
    manifest_rep = StageReport("manifest")
    clips = read_manifest(cfg.clips, manifest_rep)
    reports["manifest"] = manifest_rep

    def stage(name: str, fn) -> list[dict]:
        path, rep_path = build / FILES[name], build / f"{name}.report.json"
        if name not in cfg.stages or (path.is_file() and not cfg.force):
            rows = read_jsonl(path, f"{name} stage output")
            rep = StageReport(name, skipped=True)
            if rep_path.is_file():
                saved = json.loads(rep_path.read_text())
                rep.counts.update(saved["counts"])
                rep.dropped.update(saved["dropped"])
            reports[name] = rep
            return rows
        rep = StageReport(name)
        rows = fn(rep)
        write_jsonl(path, rows)
        rep_path.write_text(json.dumps(rep.as_dict(), sort_keys=True) + "\n")
        reports[name] = rep
        if not rows:
            raise DataError(f"stage {name} produced nothing: {dict(rep.dropped)}")
        return rows

    def later(name: str) -> bool:  # is any selected stage after ``name``?
        return any(STAGES.index(s) > STAGES.index(name) for s in cfg.stages)

    done = BuildResult(reports, None, None, f"stages done: {', '.join(cfg.stages)}")
    caps = stage("captions", lambda r: run_captions(clips, cfg.captioner, r, cfg.caption_files))
    if not later("captions"):
        return done
    cues = stage("cues", lambda r: run_cues(clips, caps, cfg.generator, r))
    if not later("cues"):
        return done
    ver = stage("verification", lambda r: run_verification(clips, cues, cfg.generator, r, rule=cfg.rule,
                                                           seed=cfg.seed))
    if not later("verification"):
        return done
    qs = stage("questions", lambda r: run_questions(clips, ver, cfg.generator, r, seed=cfg.seed))
    review_dir = cfg.output / "review"
    csv_path = review_dir / "review.csv"
    if "review" in cfg.stages and (cfg.force or not csv_path.is_file()):
        export_review(qs, clips, review_dir)
    rows = qs
    rev = StageReport("review")
    reports["review"] = rev
    if cfg.import_review is not None:
        rows = import_review(qs, cfg.import_review, rev)
        write_jsonl(build / "reviewed.jsonl", rows)
        if not rows:
            raise DataError(f"no question was accepted in {cfg.import_review}: {dict(rev.dropped)}")
    elif "write" in cfg.stages and not cfg.accept_unreviewed:
        return BuildResult(reports, None, csv_path, f"review exported: {csv_path} and {review_dir / 'review.html'}; "
                           "fill in verdict and reviewer, then rerun with --import-review <file>")
    if "write" not in cfg.stages:
        return BuildResult(reports, None, csv_path, f"stages done: {', '.join(cfg.stages)}")
    wrep = StageReport("write")
    reports["write"] = wrep
    bench = write_benchmark(rows, clips, cfg.output, wrep, cfg.benchmark_file)
    write_provenance(bench, _provenance(cfg, reports))
    return BuildResult(reports, bench, csv_path, f"{wrep.counts['questions']} questions -> {bench}")


def _provenance(cfg: BuildConfig, reports: dict[str, StageReport]) -> dict[str, Any]:
    from emorealm import __version__

    def model(b) -> dict[str, Any]:
        return {"backend": b.name, "args": redact(getattr(b, "args", {}))}

    return {
        "emorealm_version": __version__,
        "captioner": model(cfg.captioner) if not cfg.caption_files else {"files": {
            m: sha256_file(p) for m, p in sorted(cfg.caption_files.items())}, **model(cfg.captioner)},
        "generator": model(cfg.generator),
        "prompts": PROMPTS, "prompts_version": PROMPTS_VERSION,
        "seed": cfg.seed, "agreement_rule": {"k": cfg.rule.k, "n": cfg.rule.n},
        "manifest_sha256": sha256_file(cfg.clips),
        "review": ({"file_sha256": sha256_file(cfg.import_review), "reviewed": True} if cfg.import_review
                   else {"reviewed": False}),
        "stages": {name: rep.as_dict() for name, rep in reports.items()},
    }
