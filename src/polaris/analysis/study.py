"""Scaling studies from a store: score vs log10(parameters) per family, fits, extrapolation, verdicts.

`scaling_study(store, task)` reads every stored cell of `task`, places each model by its metadata
(`modelmeta.ModelCatalog`: the lab's own ladder for `lab/<name>`, else models.yaml) and, per curve
(a family x base/instruct x prompt format x strategy) and per metric (`itemmetrics`):

- one point per model: the metric's mean over items with its 95% CI (item-level; clustered by group
  for MMLU subjects / BBH tasks; a macro headline averages group means), the random baseline and a
  one-sided test against it (exact for 0/1 items of one group);
- one point per size: models of equal size (lab seeds) are averaged; the SE adds the seeds' spread
  to the item SE they share: sqrt(mean(SE_i)² + Var(y_i)/m);
- `emergence.analyze_scaling` on the sizes: line, logistic floored at the baseline and broken power
  law with AIC/AICc/BIC, leave-the-largest-out extrapolation, breakthroughness B, the verdict.

Metrics where lower is better (edit distance, Brier) are analysed as -score, so "above baseline" and
"emergent" (above the trend) always mean better; points and fitted curves are reported on the
metric's own scale. Metric sensitivity (Schaeffer et al.) compares each discrete metric with each
continuous one on the same sizes: B(discrete) - B(continuous), and lists the continuous metrics under
which an exact-match curve called "emergent" is "predictable" (`smooth_under`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polaris.analysis.emergence import ScalingAnalysis, analyze_scaling
from polaris.analysis.itemmetrics import DEFAULT_METRICS, METRICS, item_baseline, item_value, random_guesses
from polaris.analysis.modelmeta import DEFAULT_SOURCES, ModelCatalog, ModelInfo, ModelTable, Source, load_models
from polaris.errors import PolarisError


@dataclass
class ModelScore:
    """One model (one stored cell) under one metric."""

    model: str
    params: float
    run_id: str
    label: str
    n: int
    mean: float
    se: float
    low: float
    high: float
    baseline: float | None
    above_p: float | None  # one-sided p of "better than the baseline"


@dataclass
class Curve:
    """One family x tuning x prompt x strategy, under one metric."""

    family: str
    instruct: bool
    prompt: str
    strategy: str
    metric: str
    models: list[ModelScore]
    x: list[float] = field(default_factory=list)  # log10 params per size
    y: list[float] = field(default_factory=list)  # metric scale
    se: list[float] = field(default_factory=list)
    baseline: float | None = None
    analysis: ScalingAnalysis | None = None

    @property
    def key(self) -> tuple[str, bool, str, str]:
        return (self.family, self.instruct, self.prompt, self.strategy)

    @property
    def name(self) -> str:
        return f"{self.family}{' instruct' if self.instruct else ''} {self.prompt} {self.strategy}"

    def fitted(self, model: str, xs: np.ndarray) -> np.ndarray | None:
        """A fitted curve on the metric's own scale at xs (None if that fit failed)."""
        fit = self.analysis.fits.get(model) if self.analysis else None
        if fit is None or not fit.fitted:
            return None
        return METRICS[self.metric].sign * fit.predict(xs)


@dataclass
class ScalingStudy:
    task: str
    metrics: list[str]
    curves: list[Curve]
    filters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.05

    def curve(self, family: str, metric: str, instruct: bool = False) -> Curve | None:
        return next((c for c in self.curves if c.family == family and c.metric == metric and c.instruct == instruct),
                    None)

    def verdicts(self) -> list[dict[str, Any]]:
        """Lu et al.'s table: per curve and metric, above baseline x predictable, with B and sensitivity."""
        from polaris.analysis.studyreport import verdict_rows

        return verdict_rows(self)

    def to_dict(self) -> dict[str, Any]:
        from polaris.analysis.studyreport import study_dict

        return study_dict(self)


def _sources(models: Any) -> ModelTable:
    if isinstance(models, ModelTable):
        return models
    return load_models(models)  # None: shipped + POLARIS_MODELS / ./models.yaml


def _cells(store: Any, task: str, prompt: str | None, strategy: str | None) -> list[tuple[Any, str, str, str]]:
    """(run, model, prompt, strategy) of the stored cells of `task` (baseline models left out)."""
    out = []
    for run in store.runs():
        spec = run.spec
        model = str(spec.get("model", ""))
        if not model or model.startswith("baseline/"):
            continue
        rest = run.label[len(model) + 1:] if run.label.startswith(model + "/") else ""
        parts = rest.rsplit("/", 2)
        if len(parts) != 3 or parts[0] != task:
            continue
        if (prompt is not None and parts[1] != prompt) or (strategy is not None and parts[2] != strategy):
            continue
        out.append((run, model, parts[1], parts[2]))
    return out


