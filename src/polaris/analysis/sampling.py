"""pass@k, maj@k and complexity-based voting from one pool of K samples per item.

Each item comes as two parallel sequences over its K samples, in sample order:
`answers` (vote keys: equal keys are the same answer, e.g. `Scorer.vote_key`; None when nothing
could be extracted) and `correct` (per-sample score in [0, 1]).

Rules, shared by every vote in this module (the K-sample vote, maj@k, complexity voting):
- Unextractable samples (answer None) never vote. They still occupy a place in the pool, so a
  k-subset may hold fewer than k votes; a subset with no valid vote scores 0.
- An answer's correctness is the mean correctness of the samples that gave it (equal keys should
  score alike; the mean keeps the rule independent of sample order where they do not).
- Ties get fractional credit: when several answers share the top count, the vote scores the mean
  correctness of the tied answers, i.e. the expected score of a uniformly random tie-break. This is
  deterministic, independent of sample order, and makes maj@k a function of the answer counts
  alone, so it can be computed exactly. `Vote.answer` (for display) is the tied answer that appears
  first in sample order.

maj@k is the expectation of that vote's score over all C(K, k) subsets of size k, the analogue of
Chen et al.'s unbiased pass@k. It is computed exactly by a dynamic programme over answer groups
(`_maj_exact`) for K <= `exact_max_samples`, and by a seeded Monte Carlo over random subsets above.

Both need far less than the samples themselves: a `Pool` keeps what they read of one item (K, the
fully correct count, the answer groups' sizes and correctness, and each sample's group only above
the exact limit), so a run's curves can be computed after its sample texts are gone (runner/tally.py).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from polaris.analysis.stats import Estimate, mean_ci

EXACT_MAX_SAMPLES = 128  # exact DP costs ~ n_g·G·K·(K+G) flops: milliseconds at K = 40
MC_DRAWS = 2000
MC_BATCH = 1 << 18  # random numbers drawn at once by the Monte Carlo (2 MB)


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome of one majority vote."""

    answer: Hashable | None  # earliest-appearing of the tied top answers (None: no valid vote)
    score: float  # mean correctness of the tied top answers (fractional credit), 0 if no vote
    votes: int  # count of the top answer
    tied: tuple[Hashable, ...]  # all answers with the top count, in order of first appearance
    valid: int  # samples that voted


@dataclass(frozen=True, slots=True)
class SamplingCurves:
    """pass@k and maj@k for a set of items, per k, with item-level values for further analysis."""

    ks: tuple[int, ...]
    pass_at: dict[int, Estimate]
    maj_at: dict[int, Estimate]
    item_pass_at: dict[int, list[float]]
    item_maj_at: dict[int, list[float]]
    exact: bool  # every maj@k value was computed exactly (no Monte Carlo)



def doubling_ks(K: int) -> list[int]:
    """1, 2, 4, ... up to K, and K itself: the k of a curve where every k to K costs too much or shows too much."""
    return sorted({2**i for i in range(K.bit_length()) if 2**i <= K} | {K})

def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021) unbiased pass@k: 1 - C(n-c, k)/C(n, k), for c correct of n samples."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    # The product form avoids huge binomials: C(n-c,k)/C(n,k) = Π_{i=n-c+1..n} (1 - k/i).
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _check(answers: Sequence[Hashable | None], correct: Sequence[float]) -> None:
    if len(answers) != len(correct):
        raise ValueError(f"{len(answers)} answers but {len(correct)} correctness values")
    if not answers:
        raise ValueError("an item needs at least one sample")


def item_pass_at(correct: Sequence[float], ks: Sequence[int] | None = None) -> dict[int, float]:
    """pass@k for one item; a sample counts as correct when its score is 1 (partial credit is not)."""
    n = len(correct)
    c = sum(1 for s in correct if s >= 1)
    return {k: pass_at_k(n, c, k) for k in (ks or range(1, n + 1))}


