"""Loaders of the classification and description benchmarks in their distributed layouts.

Each loader turns a folder on disk into emorealm docs (see docs/contracts.md §3) and a list of
problems; it never guesses. Rows that cannot be scored still become docs carrying ``_load_error``
so the run counts them (``n_errors``) instead of losing them.
"""
