"""Lift: what a reward changed, its exposed owners against its held-out owners, on one outcome
(a repeat tap within 30 days, a review written, a purchase).

``measure`` takes the counts of each arm and the holdout share the reward declares, and
returns a ``Lift``: both rates with their Wilson intervals, the difference with its 95%
interval by Newcombe's hybrid score method (method 10 of Newcombe 1998, built on the two
Wilson intervals), the relative lift, a sample-ratio-mismatch check and a ``Verdict``.
``sentence`` turns a ``Lift`` into one plain sentence for a marketer, in the language words
come out in now.

The numbers and the words are kept apart: ``measure`` is pure (no Flask, no database, the same
answer for a CSV export, a chart or a test), and the words are made by ``sentence`` only when a
person is about to read them, so they follow that person's language (as domain errors do,
through ``app.core.i18n.translate``).

statsmodels and scipy do the statistics. They are imported inside the functions that use them:
together they take about 1.2 to 1.5 s to import (measured cold on the development machine), a
cost only the dashboard should pay, never a worker that serves taps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from babel.numbers import format_decimal

from app.core.i18n import N_, current_language, translate, translate_count

CONFIDENCE = 0.95  # the level of every interval shown
POWER = 0.80  # the chance of finding the observed effect, for "N more owners needed"
SRM_P = 0.001  # a split this unlikely under the declared holdout is a broken assignment


class Verdict(StrEnum):
    """What the numbers say, in the order ``measure`` decides it."""

    SPLIT_MISMATCH = "split_mismatch"  # the arms' sizes do not match the holdout: no conclusion
    BETTER = "better"  # the interval lies above 0
    WORSE = "worse"  # the interval lies below 0
    NOT_ENOUGH = "not_enough"  # the interval holds 0, an effect was observed
    NO_DIFFERENCE = "no_difference"  # the interval holds 0, both rates are exactly equal


@dataclass(frozen=True)
class Arm:
    """One group of owners: how many had the outcome (``successes``) out of ``n``."""

    successes: int
    n: int
    rate: float
    low: float  # Wilson 95% interval of the rate
    high: float


@dataclass(frozen=True)
class Lift:
    """Exposed owners against held-out owners on one outcome.

    ``difference``, ``low`` and ``high`` are exposed rate minus held-out rate and its 95%
    interval (proportions, 0.05 is 5 points). ``relative`` is ``difference`` over the held-out
    rate, None when that rate is 0. ``srm_p`` is the chi-square goodness-of-fit p-value of the
    arms' sizes against the declared holdout share; ``srm`` is True below ``SRM_P``.
    ``more_needed`` is the number of owners to add (both arms, in the declared split) to find
    the observed effect with 80% power at alpha 0.05, set only when the verdict is
    ``NOT_ENOUGH``."""

    exposed: Arm
    held_out: Arm
    holdout_percent: float
    difference: float
    low: float
    high: float
    relative: float | None
    srm_p: float
    srm: bool
    more_needed: int | None
    verdict: Verdict


def _check(group: str, successes: int, n: int) -> None:
    """Raise ValueError, saying what is wrong, unless ``successes`` out of ``n`` is a count."""
    if successes < 0 or n < 0:
        raise ValueError(f"the {group} group's counts cannot be negative "
                         f"({successes} out of {n})")
    if n == 0:
        raise ValueError(f"the {group} group has no owners yet: there is nothing to compare")
    if successes > n:
        raise ValueError(f"the {group} group has more successes than owners "
                         f"({successes} out of {n})")


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Return the Wilson score 95% interval (no continuity correction) of ``successes / n``.

    Raises ValueError unless 0 <= successes <= n and n > 0."""
    _check("measured", successes, n)
    from statsmodels.stats.proportion import proportion_confint  # costly: see the module

    low, high = proportion_confint(successes, n, alpha=1 - CONFIDENCE, method="wilson")
    return float(low), float(high)


def _arm(group: str, counts: tuple[int, int]) -> Arm:
    successes, n = counts
    _check(group, successes, n)
    low, high = wilson(successes, n)
    return Arm(successes, n, successes / n, low, high)


def sample_ratio_p(exposed_n: int, held_out_n: int, holdout_percent: float) -> float:
    """Return the p-value of a chi-square goodness-of-fit test of the split ``exposed_n`` /
    ``held_out_n`` against a holdout of ``holdout_percent`` (0 to 100, both excluded).

    Raises ValueError when the percentage is out of range."""
    if not 0 < holdout_percent < 100:
        raise ValueError(f"the holdout must be between 0% and 100%, both excluded, to compare "
                         f"its owners with the exposed ones (got {holdout_percent:g}%)")
    from scipy.stats import chisquare  # costly: see the module

    total = exposed_n + held_out_n
    share = holdout_percent / 100
    result = chisquare([exposed_n, held_out_n], f_exp=[total * (1 - share), total * share])
    return float(result.pvalue)


