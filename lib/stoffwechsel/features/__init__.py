"""The feature store and what feeds it (the ``features`` and ``embeddings`` stages).

:mod:`.store` holds versioned feature views and point-in-time retrieval (Feast's vocabulary:
entities, feature views, feature services); :mod:`.feature_repo` defines the views;
:mod:`.tabular` computes the tabular features from the resolved events, :mod:`.embeddings` the
text-embedding features (exact encoding, PCA and clusters fitted on the training window only).
Imports only ``data`` and the ground floor; importing this package loads nothing heavy.
"""
