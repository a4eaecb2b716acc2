"""Comparison stage: paired comparisons of runs, power and minimum detectable effects, bootstraps."""