def _targets(task_name: str, run: Any, want_guesses: bool) -> tuple[dict[str, str], dict[str, list[str | None]], bool | None]:
    """(item id -> target, item id -> random guesses, multiple choice?) from the task, if it loads."""
    try:
        from polaris.runner.cell import CellSpec
        from polaris.runner.runner import load_task

        task = load_task(CellSpec.from_dict(run.spec))
        items = list(task.dataset.load())
    except (PolarisError, TypeError, ValueError, OSError):
        return {}, {}, None
    from polaris.scoring.ema import item_options

    mc = any(item_options(it) is not None for it in items)
    targets = {it.id: it.target for it in items}
    guesses = {it.id: random_guesses(task, it) for it in items} if want_guesses and not mc else {}
    return targets, guesses, mc


def _score(rows: list[Any], metric: str, targets: dict[str, str], guesses: dict[str, list[str | None]],
           headline: str, alpha: float) -> tuple[float, float, float, float, float | None, float | None] | None:
    """(mean, se, low, high, baseline, above_p) of one cell under one metric, or None."""
    from polaris.analysis.chance import above_chance
    from polaris.analysis.stats import macro_ci, mean_ci

    m = METRICS[metric]
    vals, bases, groups = [], [], []
    for r in rows:
        target = targets.get(r.item, r.gold if m.kind == "text" else None)
        v = item_value(metric, r, target)
        if v is None:
            return None
        vals.append(v)
        bases.append(item_baseline(metric, r, target, guesses.get(r.item)))
        groups.append(r.group)
    k = max((len(r.data.get("samples") or ()) for r in rows), default=1) or 1
    multi = len(set(groups)) > 1
    base = None if any(b is None for b in bases) else float(np.mean(bases))
    if headline == "macro" and multi:
        est = macro_ci(vals, groups)  # groups fixed, items sampled: the headline's own interval
        mean, se, low, high = est.mean, est.se, est.low, est.high
    else:
        est = mean_ci(vals, clusters=groups if multi else None, samples_per_item=k)
        mean, se, low, high = est.mean, est.se, est.low, est.high
    p = None
    if base is not None:
        if m.kind == "discrete" and not (headline == "macro" and multi):
            p = above_chance(vals, bases, clusters=groups if multi else None, alpha=alpha).p_value
        elif se > 0 and math.isfinite(se):
            from statistics import NormalDist

            p = 1.0 - NormalDist().cdf(m.sign * (mean - base) / se)
        else:
            p = 0.0 if m.sign * (mean - base) > 0 else 1.0
    return mean, se, low, high, base, p


def _by_size(scores: list[ModelScore]) -> list[tuple[float, float, float, list[ModelScore]]]:
    """(x, y, se, models) per distinct size, smallest first (module docstring for the SE)."""
    sizes: dict[float, list[ModelScore]] = {}
    for s in scores:
        sizes.setdefault(s.params, []).append(s)
    out = []
    for params in sorted(sizes):
        ms = sizes[params]
        ys = np.array([s.mean for s in ms])
        item_se = float(np.mean([s.se for s in ms]))
        seed_var = float(ys.var(ddof=1)) / len(ms) if len(ms) > 1 else 0.0
        out.append((math.log10(params), float(ys.mean()), math.sqrt(item_se**2 + seed_var), ms))
    return out


def _analyse(curve: Curve, alpha: float) -> None:
    m = METRICS[curve.metric]
    sizes = _by_size(curve.models)
    curve.x = [s[0] for s in sizes]
    curve.y = [s[1] for s in sizes]
    curve.se = [s[2] for s in sizes]
    bases = [s.baseline for s in curve.models if s.baseline is not None]
    curve.baseline = float(np.mean(bases)) if bases and len(bases) == len(curve.models) else None
    ys = m.sign * np.array(curve.y)
    floor = m.sign * curve.baseline if curve.baseline is not None else float(ys.min())
    top = sizes[-1][3]
    above_p = top[0].above_p if len(top) == 1 else None
    if curve.baseline is None:
        above_p = 0.0  # no chance level for this metric: judge the trend alone (reported as above_baseline None)
    curve.analysis = analyze_scaling(curve.x, ys, curve.se, baseline=floor, above_p=above_p,
                                     ceiling=m.ceiling, alpha=alpha)


