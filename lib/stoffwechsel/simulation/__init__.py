"""The deterministic simulator of the client's four exports (``stoffwechsel simulate``).

:mod:`.simulate` writes products, customers, transactions and the production recommendation log
with the real data's quirks, drawn by :mod:`.world` (timeline, sizes, shared helpers),
:mod:`.catalogue`, :mod:`.customers`, :mod:`.behaviour`, :mod:`.events` and
:mod:`.recommendations`; :mod:`.export_style` saves them as a shop's systems would (the
``real`` style, spreadsheet dialects). Only the studies, the CLI and the tests import it: the
pipeline never does.
"""