@dataclass(frozen=True, slots=True)
class Pool:
    """One item's K samples as pass@k and maj@k read them (`pool`): a few numbers per distinct answer,
    plus one small integer per sample when K is above the exact limit (the Monte Carlo draws subsets)."""

    size: int  # K
    correct: int  # samples scoring 1 (pass@k)
    n: np.ndarray  # samples per answer group, groups in order of first appearance
    q: np.ndarray  # mean correctness per group
    invalid: int  # unextractable samples
    labels: np.ndarray | None  # each sample's group (-1: unextractable); None when maj@k is exact


def pool(answers: Sequence[Hashable | None], correct: Sequence[float], *, labels: bool | None = None,
         exact_max_samples: int = EXACT_MAX_SAMPLES) -> Pool:
    """The pool of one item's samples; `labels` (default: K above `exact_max_samples`) keeps each
    sample's group for the Monte Carlo."""
    _check(answers, correct)
    keys, n, q, invalid = _groups(answers, correct)
    size = len(answers)
    kept = None
    if (size > exact_max_samples) if labels is None else labels:
        index = {a: i for i, a in enumerate(keys)}
        kept = np.array([-1 if a is None else index[a] for a in answers],
                        dtype=np.int16 if len(keys) < 2**15 else np.int32)
    return Pool(size, sum(1 for s in correct if s >= 1), n, q, invalid, kept)


def pool_pass_at(p: Pool, ks: Sequence[int] | None = None) -> dict[int, float]:
    """`item_pass_at` of a pool."""
    return {k: pass_at_k(p.size, p.correct, k) for k in (ks or range(1, p.size + 1))}


def _groups(
    answers: Sequence[Hashable | None], correct: Sequence[float]
) -> tuple[list[Hashable], np.ndarray, np.ndarray, int]:
    """Answer groups in order of first appearance: keys, sizes, correctness; and #unextractable."""
    sizes: dict[Hashable, int] = {}
    totals: dict[Hashable, float] = {}
    invalid = 0
    for a, s in zip(answers, correct, strict=True):
        if a is None:
            invalid += 1
            continue
        sizes[a] = sizes.get(a, 0) + 1
        totals[a] = totals.get(a, 0.0) + float(s)
    keys = list(sizes)
    n = np.array([sizes[a] for a in keys], dtype=np.int64)
    q = np.array([totals[a] / sizes[a] for a in keys], dtype=float)
    return keys, n, q, invalid


def majority_vote(answers: Sequence[Hashable | None], correct: Sequence[float]) -> Vote:
    """Vote over all samples of one item (the rules are in the module docstring)."""
    _check(answers, correct)
    keys, n, q, invalid = _groups(answers, correct)
    if not keys:
        return Vote(None, 0.0, 0, (), 0)
    top = int(n.max())
    tied = [i for i in range(len(keys)) if n[i] == top]
    return Vote(keys[tied[0]], float(q[tied].mean()), top, tuple(keys[i] for i in tied), int(n.sum()))


def _binom_row(n: int) -> np.ndarray:
    return np.array([math.comb(n, j) for j in range(n + 1)], dtype=float)