def scaling_study(store: Any, task: str, *, family: str | None = None, metrics: Sequence[str] | None = None,
                  prompt: str | None = None, models: ModelTable | str | Path | None = None,
                  strategy: str | None = None, sources: tuple[Source, ...] = DEFAULT_SOURCES,
                  alpha: float = 0.05) -> ScalingStudy:
    """The scaling study of one task from a store (a `Store` or a path); see the module docstring.

    `family` keeps one family (case-insensitive); models without metadata are then skipped (named in
    `notes`), otherwise they are a one-line error saying how to add them. `models`: a `ModelTable`
    or a models.yaml path merged over the shipped one (None: POLARIS_MODELS or ./models.yaml)."""
    if not isinstance(store, (str, Path)):
        return _study(store, task, family, metrics, prompt, models, strategy, sources, alpha)
    from polaris.store.store import Store

    db = Store(store, readonly=True)
    try:
        return _study(db, task, family, metrics, prompt, models, strategy, sources, alpha)
    finally:
        db.close()


def _study(store: Any, task: str, family: str | None, metrics: Sequence[str] | None, prompt: str | None,
           models: Any, strategy: str | None, sources: tuple[Source, ...], alpha: float) -> ScalingStudy:
    asked = list(metrics) if metrics else None
    for name in asked or ():
        if name not in METRICS:
            raise PolarisError(f"unknown metric '{name}' (choose from {', '.join(METRICS)})")
    catalog = ModelCatalog(_sources(models), sources)
    cells = _cells(store, task, prompt, strategy)
    if not cells:
        known = sorted({r.label for r in store.runs()})[:6]
        raise PolarisError(f"no stored cells of task '{task}'" + (f" with prompt '{prompt}'" if prompt else "")
                           + f" (cells: {'; '.join(known) or 'none'})")
    study = ScalingStudy(task, [], [], {"family": family, "prompt": prompt, "strategy": strategy}, alpha=alpha)
    placed: list[tuple[Any, ModelInfo, str, str]] = []
    for run, model, p, s in cells:
        info = catalog.find(model)
        if info is None:
            if family is None:
                catalog.require(model, f" (a cell of task '{task}')")
            study.notes.append(f"{model}: no metadata, left out")
            continue
        if family is not None and info.family.lower() != family.lower():
            continue
        placed.append((run, info, p, s))
    if not placed:
        raise PolarisError(f"no model of family '{family}' has cells of task '{task}'")
    wanted = asked or list(DEFAULT_METRICS)
    text = any(METRICS[m].kind == "text" for m in wanted)
    rows_of = {run.id: [r for r in store.results(run.id) if r.error is None and r.correct is not None]
               for run, _, _, _ in placed}
    targets, guesses, mc = _targets(task, placed[0][0], want_guesses=text)
    if mc is None:  # the task does not load here (data elsewhere): option letters give it away
        golds = [r.gold for rows in rows_of.values() for r in rows]
        mc = bool(golds) and all(re.fullmatch(r"\([A-Za-z]\)", g or "") for g in golds)
    if text and mc:
        wanted = [m for m in wanted if METRICS[m].kind != "text"] if asked is None else wanted
        if asked and any(METRICS[m].kind == "text" for m in asked):
            raise PolarisError(f"task '{task}' is multiple choice: per-token and edit metrics compare free-form answers"
                               " (use prob, brier or logprob from --scoring loglik runs)")
    curves: dict[tuple[Any, ...], Curve] = {}
    for run, info, p, s in placed:
        rows = rows_of[run.id]
        if not rows:
            continue
        headline = (run.manifest.get("summary") or {}).get("headline", "micro")
        for metric in wanted:
            got = _score(rows, metric, targets, guesses, headline, alpha)
            if got is None:
                continue
            mean, se, low, high, base, ap = got
            score = ModelScore(str(run.spec.get("model")), info.params, run.id, run.label, len(rows), mean, se, low,
                               high, base, ap)
            key = (info.family, info.instruct, p, s, metric)
            curves.setdefault(key, Curve(info.family, info.instruct, p, s, metric, [])).models.append(score)
    if asked:
        for m in asked:
            if not any(k[4] == m for k in curves):
                hint = " (run with --scoring loglik)" if METRICS[m].kind == "loglik" else ""
                raise PolarisError(f"no stored result of task '{task}' gives metric '{m}'{hint}")
    order = {m: i for i, m in enumerate(wanted)}
    for key in sorted(curves, key=lambda k: (k[0].lower(), k[1], k[2], k[3], order[k[4]])):
        curve = curves[key]
        curve.models.sort(key=lambda s: (s.params, s.model))
        _analyse(curve, alpha)
        study.curves.append(curve)
    study.metrics = [m for m in wanted if any(c.metric == m for c in study.curves)]
    return study
