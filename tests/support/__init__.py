"""Helpers shared by the test packages (one place: runs, CLI, media corpus, training launches, leaderboard)."""
