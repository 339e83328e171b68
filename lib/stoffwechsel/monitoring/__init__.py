"""Production monitoring of the recommendations that knows labels arrive late, per customer group.

Entry points: :func:`.run.run_monitoring` (materials + params -> :class:`.results.MonitoringResult`)
and :func:`.results.write_outputs` (the deterministic files in ``reports/monitoring/``;
:func:`.results.load_outputs` reads them back). The method is written up in ``docs/monitoring.md``; in short:

* **Label maturity.** A click counts within 1 day of serving, a purchase within 14 days, a return
  within 30 days of the purchase (:mod:`stoffwechsel.domain`). At export time a recommendation
  whose window is still open is *pending*: "not yet", never "no". ``observed`` uses only
  recommendations whose window closed.
* **Delay curves** (:mod:`.delays`). From cohorts whose windows closed before export we learn
  F(d), the share of eventual events seen d after the anchor. A window's *completeness* is the
  mean of F(export - anchor) over its recommendations; ``estimate`` = events seen / sum F(age).
* **Intervals** (:mod:`.estimates`). ``estimate_low/high``: where the window's final value will
  land once all outcomes are in; ``rate_low/high``: plausible range of the underlying rate.
* **Alerts** (:mod:`.changepoint`, :mod:`.alerts`). Per customer group and metric a change-point
  scan tries every day as the onset (the days from it on against the days before it, exact tests
  on completeness-adjusted exposure, clustering measured); its false-alarm rate is Siegmund's
  approximation for such a scan; weighted Benjamini-Hochberg in four families splitting ``fdr`` in
  the owner's order of reading (all customers; segments' clicks and purchases; the other single
  columns'; crossings and secondary outcomes); an alert needs q <= ``fdr`` and an estimated change of at least
  ``min_relative_effect``. It reports the onset and the size with their ranges. Messages in
  business words: :mod:`.wording`. Alerts with one cause form **incidents** (:mod:`.incidents`); the
  largest movements that are not alerts form the **watch list** (:mod:`.watch`); a new incident
  writes a **notification** (:mod:`.notify`).
* **Honest silence** (:mod:`.silence`): for each group and metric without an alert, the smallest
  harmful change that would show by now; headline tiles are green only when their range rules out
  a harmful change of ``min_relative_effect``, else "not clear yet".
* **Diagnoses** (:mod:`.diagnosis`): the share of reused product numbers and model updates are
  never alerts; an alert's "check first" names one only where the data shows it in the alert's
  group and time (reused numbers: their share rose from the onset on and those items did worse
  than the others).
* **Drift** (:mod:`.drift`: PSI, Jensen-Shannon, chi-square) of score, item mix and traffic mix;
  **root cause** (:mod:`.decomposition`) by a shift-share split of the headline change into
  customer-mix and within-group parts.

The package, one concern per module (after NannyML's calculator / result / thresholds / plots):
:mod:`.params` (settings and thresholds), :mod:`.prepare`, :mod:`.delays`, :mod:`.windows`
(recommendations aggregated once per grouping into (group, day) cells; every window is a sparse
sum of cells), :mod:`.estimates`, :mod:`.changepoint`, :mod:`.alerts`, :mod:`.incidents`,
:mod:`.silence`, :mod:`.wording`, :mod:`.drift`,
:mod:`.decomposition`, :mod:`.run` (the entry point), :mod:`.results` (result and files),
:mod:`.tables` and :mod:`.plots` (what the dashboard shows). Production monitoring never imports
the simulator; the test-mode shift comes from :mod:`stoffwechsel.monitoring.shift`.

This ``__init__`` imports nothing: callers import each name from its module
(``from stoffwechsel.monitoring.run import run_monitoring``), so ``import stoffwechsel.monitoring``
stays light and every name has one import path.
"""
