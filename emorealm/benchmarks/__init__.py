"""Benchmarks stage: one module per benchmark (loader, prompt, scoring hooks, its record) and the registry.

Each loader turns a folder on disk into emorealm docs (see docs/contracts.md §3) and a list of
problems; it never guesses. Rows that cannot be scored still become docs carrying ``_load_error``
so the run counts them (``n_errors``) instead of losing them. The core asks
:mod:`emorealm.benchmarks.registry` about tasks and never names a benchmark (docs/architecture.md).
"""