def _maj_exact(n: np.ndarray, q: np.ndarray, invalid: int, kmax: int) -> np.ndarray:
    """Σ over k-subsets of the vote score, for k = 0..kmax (divide by C(K, k) for the mean).

    For a correct answer g holding m of the chosen samples, every other answer h must hold fewer
    than m (any of C(n_h, j), j < m) or exactly m (C(n_h, m), one more tie). With x counting chosen
    samples and t counting ties, the number of subsets is a coefficient of
        C(n_g, m)·x^m · Π_h [Σ_{j<m} C(n_h, j) x^j + C(n_h, m) x^m t] · (1 + x)^invalid,
    and each such subset scores q_g/(1 + t). All m = 1..n_g are carried at once in one array
    R[m-1, t, k], so one pass over the other answers serves every k.
    """
    G = len(n)
    total = np.zeros(kmax + 1)
    inv_row = _binom_row(invalid)
    tie_weight = 1.0 / np.arange(1, G + 1)
    for g in range(G):
        if q[g] == 0:
            continue  # wrong answers add nothing to the score
        M = int(min(n[g], kmax))
        R = np.zeros((M, G, kmax + 1))
        for m in range(1, M + 1):
            R[m - 1, 0, m] = math.comb(int(n[g]), m)
        for h in range(G):
            if h == g:
                continue
            row = _binom_row(int(n[h]))
            new = np.zeros_like(R)
            for j in range(min(int(n[h]), M, kmax) + 1):
                shift = kmax + 1 - j
                new[j:, :, j:] += row[j] * R[j:, :, :shift]  # m > j: h holds fewer than g
                if j >= 1:
                    new[j - 1, 1:, j:] += row[j] * R[j - 1, :-1, :shift]  # m == j: a tie
            R = new
        if invalid:
            new = np.zeros_like(R)
            for j in range(min(invalid, kmax) + 1):
                new[:, :, j:] += inv_row[j] * R[:, :, : kmax + 1 - j]
            R = new
        total += q[g] * np.einsum("mtk,t->k", R, tie_weight)
    return total


