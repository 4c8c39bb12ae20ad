from __future__ import annotations

import math

import pytest

from thinkact.eval.stats import majority, mcnemar_exact, mean_interval, pass_at_k, wilson


def test_wilson_matches_the_textbook_values() -> None:
    low, high = wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson(0, 10)[0] == 0.0 and 0.25 < wilson(0, 10)[1] < 0.32
    assert math.isclose(wilson(10, 10)[1], 1.0) and wilson(0, 0) == (0.0, 0.0)


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 5) == 1.0
    assert math.isclose(pass_at_k(10, 3, 1), 0.3)
    assert math.isclose(pass_at_k(4, 1, 2), 1 - math.comb(3, 2) / math.comb(4, 2))
    with pytest.raises(ValueError, match="pass@5"):
        pass_at_k(4, 1, 5)


def test_majority_ignores_missing_answers_and_breaks_ties_early() -> None:
    assert majority(["7", None, None], [True, False, False])
    assert not majority(["8", "7", "8."], [False, True, False])
    assert majority(["7", "8"], [True, False])
    assert not majority([None, None], [False, False])


def test_mcnemar_exact_two_sided() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert math.isclose(mcnemar_exact(0, 6), 2 / 64)
    assert math.isclose(mcnemar_exact(1, 9), 2 * 11 / 1024)
    assert mcnemar_exact(5, 5) == 1.0


def test_mean_interval() -> None:
    mean, low, high = mean_interval([1.0, 0.0, 1.0, 0.0])
    assert mean == 0.5 and low < 0.5 < high and math.isclose(high - 0.5, 0.5 - low)
