"""The export schema: columns, their types and meaning (docs/export.md is generated from the same list).

Version 1. A change that renames, removes or retypes a column bumps the version; adding a column does
not. Every row carries `schema_version`, and Parquet files also have it in their key-value metadata
(`polaris.export.schema`).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# (name, type, meaning); types: str, int, float, bool. Item rows have ITEM; sample rows ITEM's run and
# item columns, then SAMPLE's.
RUN = [
    ("schema_version", "int", "this schema's version"),
    ("run_id", "str", "the run (cell) id: key of the store's runs table"),
    ("label", "str", "model/task/prompt/strategy, as every command names the cell"),
    ("model", "str", "the model name"),
    ("task", "str", "the task (gsm8k, bbh, blocksworld/mystery, ...)"),
    ("task_options", "str", "the task's non-default options as a JSON object ({} when none)"),
    ("prompt", "str", "the prompt format (fewshot-cot, one-shot, ...)"),
    ("strategy", "str", "greedy, sc5@t0.7, loglik, ..."),
    ("samples", "int", "samples per item (K)"),
    ("temperature", "float", "sampling temperature"),
    ("top_p", "float", "nucleus sampling, when set"),
    ("max_tokens", "int", "response token limit"),
    ("exemplars", "str", "exemplar strategy (default, complex, random, a prompt file)"),
    ("polaris_version", "str", "Polaris version that last scored the run"),
    ("scorer_version", "str", "scorer version"),
    ("dataset_sha256", "str", "hash of the task's data files"),
    ("imported", "str", "source format of an imported run (polaris import); null when Polaris ran it"),
]
ITEM = RUN + [
    ("item", "str", "the item id (stable within the task)"),
    ("idx", "int", "the item's position in the task's dataset order"),
    ("group", "str", "BBH task, MMLU subject, MATH subject, block count ('' when none)"),
    ("gold", "str", "the gold answer as the scorer compares it"),
    ("answer", "str", "the flexible (headline) answer read from the response; null when none"),
    ("strict_answer", "str", "the answer read only from the answer sentence the prompt asked for"),
    ("correct", "float", "the item's score (flexible): 1 right, 0 wrong, fractions for tied votes; null on error"),
    ("strict_correct", "float", "the score of the strict answer"),
    ("extracted", "bool", "an answer was read (flexible)"),
    ("outcome", "str", "correct, wrong, truncated, hedged, invalid-option, no-answer or error (docs/outcomes.md)"),
    ("error", "str", "why the request failed (not scored); null when scored"),
    ("response", "str", "the first sample's response text"),
    ("finish", "str", "the first sample's finish reason (stop, length, ...)"),
    ("tokens", "float", "completion tokens over the item's samples (counted by the API, else estimated)"),
    ("reasoning_tokens", "float", "of which reasoning (thinking) tokens"),
    ("latency", "float", "seconds of the calls that drew the item's samples; null when unknown"),
    ("source_verdict", "float", "imported runs: the source's own verdict on the item (1 right, 0 wrong)"),
    ("source_answer", "str", "imported runs: the source's own reading of the answer"),
]
SAMPLE = [
    ("sample", "int", "the sample's index (0..K-1); null for a failed item (one row, no samples)"),
    ("sample_answer", "str", "the answer read from this sample (flexible)"),
    ("sample_strict_answer", "str", "the answer read from this sample's answer sentence"),
    ("sample_correct", "float", "this sample's score (flexible)"),
    ("sample_strict_correct", "float", "this sample's strict score"),
    ("vote", "int", "the sample's answer class in the vote (null: nothing read)"),
    ("sample_outcome", "str", "this sample's outcome"),
]
ITEM_ONLY = {"response", "finish", "tokens", "reasoning_tokens", "latency"}  # per sample in sample rows


def columns(per_sample: bool) -> list[tuple[str, str, str]]:
    if not per_sample:
        return ITEM
    sample_level = [("response", "str", "the sample's response text"), ("finish", "str", "its finish reason"),
                    ("tokens", "float", "its completion tokens"), ("reasoning_tokens", "float", "of which reasoning"),
                    ("latency", "float", "seconds of the call that drew it (shared by the samples of one call)")]
    return [c for c in ITEM if c[0] not in ITEM_ONLY] + SAMPLE + sample_level