def _maj_monte_carlo(
    labels: np.ndarray, q: np.ndarray, ks: Sequence[int], draws: int, rng: np.random.Generator
) -> dict[int, float]:
    K, G = labels.size, q.size
    out: dict[int, float] = {}
    # Draws in batches of about MC_BATCH numbers: the generator fills them in the same order as one
    # (draws, K) array would be, so the subsets (and the result) are the same, and memory stays a few
    # MB at K = 1024 instead of tens.
    batch = max(1, min(draws, MC_BATCH // max(1, K)))
    for k in ks:
        score = np.zeros(draws)
        for start in range(0, draws, batch):
            b = min(batch, draws - start)
            idx = np.argpartition(rng.random((b, K)), k - 1, axis=1)[:, :k]
            counts = np.zeros((b, G + 1))
            np.add.at(counts, (np.broadcast_to(np.arange(b)[:, None], idx.shape), labels[idx] + 1), 1)
            counts = counts[:, 1:]  # column 0 held the unextractable samples
            top = counts.max(axis=1, keepdims=True)
            tied = (counts == top) & (top > 0)
            ntied = tied.sum(axis=1)
            score[start:start + b] = np.divide(tied @ q, ntied, out=np.zeros(b), where=ntied > 0)
        out[k] = float(score.mean())
    return out


def item_maj_at(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    ks: Sequence[int] | None = None,
    *,
    exact_max_samples: int = EXACT_MAX_SAMPLES,
    draws: int = MC_DRAWS,
    seed: int | Sequence[int] = 0,
) -> tuple[dict[int, float], bool]:
    """maj@k for one item (expected vote score over k-subsets); returns (values, exact).

    Default ks: every k <= K when exact; above `exact_max_samples` (Monte Carlo, `draws` subsets
    per k) the default is 1, 2, 4, ... and K, since each k costs draws·K random numbers.
    """
    p = pool(answers, correct, labels=len(answers) > exact_max_samples)
    return pool_maj_at(p, ks, exact_max_samples=exact_max_samples, draws=draws, seed=seed)


def pool_maj_at(
    p: Pool,
    ks: Sequence[int] | None = None,
    *,
    exact_max_samples: int = EXACT_MAX_SAMPLES,
    draws: int = MC_DRAWS,
    seed: int | Sequence[int] = 0,
) -> tuple[dict[int, float], bool]:
    """`item_maj_at` of a pool (above `exact_max_samples` the pool must have kept its labels)."""
    K = p.size
    exact = K <= exact_max_samples
    if ks is None:
        ks = range(1, K + 1) if exact else doubling_ks(K)
    ks = list(ks)
    if any(not 1 <= k <= K for k in ks):
        raise ValueError(f"maj@k needs 1 <= k <= K = {K}")
    if not len(p.n):
        return {k: 0.0 for k in ks}, True
    if exact:
        sums = _maj_exact(p.n, p.q, p.invalid, max(ks))
        return {k: float(sums[k] / math.comb(K, k)) for k in ks}, True
    if p.labels is None:
        raise ValueError(f"maj@k by Monte Carlo (K = {K}) needs a pool that kept its labels")
    rng = np.random.default_rng(seed)
    return _maj_monte_carlo(p.labels.astype(np.intp), p.q, ks, draws, rng), False


def step_count(text: str) -> int:
    """Reasoning steps as Fu et al. (2023) count them: non-empty lines."""
    return sum(1 for line in text.splitlines() if line.strip())


def complexity_vote(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    texts: Sequence[str],
    top_n: int,
) -> Vote:
    """Vote among the `top_n` samples with the most reasoning steps (Fu et al. 2023).

    Only samples with an extracted answer are ranked: an unextractable chain (often one whose
    thinking never ended, hence long) would take a place and cast no vote. Equal step counts are
    ranked by sample order, so the choice is deterministic.
    """
    _check(answers, correct)
    if len(texts) != len(answers):
        raise ValueError(f"{len(texts)} texts for {len(answers)} samples")
    if top_n < 1:
        raise ValueError("top_n must be >= 1")
    valid = [i for i, a in enumerate(answers) if a is not None]
    chosen = sorted(sorted(valid, key=lambda i: (-step_count(texts[i]), i))[:top_n])
    return majority_vote([answers[i] for i in chosen], [correct[i] for i in chosen])


def sampling_curves(
    items: Sequence[tuple[Sequence[Hashable | None], Sequence[float]] | Pool],
    ks: Sequence[int] | None = None,
    *,
    clusters: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    exact_max_samples: int = EXACT_MAX_SAMPLES,
    draws: int = MC_DRAWS,
) -> SamplingCurves:
    """pass@k and maj@k over items, each with a CI over item-level values (never pooled samples).

    Items (each its (answers, correct) or its `Pool`) may have different K; the default ks run to the
    smallest K. Monte Carlo items are seeded with (seed, item index), so a rerun gives the same numbers.
    """
    if not items:
        raise ValueError("no items")
    pools = [it if isinstance(it, Pool) else pool(*it, labels=len(it[0]) > exact_max_samples) for it in items]
    kmin = min(p.size for p in pools)
    if ks is None:
        # Above the exact limit each k costs draws·K random numbers per item: 1, 2, 4, ... and K, as
        # item_maj_at's default (every k to K = 1024 took minutes per item).
        ks = range(1, kmin + 1) if kmin <= exact_max_samples else doubling_ks(kmin)
    ks = tuple(ks)
    if any(not 1 <= k <= kmin for k in ks):
        raise ValueError(f"k must lie in 1..{kmin} (the smallest number of samples of an item)")
    pass_items: dict[int, list[float]] = {k: [] for k in ks}
    maj_items: dict[int, list[float]] = {k: [] for k in ks}
    all_exact = True
    for i, item in enumerate(pools):
        p = pool_pass_at(item, ks)
        m, exact = pool_maj_at(item, ks, exact_max_samples=exact_max_samples, draws=draws, seed=(seed, i))
        all_exact &= exact
        for k in ks:
            pass_items[k].append(p[k])
            maj_items[k].append(m[k])
    kcap = max(p.size for p in pools)

    def ci(values: list[float]) -> Estimate:
        return mean_ci(values, clusters=clusters, samples_per_item=kcap, confidence=confidence)

    return SamplingCurves(
        ks,
        {k: ci(pass_items[k]) for k in ks},
        {k: ci(maj_items[k]) for k in ks},
        pass_items,
        maj_items,
        all_exact,
    )
