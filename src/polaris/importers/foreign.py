"""Other harnesses' task names -> (Polaris task, group hint, prompt format).

Only names whose items and prompt style are unambiguous are listed; anything else needs `--task` (and
`--prompt`). The group hint narrows question matching to one BBH task or MMLU subject; the format says
how the source prompted (lm-eval's `gsm8k` shows 5 worked solutions, so it is few-shot CoT).
"""

from __future__ import annotations

import re

_FIXED = {
    "gsm8k": ("gsm8k", None, "fewshot-cot"),
    "gsm8k_cot": ("gsm8k", None, "fewshot-cot"),
    "gsm8k_cot_llama": ("gsm8k", None, "fewshot-cot"),
    "gsm8k_cot_zeroshot": ("gsm8k", None, "zeroshot-cot"),
    "gsm8k_cot_self_consistency": ("gsm8k", None, "fewshot-cot"),
}
_PATTERNS = (
    (r"bbh_cot_fewshot_(?P<g>\w+)", "bbh", "fewshot-cot"),
    (r"bbh_cot_zeroshot_(?P<g>\w+)", "bbh", "zeroshot-cot"),
    (r"bbh_fewshot_(?P<g>\w+)", "bbh", "fewshot-direct"),
    (r"bbh_zeroshot_(?P<g>\w+)", "bbh", "zeroshot-direct"),
    (r"mmlu_flan_cot_fewshot_(?P<g>\w+)", "mmlu", "fewshot-cot"),
    (r"mmlu_flan_cot_zeroshot_(?P<g>\w+)", "mmlu", "zeroshot-cot"),
    (r"mmlu_flan_n_shot_generative_(?P<g>\w+)", "mmlu", "fewshot-direct"),
    (r"minerva_math_(?P<g>\w+)", "math", "fewshot-cot"),
)


def polaris_task(name: str) -> tuple[str, str | None, str | None] | None:
    """(task, group hint, prompt format) for a known foreign task name, else None."""
    base = name.rsplit("/", 1)[-1]  # inspect_evals/gsm8k
    if base in _FIXED:
        return _FIXED[base]
    for pattern, task, fmt in _PATTERNS:
        m = re.fullmatch(pattern, base)
        if m:
            return task, m.group("g"), fmt
    return None
