"""Evaluation stage: drive a run and write its results files (the state one run owns: emorealm.run_state)."""
