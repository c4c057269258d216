"""Statistics, sampling estimators, scaling fits and emergence tests: pure functions over numbers.

Nothing is imported here, so `import polaris.analysis` stays cheap; import the submodule you need.
Scores are per *item* throughout: with K samples per item pass item means, never pooled samples.

stats — error bars and tests (Miller 2024)
    Estimate, Contrast                                      result dataclasses
    item_means(samples) -> ndarray                          one mean per item from its K sample scores
    standard_error(scores, clusters=None) -> float          Miller SE; clustered when items are labelled
    wilson_interval(successes, n, confidence) -> (lo, hi)   Wilson score interval (n may be effective)
    mean_ci(scores, *, clusters, samples_per_item, confidence) -> Estimate
                                                            mean with SE and Wilson (effective-n) CI
    paired_contrast(a, b, *, clusters, confidence, power) -> Contrast
                                                            Δ, paired SE/CI, corr, McNemar b/c/p, MDE
    mcnemar_exact(b, c) -> float                            two-sided exact McNemar p
    holm(pvalues) -> list[float]                            Holm-adjusted p-values

chance — random baselines and the above-chance test
    ChanceTest                                              result dataclass
    random_baseline(chances) -> float                       mean per-item chance (1/k_i)
    monte_carlo_baseline(score_random, n_items, draws, seed) -> float
                                                            baseline where scoring is not trivial
    normalised_score(score, baseline) -> float              100·(score - b)/(1 - b)
    above_chance(scores, chance, *, clusters, alpha) -> ChanceTest
                                                            one-sided test: exact Poisson-binomial or z

power — items needed and detectable effects (Miller 2024)
    design_variance(omega2, sigma2_a, k_a, sigma2_b, k_b)   Miller's ω² + σ²/K terms
    required_n(delta, variance, alpha, power) -> int        items needed to detect delta
    minimum_detectable_effect(n, variance, alpha, power)    smallest detectable delta at n

sampling — K samples per item (self-consistency, Chen et al., Fu et al.)
    Vote, SamplingCurves                                    result dataclasses
    pass_at_k(n, c, k) -> float                             unbiased pass@k
    item_pass_at(correct, ks) -> {k: value}                 pass@k of one item
    majority_vote(answers, correct) -> Vote                 vote: invalid never votes, ties get
                                                            fractional credit, earliest tied shown
    item_maj_at(answers, correct, ks, *, exact_max_samples, draws, seed) -> ({k: value}, exact)
                                                            maj@k = E[vote over k-subsets]: exact DP,
                                                            seeded Monte Carlo above K = 128
    step_count(text) -> int                                 non-empty lines (Fu et al.'s steps)
    complexity_vote(answers, correct, texts, top_n) -> Vote vote among the top_n most-step valid samples
    sampling_curves(items, ks, *, clusters, confidence, seed) -> SamplingCurves
                                                            pass@k and maj@k per k with item-level CIs

scaling — fits of score vs x = log10(parameters)
    Fit                                                     params, cov, χ², aic/aicc/bic, predict(x),
                                                            predict_se(x); fitted=False with a reason
    log10_params(params) -> ndarray
    prepare_points(x, y, se, se_floor) -> (x, y, se)        drop non-finite points, floor the SEs
    fit_curve(model, x, y, se, *, baseline, ceiling, se_floor) -> Fit
                                                            "line" | "logistic" (floored at baseline)
                                                            | "bnsl" (Caballero et al., one break)
    fit_all(x, y, se, ...) -> {model: Fit};  best_fit(fits) -> name with lowest AICc

emergence — is it emergent? (Lu et al. 2024; BIG-bench; Schaeffer et al. 2023)
    breakthroughness(x, y) -> float                         BIG-bench B, legacy formula (unverified)
    line_r2(x, y, se) -> float                              linearity-style: signed weighted R² of a line
    metric_sensitivity(x, y_discrete, y_continuous, *, continuous_higher_is_better) -> float
                                                            B(discrete) - B(continuous)
    extrapolation_test(x, y, se, *, model, baseline, ceiling, alpha) -> Extrapolation
                                                            leave-the-largest-out: z of the residual
    verdict(above_p, extrapolation, alpha) -> Verdict       "emergent" | "predictable" | "below trend"
                                                            | "not above baseline" | "untested"
    analyze_scaling(x, y, se, *, baseline, above_p, ceiling, alpha, extrapolate_with) -> ScalingAnalysis
                                                            fits + extrapolation + B + verdict

metrics — continuous metrics on the same outputs
    token_edit_distance(prediction, target, *, tokens, normalise) -> float
    per_token_accuracy(prediction, target, *, tokens, align) -> float
                                                            digits aligned from the right for numbers
    edit_distance(a, b) -> int;  tokenize(text, mode);  is_number(text)
    target_logprob(token_logprobs, *, per_token) -> float
    option_probs(option_logprobs) -> ndarray                softmax over the options
    correct_option_prob(option_logprobs, correct) -> float  normalised probability of the right option
    brier_score(probs, correct) -> float                    multi-class Brier, 0 (best) to 2

modelmeta — model metadata (shipped models.yaml + the user's)
    ModelInfo(name, params, family, tokens, instruct, base, aliases, note, source)
    ModelTable.find(name) -> ModelInfo | None               backend prefix dropped, case-insensitive,
                                                            unique last-segment fallback
    ModelTable[name], ModelTable.family(family)
    load_models(path=None, env=None) -> ModelTable          shipped, merged with path | POLARIS_MODELS
                                                            | ./models.yaml; errors name file and line
    parse_models(text, source, shipped) -> {name: ModelInfo};  parse_count("7B") -> 7e9
    strip_backend(name) -> str
"""
