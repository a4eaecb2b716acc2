"""Evaluation stage: drive a run, write its results files, and hold the state one run owns."""
