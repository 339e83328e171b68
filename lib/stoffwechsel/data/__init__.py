"""Reading a client's files and making them trustworthy (the ``profile`` and ``resolve`` stages).

The data contract (:mod:`.contract`) reads the four exports in any supported spreadsheet dialect
(:mod:`.dialect`), quarantines bad rows with the file, row, column and value; :mod:`.keys`
resolves recycled product ids by the composite key (product_id, season); :mod:`.timeline`
derives the calendar every later stage reads; :mod:`.profiling` describes the files;
:mod:`.invoice_import` turns a real invoice export into the four files; :mod:`.io` writes the
deterministic data files that are the contract between stages. Nothing here imports from
``features``, ``model``, ``monitoring`` or ``site``.
"""
