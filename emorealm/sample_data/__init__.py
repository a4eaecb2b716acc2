"""Built-in sample data: miniature benchmarks in their released layouts, written from synthetic media."""