def owners_needed(exposed_rate: float, held_out_rate: float, holdout_percent: float) -> int:
    """Return how many owners in all (split as the holdout says) a two-sided test at alpha 0.05
    needs to find ``exposed_rate`` against ``held_out_rate`` with 80% power: the textbook
    normal approximation on Cohen's arcsine effect size h, n = ((z_0.975 + z_0.8) / h)^2 for
    one arm of an even split, (1 + 1/ratio) times that for the exposed arm in general.

    Raises ValueError when the two rates are equal: no number of owners finds no effect."""
    if exposed_rate == held_out_rate:
        raise ValueError("the two rates are equal: no number of owners can show a difference")
    from statsmodels.stats.power import normal_sample_size_one_tail  # costly: see the module
    from statsmodels.stats.proportion import proportion_effectsize

    share = holdout_percent / 100
    ratio = share / (1 - share)  # held-out owners per exposed owner
    h = abs(float(proportion_effectsize(exposed_rate, held_out_rate)))
    # The closed form (alpha / 2 in the one tail that matters), not NormalIndPower.solve_power:
    # the same number to 0.01 owner (the far tail adds nothing at 80% power), 75 times faster
    # than its root finding, which a dashboard of many rewards and the tests both feel.
    per_unit = float(normal_sample_size_one_tail(h, POWER, (1 - CONFIDENCE) / 2))
    exposed = per_unit * (1 + 1 / ratio)  # Var(2 asin sqrt p) = 1/n: 1/n1 + 1/n2 per arm
    return math.ceil(exposed) + math.ceil(exposed * ratio)


def measure(exposed: tuple[int, int], held_out: tuple[int, int],
            holdout_percent: float) -> Lift:
    """Return the ``Lift`` of ``exposed`` (successes, owners) against ``held_out`` (successes,
    owners), for a reward whose holdout is ``holdout_percent`` (its ``holdout:``, 0 to 100).

    Raises ValueError (saying which group and why) when a count is negative, a group has no
    owners, successes exceed owners, or the holdout is not strictly between 0% and 100%."""
    treated, control = _arm("exposed", exposed), _arm("held-out", held_out)
    srm_p = sample_ratio_p(treated.n, control.n, holdout_percent)
    from statsmodels.stats.proportion import confint_proportions_2indep  # costly: see the module

    low, high = confint_proportions_2indep(
        treated.successes, treated.n, control.successes, control.n,
        method="newcomb", compare="diff", alpha=1 - CONFIDENCE)
    difference = treated.rate - control.rate
    relative = difference / control.rate if control.successes else None
    srm = srm_p < SRM_P
    # Compared as integers: a float difference of two equal rates may not be exactly 0.
    equal = treated.successes * control.n == control.successes * treated.n
    more_needed: int | None = None
    if srm:
        verdict = Verdict.SPLIT_MISMATCH
    elif low > 0:
        verdict = Verdict.BETTER
    elif high < 0:
        verdict = Verdict.WORSE
    elif equal:
        verdict = Verdict.NO_DIFFERENCE
    else:
        verdict = Verdict.NOT_ENOUGH
        needed = owners_needed(treated.rate, control.rate, holdout_percent)
        # The power calculation (arcsine, normal) and the interval (Newcombe) are different
        # approximations: at the edge the first may say the owners are already enough while
        # the second still holds 0. One more owner is then the honest smallest answer.
        more_needed = max(needed - treated.n - control.n, 1)
    return Lift(treated, control, float(holdout_percent), difference, float(low), float(high),
                relative, srm_p, srm, more_needed, verdict)


def _points(proportion: float) -> str:
    """Return ``proportion`` as percentage points with one decimal, in the current language
    (0.0833 -> "8.3" in English, "8,3" in French)."""
    return str(format_decimal(round(proportion * 100, 1), format="#,##0.0",
                              locale=current_language()))


def sentence(lift: Lift) -> str:
    """Return one plain sentence saying what ``lift`` means, in the language words come out in
    now (see ``app.core.i18n``)."""
    if lift.verdict is Verdict.SPLIT_MISMATCH:
        return translate(N_("The split does not match the holdout: the numbers cannot be "
                            "trusted."))
    if lift.verdict is Verdict.BETTER:
        return translate(N_("Exposed owners did %(points)s points better (95%% interval "
                            "%(low)s to %(high)s)."),
                         {"points": _points(lift.difference), "low": _points(lift.low),
                          "high": _points(lift.high)})
    if lift.verdict is Verdict.WORSE:
        return translate(N_("Exposed owners did %(points)s points worse (95%% interval "
                            "%(low)s to %(high)s)."),
                         {"points": _points(-lift.difference), "low": _points(-lift.high),
                          "high": _points(-lift.low)})
    if lift.verdict is Verdict.NO_DIFFERENCE:
        return translate(N_("Not enough evidence yet: both groups did exactly as well so far, "
                            "so the number of owners needed cannot be estimated."))
    needed = lift.more_needed or 1
    return translate_count(
        "Not enough evidence yet: about %(owners)s more owner needed.",
        "Not enough evidence yet: about %(owners)s more owners needed.",
        needed, owners=format_decimal(needed, locale=current_language()))
