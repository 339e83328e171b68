"""The monitoring website (the ``site`` stage): build, render and check the dashboard.

:mod:`.build` chooses the renderer (``quarto render`` where Quarto is installed, else the
pure-Python renderer of :mod:`.project`, :mod:`.markdown`, :mod:`.render` and :mod:`.page`) and
writes the manifest; :mod:`.postrender` runs after ``quarto render``; :mod:`.pages` and
:mod:`.alert_blocks` are what the page notebooks call; :mod:`.output` how they show HTML;
:mod:`.html_safety` escapes what the data holds; :mod:`.checks` and :mod:`.browser` look at the
pages in headless Chromium; :mod:`.scan` finds raw metric names and customer ids on them.
Imports ``monitoring``, ``data`` and the ground floor; ``monitoring`` never imports from here.
"""
