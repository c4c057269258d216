"""Prices per model, for the cost of a cell: your table, never one shipped as fact (prices change).

A price table is YAML (or JSON), in US dollars per million tokens, either a file of its own
(`--prices FILE`) or a `prices:` block in your models.yaml (`--models`, `$POLARIS_MODELS`,
`./models.yaml`):

    prices:
      openai/gpt-4o-mini: {input: 0.15, output: 0.60}
      o3-mini: {input: 1.10, output: 4.40}     # names match as in models.yaml
      my-local-model: {input: 0, output: 0}

`input` prices prompt tokens, `output` completion tokens: reasoning tokens are billed as output, as
the APIs bill them. Names match like models.yaml's: the full model name, else without its backend
prefix (`openai/`, `hf/`, ...), ignoring case, else a unique last path segment.

The cost of a cell is priced from its samples' token counts (`runner/compute.py`): what producing its
answers costs, whether or not this invocation paid for them (cached samples included). A prompt count
the server did not report is left out of the cost and flagged (`prompt_unknown`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError

PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True)
class Price:
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens (reasoning included)

    def of(self, prompt: float, completion: float) -> float:
        return (prompt * self.input + completion * self.output) / PER


class PriceTable:
    def __init__(self, prices: Mapping[str, Price], source: str) -> None:
        self.prices = dict(prices)
        self.source = source
        self._lower = {k.lower(): k for k in self.prices}

    def find(self, model: str) -> tuple[str, Price] | None:
        """(the table's name, its price) for a Polaris model name, or None."""
        from polaris.analysis.modelmeta import strip_backend

        for name in (model, strip_backend(model)):
            key = self._lower.get(name.strip().lower())
            if key is not None:
                return key, self.prices[key]
        last = strip_backend(model).rstrip("/").rsplit("/", 1)[-1].lower()
        hits = [k for k in self.prices if k.rstrip("/").rsplit("/", 1)[-1].lower() == last]
        return (hits[0], self.prices[hits[0]]) if len(hits) == 1 else None

    def cost(self, model: str, compute: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The cost of a cell from its compute summary (`runner.compute.cell_compute`), or None when
        the model has no price or the cell no token counts."""
        found = self.find(model)
        if found is None or not compute:
            return None
        name, price = found
        totals = compute["totals"]
        prompt = totals.get("prompt")
        completion = totals.get("completion") or 0.0
        usd = price.of(prompt or 0.0, completion)
        items = compute.get("items") or 1
        return {"usd": usd, "per_item": usd / items, "prompt_usd": price.of(prompt or 0.0, 0.0),
                "completion_usd": price.of(0.0, completion), "prompt_unknown": prompt is None,
                "price": {"model": name, "input": price.input, "output": price.output, "source": self.source}}

    def estimate(self, model: str, prompt_tokens: float, completion_tokens: float) -> float | None:
        """Expected USD for token counts (experiment dry runs), or None without a price."""
        found = self.find(model)
        return None if found is None else found[1].of(prompt_tokens, completion_tokens)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PolarisError(f"{where}: expected a price in USD per million tokens (a number >= 0), not {value!r}")
    return float(value)


def parse_prices(data: Any, source: str, *, block: bool = False) -> PriceTable | None:
    """A table from parsed YAML: `{prices: {...}}`, or (a file of its own) the mapping itself."""
    if block or (isinstance(data, dict) and "prices" in data):
        data = data.get("prices") if isinstance(data, dict) else None
        if data is None:
            return None
    if not isinstance(data, dict):
        raise PolarisError(f"{source}: a price table maps model names to {{input: N, output: N}} (USD per million"
                           " tokens)")
    prices = {}
    for name, entry in data.items():
        where = f"{source}: prices.{name}"
        if not isinstance(entry, dict):
            raise PolarisError(f"{where}: expected {{input: N, output: N}} (USD per million tokens)")
        unknown = [k for k in entry if k not in ("input", "output")]
        if unknown:
            raise PolarisError(f"{where}: unknown field '{unknown[0]}' (input, output: USD per million tokens)")
        for key in ("input", "output"):
            if key not in entry:
                raise PolarisError(f"{where}: missing '{key}' (USD per million tokens)")
        prices[str(name)] = Price(_number(entry["input"], f"{where}.input"), _number(entry["output"], f"{where}.output"))
    return PriceTable(prices, source)


def _read(path: Path) -> Any:
    from polaris.userfiles import read_yaml

    return read_yaml(path, "price table")


def load_prices(path: str | os.PathLike[str] | None = None, models: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> PriceTable | None:
    """`path` (a price file), else the `prices:` block of the user's models.yaml; None when neither."""
    if path is not None:
        p = Path(path).expanduser()
        return parse_prices(_read(p), str(p))
    from polaris.analysis.modelmeta import user_models_path

    user = user_models_path(models, env)
    if user is None or not user.is_file():
        return None
    return parse_prices(_read(user), str(user), block=True)
