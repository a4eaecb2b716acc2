"""Media stage: decode clips with PyAV (decode), cache decoded media on disk (cache), describe the
sampling (spec), and write synthetic test media (synth)."""
