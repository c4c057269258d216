"""The scaling figure as a reader needs it: one legend entry per curve carrying its verdict and best
fit, a key for the line styles, legends off the data, fits only within the metric's range, round size
ticks, every seed shown."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polaris.analysis.figures import metric_range, scaling_figure, size_label, size_ticks
from polaris.analysis.itemmetrics import METRICS
from polaris.analysis.study import Curve, ModelScore, ScalingStudy, _analyse

SIZES = (10_224, 29_000, 63_000, 108_000, 158_000, 244_000)


def _curve(metric: str, prompt: str, means_by_size: list[list[float]], se: float = 0.02) -> Curve:
    models = [ModelScore(f"m-{i}-{j}", float(p), f"run{i}{j}", f"m/{prompt}", 500, y, se, y - 2 * se, y + 2 * se,
                         0.0 if METRICS[metric].bounded else None, 0.001)
              for i, (p, ys) in enumerate(zip(SIZES, means_by_size)) for j, y in enumerate(ys)]
    c = Curve("lab", False, prompt, "greedy", metric, models)
    _analyse(c, 0.05)
    return c


def _study() -> ScalingStudy:
    curves = [
        # exact match: flat, then a jump; a size whose seeds disagree (11% and 74%)
        _curve("exact", "zeroshot-direct", [[0.0, 0.01], [0.02, 0.05], [0.08, 0.11], [0.11, 0.74], [0.3, 0.6],
                                            [0.97, 0.99]]),
        _curve("exact", "zeroshot-cot", [[0.03, 0.07], [0.3, 0.8], [0.85, 0.9], [0.95, 0.99], [0.99, 0.99],
                                         [0.995, 1.0]]),
        # edit distance falling steeply to 0 at the largest size: a fit must not be drawn below 0
        _curve("edit", "zeroshot-direct", [[2.3, 2.4], [1.7, 1.8], [1.0, 1.1], [0.5, 0.6], [0.6, 0.7], [0.0, 0.02]],
               se=0.05),
        _curve("edit", "zeroshot-cot", [[2.2, 2.3], [0.6, 0.7], [0.1, 0.2], [0.03, 0.05], [0.02, 0.03],
                                        [0.005, 0.01]], se=0.05),
    ]
    return ScalingStudy("lab/add-3", ["exact", "edit"], curves)


@pytest.fixture(scope="module")
def drawn():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    study = _study()
    fig = scaling_figure(study)
    FigureCanvasAgg(fig).draw()  # laid out as when saved
    return study, fig


def test_one_legend_entry_per_curve_with_its_own_verdict(drawn):
    study, fig = drawn
    for ax, metric in zip(fig.axes, study.metrics):
        entries = [t.get_text() for t in ax.get_legend().get_texts()]
        want = {c.prompt: c.analysis.verdict.label for c in study.curves if c.metric == metric}
        assert len(entries) == len(want) == 2
        for prompt, verdict in want.items():
            (entry,) = [e for e in entries if e.startswith(prompt + ":")]
            assert verdict in entry and "best fit" in entry
        assert ax.get_title() == METRICS[metric].title  # the verdicts are in the legend, not joined in the title


def test_legends_sit_off_the_data_and_a_key_names_the_styles(drawn):
    _, fig = drawn
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.y1 <= ax.get_window_extent(renderer).y0  # under the panel, not over its points
    (key,) = fig.legends
    texts = " ".join(t.get_text() for t in key.get_texts())
    for words in ("best fit", "line through the smaller sizes", "range of the seeds", "random baseline", "weight"):
        assert words in texts


def test_fits_stay_within_the_metrics_range(drawn):
    study, fig = drawn
    for ax, metric in zip(fig.axes, study.metrics):
        lo, hi = metric_range(METRICS[metric])
        scale = 100.0 if METRICS[metric].bounded else 1.0
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), dtype=float)
            y = y[np.isfinite(y)]
            if y.size:
                assert y.min() >= lo * scale - 1e-6 and y.max() <= hi * scale + 1e-6, (metric, line.get_label())


def test_size_ticks_are_round_numbers(drawn):
    _, fig = drawn
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == ["10k", "30k", "100k"], labels
    assert [size_label(10**x) for x in size_ticks(math.log10(7e7), math.log10(1.2e10))] == \
           ["100M", "300M", "1B", "3B", "10B"]
    assert size_label(1.4e9) == "1.4B" and size_label(70e9) == "70B" and size_label(244_000) == "244k"


def test_every_seed_is_shown_and_its_range(drawn):
    study, fig = drawn
    ax = fig.axes[0]
    dots = [line for line in ax.get_lines() if line.get_marker() == "."]
    assert sum(len(line.get_xdata()) for line in dots) == sum(len(c.models) for c in study.curves if c.metric == "exact")
    assert len(ax.collections) >= 2  # a band per curve (plus the means' markers)
