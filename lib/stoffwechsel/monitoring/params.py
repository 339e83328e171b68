"""The monitoring's settings: params.yaml's ``monitor`` section as :class:`MonitorParams`.

Every threshold of the monitoring is a field here, with its one default; params.yaml, the
``06_monitor`` notebook's parameters cell and ``docs/monitoring.md`` are checked against these
defaults by ``tests/test_monitoring_params.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["MonitorParams", "FAMILY_SHARE_PARAMS"]

#: the shares of the false-alarm budget, one per family, in the owner's order of reading
#: (:data:`.alerts.FAMILIES` names the families)
FAMILY_SHARE_PARAMS = ("fdr_share_all", "fdr_share_segments", "fdr_share_columns", "fdr_share_rest")


@dataclass(frozen=True)
class MonitorParams:
    """The ``monitor`` section of params.yaml (flat keys; the notebook's parameters cell)."""

    min_customers: int = 20  # groups with fewer distinct customers in a window are not shown
    reference_weeks: int = 6  # first N Monday-Sunday weeks of the file = usual level
    current_weeks: int = 4  # last N weeks = "now" for the headline and root cause
    fdr: float = 0.05  # false-alarm control (Benjamini-Hochberg) over all comparisons
    # the false-alarm budget ``fdr`` split over four families, in the order the owner reads them (they
    # add up to 1; an empty family's share goes to the next one: :func:`.alerts.family_shares`)
    fdr_share_all: float = 0.35  # (a) all customers, every alert metric
    fdr_share_segments: float = 0.35  # (b) marketing segments on click rate and purchases per 100
    fdr_share_columns: float = 0.2  # (c) the other single customer columns on those two outcomes
    fdr_share_rest: float = 0.1  # (d) crossed groups and the secondary outcomes of every group
    min_relative_effect: float = 0.25  # smallest relative change worth an alert
    scan_min_days_before: int = 14  # a change's onset: at least this many days after the file's first day ...
    scan_min_days_after: int = 3  # ... and at least this many days before its last (the change-point scan)
    scan_power: float = 0.8  # "would show by now": the scan finds a change this size with this probability
    scan_harmful_share: float = 0.75  # share of each test's level for a harmful change (the rest: a change
    # for the better)
    scan_weight_primary: float = 1.75  # false-alarm weight of click rate and purchases per 100 (the other
    # alert metrics share the rest; weights average 1 in each family: weighted Benjamini-Hochberg)
    scan_weight_crossed: float = 0.5  # ... and of crossed groups (segment x age band) against single-column ones
    notify_command: str = ""  # a command run with reports/monitoring/notification.md when a run opens a new
    # incident (mail, chat); empty: nothing leaves the machine
    critical_q: float = 0.01  # critical: q at most this ...
    critical_relative_effect: float = 0.5  # ... and a harmful change at least this large
    interval: float = 0.9  # level of every interval
    new_customer_days: int = 90  # new customer = signed up less than this many days before serving
    draws: int = 1000  # Monte Carlo draws per window for the intervals
    seed: int = 0  # seed of those draws (outputs are deterministic)
    drift_major_psi: float = 0.25  # a mix is a "major shift" at PSI >= this ...
    drift_major_q: float = 0.01  # ... and q <= this
    drift_moderate_psi: float = 0.1  # a "moderate shift" at PSI >= this and q <= fdr
    hint_reused_points: float = 10.0  # the hint names reused product numbers when their share rose by
    hint_reused_factor: float = 1.25  # ... at least this many points and to at least this x its usual level
    hint_cause_p: float = 0.01  # ... and a named cause's move (reused share, step at a model update) has
    # a chance of a fluke of at most this
    first_screen_alerts: int = 6  # alerts on the dashboard's first screen (the rest: customer groups page)
    inject_enabled: bool = False  # simulated shift on top of the materials (verification)
    inject_column: str = "segment"
    inject_value: str = "Bargain Hunters"
    inject_start: str = "2026-02-16"
    inject_effect: float = -0.8
    inject_seed: int = 7

    #: notebook parameters that are not monitoring parameters
    NOT_MONITORING = ("materials_dir",)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names, in params.yaml's order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, values: dict | None) -> MonitorParams:
        values = dict(values or {})
        known = set(cls.names())
        unknown = set(values) - known - set(cls.NOT_MONITORING)
        if unknown:
            raise KeyError(f"unknown monitoring parameter(s) {sorted(unknown)} (known: {sorted(known)})")
        params = cls(**{k: v for k, v in values.items() if k in known})
        if not 0 < params.interval < 1 or not 0 < params.fdr < 1:
            raise ValueError("interval and fdr must lie strictly between 0 and 1")
        shares = {k: getattr(params, k) for k in FAMILY_SHARE_PARAMS}
        if any(not 0 <= v <= 1 for v in shares.values()) or abs(sum(shares.values()) - 1) > 1e-9:
            raise ValueError(f"the false-alarm shares {shares} must lie in [0, 1] and add up to 1")
        if params.reference_weeks < 1 or params.current_weeks < 1 or params.draws < 100:
            raise ValueError("reference_weeks and current_weeks must be >= 1, draws >= 100")
        if not 0 < params.scan_harmful_share < 1:
            raise ValueError(f"scan_harmful_share must lie strictly between 0 and 1, got {params.scan_harmful_share}")
        if params.scan_weight_primary <= 0 or params.scan_weight_crossed <= 0:
            raise ValueError("scan_weight_primary and scan_weight_crossed must be > 0")
        if params.scan_min_days_before < 1 or params.scan_min_days_after < 1 or not 0 < params.scan_power < 1:
            raise ValueError("scan_min_days_before and scan_min_days_after must be >= 1, scan_power in (0, 1)")
        if params.first_screen_alerts < 1:
            raise ValueError(f"first_screen_alerts must be >= 1, got {params.first_screen_alerts}")
        return params

    @classmethod
    def from_namespace(cls, namespace: dict) -> MonitorParams:
        """The parameters from a namespace holding one variable per parameter (the notebook's
        parameters cell after papermill's overrides: ``MonitorParams.from_namespace(globals())``)."""
        missing = [name for name in cls.names() if name not in namespace]
        if missing:
            raise KeyError(f"monitoring parameter(s) {missing} not set (the notebook's parameters cell)")
        return cls.from_dict({name: namespace[name] for name in cls.names()})

    def as_dict(self) -> dict:
        return asdict(self)
