"""Build an EmoReAlM-style benchmark from labelled clips (the paper's creation pipeline, Fig. 3).

Stages, each writing a jsonl the next reads (under ``DATA_ROOT/build/``), each skipped when its file
exists: ``captions`` (audio-only and video-only captions) → ``cues`` (cue phrases per caption) →
``verification`` (text-only emotion prediction per cue; relevant / irrelevant / absent cues) →
``questions`` (MCQA rows of the five task keys) → ``review`` (CSV + HTML for human verification,
``--import-review`` applies verdicts) → ``write`` (``EmoReAlM/emorealm_v1.json`` + clips + provenance).
See docs/benchmark-builder.md.
"""

STAGES = ("captions", "cues", "verification", "questions", "review", "write")
