"""Lift statistics, tested against published values (no database).

Sources of the published values:
- Newcombe RG. Interval estimation for the difference between independent proportions:
  comparison of eleven methods. Statistics in Medicine 1998;17:873-890, Table II, method 10
  (the hybrid score interval built on two Wilson intervals), examples (a) to (h).
- Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of seven
  methods. Statistics in Medicine 1998;17:857-872, Table I, method 3 (Wilson score, no
  continuity correction).
- Fagerland MW, Lydersen S, Laake P. Recommended confidence intervals for two independent
  binomial proportions. Statistical Methods in Medical Research 2015;24:224-254: 7/34 against
  1/34, Newcombe hybrid score 0.019 to 0.340 (the example statsmodels' own tests use).
- Cohen J. Statistical Power Analysis for the Behavioral Sciences, 2nd ed. 1988, Table 6.4.1:
  n = 392 per group to find h = 0.20 at alpha 0.05 two-sided with power 0.80.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from flask import Flask
from flask_babel import force_locale

from app.core import i18n
from app.insights.lift import (
    Verdict,
    measure,
    owners_needed,
    sample_ratio_p,
    sentence,
    wilson,
)

# Newcombe 1998, Table II: (a)-(h), exposed k1/n1 against held-out k2/n2 -> method 10 limits.
# (a) is 56/70 - 48/80 = 0.8000 - 0.6000 = 0.2000, interval 0.0524 to 0.3339.
NEWCOMBE_TABLE_II = [
    ((56, 70), (48, 80), 0.2000, 0.0524, 0.3339),  # (a)
    ((9, 10), (3, 10), 0.6000, 0.1705, 0.8090),  # (b)
    ((6, 7), (2, 7), 0.5714, 0.0582, 0.8062),  # (c)
    ((5, 56), (0, 29), 0.0893, -0.0381, 0.1926),  # (d)
    ((0, 10), (0, 20), 0.0, -0.1611, 0.2775),  # (e)
    ((0, 10), (0, 10), 0.0, -0.2775, 0.2775),  # (f)
    ((10, 10), (0, 20), 1.0, 0.6791, 1.0),  # (g)
    ((10, 10), (0, 10), 1.0, 0.6075, 1.0),  # (h)
]


@pytest.mark.parametrize(("exposed", "held_out", "difference", "low", "high"), NEWCOMBE_TABLE_II)
def test_the_interval_is_newcombes_method_10(exposed, held_out, difference, low, high):
    # The holdout is set to the examples' own split, so no sample-ratio flag gets in the way.
    share = 100 * held_out[1] / (exposed[1] + held_out[1])
    lift = measure(exposed, held_out, share)
    assert lift.difference == pytest.approx(difference, abs=5e-5)
    assert (lift.low, lift.high) == pytest.approx((low, high), abs=5e-5)
    assert not lift.srm


def test_the_interval_matches_fagerland_lydersen_laake():
    lift = measure((7, 34), (1, 34), 50)
    assert (lift.low, lift.high) == pytest.approx((0.019, 0.340), abs=5e-4)


@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_each_rate_has_its_wilson_interval(successes, n, low, high):
    assert wilson(successes, n) == pytest.approx((low, high), abs=5e-5)
    lift = measure((successes, n), (successes, n), 50)
    assert (lift.exposed.low, lift.exposed.high) == pytest.approx((low, high), abs=5e-5)
    assert lift.exposed.rate == pytest.approx(successes / n)


def test_relative_lift_is_against_the_held_out_rate():
    assert measure((56, 70), (48, 80), 50).relative == pytest.approx(0.2 / 0.6)
    # No held-out success: a relative lift would divide by zero.
    assert measure((10, 10), (0, 20), 50).relative is None


# --- sample-ratio mismatch ---------------------------------------------------------------------

def test_a_split_matching_the_holdout_is_not_flagged():
    # 10% holdout, 10,000 owners: 1,000 expected held out; 1,030 is 1 standard deviation off
    # (sd = sqrt(10,000 x 0.1 x 0.9) = 30): chi-square 30²/9,000 + 30²/1,000 = 1.0 on 1 df,
    # p = P(|Z| > 1) = 0.3173.
    assert sample_ratio_p(8970, 1030, 10) == pytest.approx(0.3173, abs=1e-4)
    assert not measure((897, 8970), (103, 1030), 10).srm


def test_a_split_far_from_the_holdout_is_flagged():
    # 1,150 held out where 1,000 are expected: 5 standard deviations, chi-square 25.0, p = 5.7e-7.
    assert sample_ratio_p(8850, 1150, 10) == pytest.approx(5.733e-7, rel=1e-3)
    lift = measure((900, 8850), (100, 1150), 10)
    assert lift.srm and lift.verdict is Verdict.SPLIT_MISMATCH
    # At p = 0.001 exactly the line is drawn: 3.29 standard deviations (chi-square 10.83).
    assert not measure((890, 8902), (100, 1098), 10).srm  # 98 off: p = 0.00110
    assert measure((890, 8900), (100, 1100), 10).srm  # 100 off: p = 0.00085


# --- the sentence ------------------------------------------------------------------------------

def test_a_clear_gain_says_how_many_points_better():
    lift = measure((600, 2000), (440, 2000), 50)
    assert lift.verdict is Verdict.BETTER
    assert sentence(lift) == "Exposed owners did 8.0 points better (95% interval 5.3 to 10.7)."


def test_a_clear_loss_says_how_many_points_worse():
    lift = measure((440, 2000), (600, 2000), 50)
    assert lift.verdict is Verdict.WORSE
    assert sentence(lift) == "Exposed owners did 8.0 points worse (95% interval 5.3 to 10.7)."


def test_too_few_owners_says_how_many_more_are_needed():
    lift = measure((30, 100), (25, 100), 50)
    assert lift.verdict is Verdict.NOT_ENOUGH and lift.low < 0 < lift.high
    # 30% against 25%: 1,250 owners per arm (Cohen's h = 0.1120), 2,500 in all, 200 already in.
    assert lift.more_needed == 2300
    assert sentence(lift) == "Not enough evidence yet: about 2,300 more owners needed."


def test_no_observed_difference_says_no_number_can_be_given():
    lift = measure((30, 100), (30, 100), 50)
    assert lift.verdict is Verdict.NO_DIFFERENCE and lift.more_needed is None
    assert sentence(lift) == ("Not enough evidence yet: both groups did exactly as well so far, "
                              "so the number of owners needed cannot be estimated.")


def test_a_broken_split_says_the_numbers_cannot_be_trusted():
    # A large, clear difference, but 1,000 owners held out where 500 were expected.
    lift = measure((300, 1000), (100, 1000), 33.3)
    assert lift.low > 0 and lift.verdict is Verdict.SPLIT_MISMATCH
    assert sentence(lift) == ("The split does not match the holdout: the numbers cannot be "
                              "trusted.")


@pytest.fixture
def bare() -> Flask:
    app = Flask(__name__)
    i18n.init_app(app)
    return app


def test_the_sentence_speaks_french(bare):
    with bare.app_context(), force_locale("fr"):
        assert sentence(measure((600, 2000), (440, 2000), 50)) == (
            "Les propriétaires exposés ont fait 8,0 points de mieux (intervalle à 95 % : "
            "5,3 à 10,7).")
        assert sentence(measure((440, 2000), (600, 2000), 50)) == (
            "Les propriétaires exposés ont fait 8,0 points de moins bien (intervalle à 95 % : "
            "5,3 à 10,7).")
        assert sentence(measure((30, 100), (25, 100), 50)) == (
            "Pas encore assez de preuves : il faudrait environ 2\u202f300 propriétaires de plus.")
        assert sentence(measure((30, 100), (30, 100), 50)).startswith(
            "Pas encore assez de preuves : les deux groupes ont fait exactement aussi bien")
        assert sentence(measure((300, 1000), (100, 1000), 33.3)) == (
            "La répartition ne correspond pas au groupe témoin : les chiffres ne sont pas "
            "fiables.")


# --- sample size -------------------------------------------------------------------------------

def test_the_sample_size_is_cohens():
    # Rates 50% and sin^2(pi/4 + 0.1) are h = 0.20 apart: Cohen's table says 392 per group.
    other = math.sin(math.pi / 4 + 0.1) ** 2
    per_group = owners_needed(other, 0.5, 50) / 2
    assert per_group == pytest.approx(392, abs=1)
    # A 10% holdout needs more owners in all than an even split for the same effect.
    assert owners_needed(0.30, 0.25, 10) > owners_needed(0.30, 0.25, 50)


def test_no_sample_size_for_equal_rates():
    with pytest.raises(ValueError, match="the two rates are equal"):
        owners_needed(0.3, 0.3, 50)


# --- guards ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("exposed", "held_out", "holdout", "message"), [
    ((-1, 10), (3, 10), 50, "the exposed group's counts cannot be negative"),
    ((1, 10), (0, -10), 50, "the held-out group's counts cannot be negative"),
    ((0, 0), (3, 10), 50, "the exposed group has no owners yet"),
    ((1, 10), (0, 0), 50, "the held-out group has no owners yet"),
    ((11, 10), (3, 10), 50, "the exposed group has more successes than owners"),
    ((1, 10), (4, 3), 50, "the held-out group has more successes than owners"),
    ((1, 10), (3, 10), 0, "the holdout must be between 0% and 100%"),
    ((1, 10), (3, 10), 100, "the holdout must be between 0% and 100%"),
])
def test_impossible_counts_are_refused(exposed, held_out, holdout, message):
    with pytest.raises(ValueError, match=message):
        measure(exposed, held_out, holdout)


def test_wilson_refuses_impossible_counts():
    with pytest.raises(ValueError, match="more successes than owners"):
        wilson(3, 2)


# --- the statistics libraries are loaded only when asked ---------------------------------------

def test_importing_the_module_does_not_load_the_statistics_libraries():
    code = ("import sys, app.insights.lift; "
            "print(sorted(m for m in ('statsmodels', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# --- on generated data -------------------------------------------------------------------------
# 200 seeds, 2,000 owners per arm. With a real effect (30% against 22%, 8 points) the power of
# the test is above 99.9%, so the effect must be found in at least 95% (190) of the seeds.
# With no effect (both 26%), a 95% interval excludes 0 with probability about 5%: over 200
# independent seeds that count is Binomial(200, 0.05), mean 10, sd 3.1; P(count > 16) = 0.024
# (16 is 8%; 5% would be 10, the mean itself, which a sound interval exceeds half the time), so
# a sound interval fails this bound about once in 42 sets of seeds. The seeds are fixed, so the
# test is deterministic; the bound says what a sound interval may show.

SEEDS = range(200)


def _simulate(exposed_rate: float, held_out_rate: float) -> int:
    significant = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        lift = measure((int(rng.binomial(2000, exposed_rate)), 2000),
                       (int(rng.binomial(2000, held_out_rate)), 2000), 50)
        significant += lift.low > 0 or lift.high < 0
    return significant


def test_a_real_effect_is_found():
    assert _simulate(0.30, 0.22) >= 190


def test_a_null_effect_is_not_found():
    assert _simulate(0.26, 0.26) <= 16
