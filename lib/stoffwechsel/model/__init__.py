"""Candidates, rankers and their evaluation (the ``train`` stage).

:mod:`.candidates` builds each customer's candidates at a moment; :mod:`.ranker` builds the
training sets from the feature store and trains the rankers; :mod:`.assessment` evaluates them
against the baselines at the cutoff and states the claim; :mod:`.evaluation` holds the ranking
metrics and the paired bootstrap; :mod:`.tracking` logs runs and models to MLflow;
:mod:`.stability` re-trains a few variants to show how stable the claim is. Imports
``features``, ``data`` and the ground floor.
"""
