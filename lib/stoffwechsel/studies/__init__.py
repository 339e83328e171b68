"""Studies that measure the system on worlds planted with the simulator (not pipeline code).

:mod:`.backtest` checks the delay-aware estimates against outcomes that arrived later;
:mod:`.power_study` measures what the monitoring finds against an oracle that knows the planted
shift; :mod:`.machine_settings` encodes under other machines' instruction sets and counts flips.
The pipeline's own modules never import this package.
"""
