"""Scoring stage: answer parsing (choice), emotion-word maps, classification metrics, lm-eval
aggregations, and the LLM judge with its rubrics."""
