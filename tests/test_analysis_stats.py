"""Error bars and tests, checked against statsmodels/scipy and Miller's closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from polaris.analysis import chance as C
from polaris.analysis import power as P
from polaris.analysis import stats as S


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (5, 10), (10, 10), (37, 250), (1, 3)])
def test_wilson_matches_statsmodels(k, n):
    low, high = S.wilson_interval(k, n)
    ref = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert low == pytest.approx(ref[0], abs=1e-12)
    assert high == pytest.approx(ref[1], abs=1e-12)


def test_binary_mean_ci_is_wilson_with_miller_se():
    scores = [1] * 30 + [0] * 70
    est = S.mean_ci(scores)
    assert est.method == "wilson"
    assert est.mean == pytest.approx(0.3)
    assert est.se == pytest.approx(math.sqrt(0.3 * 0.7 / 100))
    ref = proportion_confint(30, 100, method="wilson")
    assert (est.low, est.high) == pytest.approx(ref)


def test_all_wrong_still_has_an_upper_bound():
    est = S.mean_ci([0] * 50)
    assert est.low == 0.0 and 0.05 < est.high < 0.1  # Wilson, not the degenerate [0, 0]


def test_item_means_not_pooled_samples():
    # 40 items, 5 samples each: half the items always right, half always wrong. Pooling 200
    # samples would claim n=200; the items say n=40, and the interval must be as wide as that.
    samples = [[1] * 5] * 20 + [[0] * 5] * 20
    means = S.item_means(samples)
    est = S.mean_ci(means, samples_per_item=5)
    pooled = S.mean_ci([s for item in samples for s in item])
    per_item = S.mean_ci([1] * 20 + [0] * 20)
    assert est.high - est.low > pooled.high - pooled.low
    assert est.high - est.low == pytest.approx(per_item.high - per_item.low, rel=0.05)


def test_non_binary_se_is_clt_with_sample_variance():
    x = np.array([0.2, 0.4, 0.4, 1.0, 0.0, 0.6])
    est = S.mean_ci(x)
    assert est.method == "wilson-eff"
    assert est.se == pytest.approx(np.std(x, ddof=1) / math.sqrt(x.size))
    assert est.low < est.mean < est.high


def test_unbounded_scores_get_normal_interval():
    x = np.array([-3.0, -2.5, -1.0, -4.2])  # log-probs
    est = S.mean_ci(x)
    se = np.std(x, ddof=1) / 2
    assert est.method == "normal"
    assert (est.low, est.high) == pytest.approx((x.mean() - 1.959964 * se, x.mean() + 1.959964 * se))


def _clustered_reference(x, groups):
    """Miller eq. 4 written out with explicit double loops."""
    x = np.asarray(x, float)
    n, m = x.size, x.mean()
    base = np.sum((x - m) ** 2) / (n - 1) / n
    cross = 0.0
    for g in set(groups):
        idx = [i for i in range(n) if groups[i] == g]
        for i in idx:
            for j in idx:
                if i != j:
                    cross += (x[i] - m) * (x[j] - m)
    return math.sqrt(base + cross / n**2)


def test_clustered_se_matches_miller_double_sum():
    rng = np.random.default_rng(3)
    groups = [g for g in "abcdefg" for _ in range(9)]
    effect = {g: rng.normal(0, 0.2) for g in "abcdefg"}
    x = np.clip([0.5 + effect[g] + rng.normal(0, 0.1) for g in groups], 0, 1)
    assert S.standard_error(x, groups) == pytest.approx(_clustered_reference(x, groups))
    assert S.standard_error(x, groups) > S.standard_error(x)  # correlated clusters widen the SE


def test_clustered_se_agrees_with_statsmodels_cluster_robust_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(12), 8)
    x = (rng.random(groups.size) < 0.3 + 0.4 * (groups % 2)).astype(float)
    fit = sm.OLS(x, np.ones((x.size, 1))).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    # For 0/1 scores Miller's SE_CLT² = Σd²/n², so his clustered SE is the uncorrected CRVE.
    assert S.standard_error(x, list(groups)) == pytest.approx(float(fit.bse[0]), rel=1e-10)


def test_singleton_clusters_reproduce_plain_se():
    x = [0.1, 0.5, 0.7, 0.2, 0.9]
    assert S.standard_error(x, list(range(5))) == pytest.approx(S.standard_error(x))


def test_clustered_binary_ci_uses_effective_n():
    groups = [g for g in range(10) for _ in range(10)]
    x = [1.0 if g < 5 else 0.0 for g in groups]  # perfectly clustered: 10 clusters, not 100 items
    est = S.mean_ci(x, clusters=groups)
    assert est.method == "wilson-eff" and est.clusters == 10
    narrow = S.mean_ci(x)
    assert est.high - est.low > 2 * (narrow.high - narrow.low)


def test_baseline_and_normalised_score():
    assert C.random_baseline([0.25, 0.5, 0.25, 0.0]) == pytest.approx(0.25)
    assert C.normalised_score(0.625, 0.25) == pytest.approx(50.0)
    assert C.normalised_score(0.25, 0.25) == 0.0
    with pytest.raises(ValueError):
        C.normalised_score(0.5, 1.0)


def test_monte_carlo_baseline_is_seeded_and_close_to_analytic():
    def score_random(i, rng):
        return float(rng.randrange(4) == 0)

    a = C.monte_carlo_baseline(score_random, 200, draws=50, seed=1)
    assert a == C.monte_carlo_baseline(score_random, 200, draws=50, seed=1)
    assert a == pytest.approx(0.25, abs=0.02)


def test_above_chance_equal_chances_is_binomtest():
    scores = [1] * 33 + [0] * 67
    t = C.above_chance(scores, 0.25)
    ref = sps.binomtest(33, 100, 0.25, alternative="greater").pvalue
    assert t.method == "exact" and t.p_value == pytest.approx(ref, rel=1e-9)
    assert t.above == (ref < 0.05)


def test_above_chance_poisson_binomial_matches_enumeration():
    chances = [0.5, 0.25, 0.25, 0.2, 0.5, 1 / 3]
    scores = [1, 0, 1, 1, 0, 0]
    t = C.above_chance(scores, chances)
    total = 0.0
    for mask in range(2 ** len(chances)):
        bits = [(mask >> i) & 1 for i in range(len(chances))]
        if sum(bits) >= 3:
            total += math.prod(c if b else 1 - c for b, c in zip(bits, chances))
    assert t.p_value == pytest.approx(total, rel=1e-12)
    assert t.baseline == pytest.approx(np.mean(chances))


def test_at_chance_is_not_above_chance():
    t = C.above_chance([1] * 25 + [0] * 75, 0.25)
    assert not t.above and t.p_value > 0.4


def test_above_chance_z_for_item_means():
    x = np.array([0.4, 0.6, 0.8, 0.2, 0.6, 0.8, 0.4, 0.6] * 5)
    t = C.above_chance(x, 0.25)
    z = (x.mean() - 0.25) / (np.std(x, ddof=1) / math.sqrt(x.size))
    assert t.method == "z" and t.p_value == pytest.approx(sps.norm.sf(z))
    assert t.above


@pytest.mark.parametrize("b,c", [(0, 0), (3, 0), (10, 4), (25, 40), (7, 7)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    table = [[5, b], [c, 11]]
    assert S.mcnemar_exact(b, c) == pytest.approx(mcnemar(table, exact=True).pvalue)


def test_paired_contrast_counts_and_identity():
    rng = np.random.default_rng(0)
    diff = rng.random(300)
    a = (rng.random(300) < 0.2 + 0.6 * diff).astype(float)
    b = (rng.random(300) < 0.1 + 0.6 * diff).astype(float)
    c = S.paired_contrast(a, b)
    assert c.delta == pytest.approx(a.mean() - b.mean())
    assert c.a_only == int(((a == 1) & (b == 0)).sum()) and c.b_only == int(((a == 0) & (b == 1)).sum())
    assert c.mcnemar_p == pytest.approx(mcnemar([[0, c.a_only], [c.b_only, 0]], exact=True).pvalue)
    se_a, se_b = S.standard_error(a), S.standard_error(b)
    ident = math.sqrt(se_a**2 + se_b**2 - 2 * se_a * se_b * c.corr)
    assert c.se == pytest.approx(ident)
    assert c.se < math.sqrt(se_a**2 + se_b**2)  # positively correlated cells: pairing helps
    assert c.low < c.delta < c.high
    assert c.mde == pytest.approx((1.959964 + 0.841621) * c.se, rel=1e-5)


def test_paired_contrast_clustered_and_non_binary():
    a = [0.2, 0.4, 0.6, 0.8, 1.0, 0.8]
    b = [0.0, 0.2, 0.6, 0.4, 0.8, 0.8]
    c = S.paired_contrast(a, b, clusters=["x", "x", "y", "y", "z", "z"])
    d = np.subtract(a, b)
    assert c.se == pytest.approx(_clustered_reference(d, ["x", "x", "y", "y", "z", "z"]))
    assert c.mcnemar_p is None and c.a_only is None and c.clusters == 3


def test_paired_contrast_rejects_unequal_items():
    with pytest.raises(ValueError, match="same items"):
        S.paired_contrast([1, 0], [1, 0, 1])


def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005, 0.5, 0.02]
    ref = multipletests(p, method="holm")[1]
    assert S.holm(p) == pytest.approx(list(ref))
    out = S.holm([0.01, math.nan, 0.04])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)


def test_power_formula_reproduces_millers_example():
    # Miller §5: δ = 0.03, ω² = 1/9 -> n ≈ 969; and the MDE at that n is δ again.
    assert P.required_n(0.03, P.design_variance(1 / 9)) == 969
    assert P.minimum_detectable_effect(969, 1 / 9) == pytest.approx(0.03, rel=1e-3)
    # Resampling reduces the variance term: K samples per item divide σ².
    assert P.design_variance(0.1, 0.2, 4, 0.2, 4) == pytest.approx(0.2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=200))
def test_ci_contains_point_estimate_binary(xs):
    est = S.mean_ci(xs)
    assert 0 <= est.low <= est.mean <= est.high <= 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=2, max_size=80),
    st.lists(st.integers(0, 5), min_size=80, max_size=80),
)
def test_ci_contains_point_estimate_item_means_and_clusters(ks, groups):
    x = [k / 4 for k in ks]
    est = S.mean_ci(x, clusters=groups[: len(x)], samples_per_item=4)
    assert 0 <= est.low <= est.mean + 1e-12 and est.mean - 1e-12 <= est.high <= 1
