"""The emorealm leaderboard: validate results, merge them into a leaderboard JSON, render it.

Modules: ``schema`` (JSON schema, known-task table), ``recompute`` (metrics from samples logs),
``entry`` (results file → entry), ``signing`` (Ed25519), ``store`` (locked atomic file updates),
``submit`` (submission rules), ``views`` (ranking), ``render`` (rich table, static HTML).
"""
