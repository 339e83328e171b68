"""Stoffwechsel recommendation feature pipeline: simulated materials, data contract,
feature store, embeddings, offline evaluation and production monitoring."""

__version__ = "0.1.0"
