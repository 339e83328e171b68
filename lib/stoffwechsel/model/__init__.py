"""Candidates, rankers and their evaluation (the ``train`` stage).

:mod:`.modeling` builds candidates and training sets from the feature store, trains the
rankers and states the claim; :mod:`.evaluation` holds the ranking metrics and the paired
bootstrap; :mod:`.tracking` logs runs and models to MLflow; :mod:`.stability` re-trains a few
variants to show how stable the claim is. Imports ``features``, ``data`` and the ground floor.
"""
