"""Every sentence made from the evaluation's numbers is checked against every combination of
outcomes it can face: each metric better, worse or within chance, against tabular-only and
against the strongest baseline (3 metrics: 27 x 27 combinations), in the claim (claims.json,
target 4) and on the Model page."""

from __future__ import annotations

import itertools
import re

import pytest

from stoffwechsel.model import assessment
from stoffwechsel.site import pages

METRICS = ("hit_rate@10", "ndcg@10", "recall@20")
OUTCOMES = ("better", "worse", "chance")
COMBINATIONS = list(itertools.product(OUTCOMES, repeat=len(METRICS)))


def lists(outcome: tuple[str, ...]) -> tuple[list[str], list[str], int]:
    wins = sorted(m for m, o in zip(METRICS, outcome) if o == "better")
    losses = sorted(m for m, o in zip(METRICS, outcome) if o == "worse")
    return wins, losses, len(METRICS) - len(wins) - len(losses)


def vs_best_of(outcome) -> dict:
    return {
        m: {"diff": 0.0, "low": 0.0, "high": 0.0, "combined_better": o == "better", "baseline_better": o == "worse"}
        for m, o in zip(METRICS, outcome)
    }


def claim_of(vs_tab, vs_base) -> dict:
    better, worse, _ = lists(vs_tab)
    return assessment.honest_claim(better, worse, "buy it again", vs_best_of(vs_base), metrics=list(METRICS))


def sentence_with(statement: str, start: str) -> str | None:
    """The sentence of ``statement`` that begins with ``start``."""
    found = [s for s in re.split(r"(?<=\.) ", statement) if s.startswith(start)]
    assert len(found) <= 1, statement
    return found[0] if found else None


def named(sentence: str | None) -> list[str]:
    return sorted(m for m in METRICS if sentence and m in sentence)


@pytest.mark.parametrize("vs_tab", COMBINATIONS, ids="-".join)
def test_the_claim_is_true_of_every_combination(vs_tab):
    better, worse, rest_tab = lists(vs_tab)
    for vs_base in COMBINATIONS:
        wins, losses, rest_base = lists(vs_base)
        claim = claim_of(vs_tab, vs_base)
        text = claim["statement"]
        assert "elsewhere" not in text
        # against tabular-only: each list named in its own sentence, and only there
        assert named(sentence_with(text, "Tabular + embedding features beat")) == better, text
        assert named(sentence_with(text, "Tabular-only beats")) == worse, text
        assert (sentence_with(text, "No metric shows a difference between tabular") is not None) == (
            not better and not worse
        ), text
        if rest_tab and (better or worse):
            assert f"On the other {rest_tab} metric" in text and "from tabular-only" in text, text
        else:
            assert "from tabular-only is within chance" not in text, text
        # against the strongest baseline
        assert named(sentence_with(text, "The combined model beats the best baseline")) == wins, text
        assert named(sentence_with(text, "The best baseline (buy it again) beats")) == losses, text
        assert (sentence_with(text, "No metric shows a difference between the combined model") is not None) == (
            not wins and not losses
        ), text
        if rest_base and (wins or losses):
            assert (
                f"On the other {rest_base} metric{'s' * (rest_base != 1)} the difference from the best baseline" in text
            )
        else:
            assert "from the best baseline (buy it again) is within chance" not in text, text
        if losses:  # a baseline that wins is said first
            assert text.startswith("The best baseline (buy it again) beats the combined model"), text
        # "every metric" only where a list holds every metric
        for start, own in (
            ("Tabular + embedding features beat", better),
            ("Tabular-only beats", worse),
            ("The combined model beats", wins),
            ("The best baseline (buy it again) beats", losses),
        ):
            sentence = sentence_with(text, start)
            if sentence:
                assert ("every metric" in sentence) == (len(own) == len(METRICS)), text
        assert claim["combined_beats_tabular_on"] == better and claim["tabular_beats_combined_on"] == worse
        assert claim["combined_beats_best_baseline_on"] == wins and claim["best_baseline_beats_combined_on"] == losses


def page_evaluation(vs_tab, vs_base) -> dict:
    v = {"value": 0.2, "low": 0.1, "high": 0.3}
    better, worse, _ = lists(vs_tab)
    return {
        "evaluated_customers": 300,
        "test_window": {"start": "2026-02-02", "weeks": 8},
        "candidate_recall": 0.4,
        "models": {m: {"hit_rate@10": v} for m in ("combined", "tabular", "buy it again")},
        "combined_minus_tabular": {
            m: {"combined_better": o == "better", "tabular_better": o == "worse"} for m, o in zip(METRICS, vs_tab)
        },
        "best_baseline": {"name": "buy it again"},
        "claim": claim_of(vs_tab, vs_base),
    }


@pytest.mark.parametrize("vs_tab", COMBINATIONS, ids="-".join)
def test_the_model_page_is_true_of_every_combination(vs_tab):
    better, worse, rest = lists(vs_tab)
    for vs_base in COMBINATIONS:
        wins, losses, _ = lists(vs_base)
        sentences = pages.offline_result_sentences(page_evaluation(vs_tab, vs_base))
        text = " ".join(sentences)
        improved = [s for s in sentences if s.startswith("Adding what product descriptions say made")]
        assert bool(improved) == bool(better), text
        assert ("did not make the recommendations measurably better" in text) == (not better), text
        without = [s for s in sentences if s.startswith("Without them the recommendations were measurably better")]
        assert bool(without) == bool(worse), text  # tabular-only winning is never left out
        if "elsewhere the difference is within chance" in text:
            assert rest > 0, text  # never an "elsewhere" when there is none
        assert ("every measure" in " ".join(improved)) == (len(better) == len(METRICS)), text
        assert ("every measure" in " ".join(without)) == (len(worse) == len(METRICS)), text
        assert ("A simple rule did better than our model" in text) == bool(losses), text
        assert ("our model was measurably better on" in text) == bool(wins), text
        assert ("our model was not measurably better or worse" in text) == (not wins and not losses), text
        assert "showing each customer what they bought before" in text  # the baseline in words
        assert "buy it again" not in text
