"""Experiment files: parse, validate and expand a YAML grid into cells and paired contrasts.

A file declares models x tasks x prompt formats x named strategies x seeds (see docs/strategies.md
for the annotated format). Every problem is one line naming the file, the line and the field:
`exp.yaml:12: strategies.sc40.samples: Input should be greater than or equal to 1 (got 0)`.
The schema is pydantic's (imported lazily: `polaris --help` does not pay for it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.experiments import compute_axes
from polaris.experiments.tuning import TUNING, TUNINGS, TuningError, model_lineages, uses_tuning
from polaris.runner.cell import CellSpec

AXES = ("model", "task", "prompt", "strategy", "seed", *compute_axes.AXES)
_VOTE = re.compile(r"^(majority|complex-top-?\s*\d+)$")


@dataclass(frozen=True)
class ExperimentCell:
    """One cell of the grid: where it sits (its coordinates) and what it runs."""

    model: str
    task: str
    prompt: str
    strategy: str  # the strategy's name in the file
    seed: int
    spec: CellSpec
    draw: int | None = None  # exemplar draw (strategies with exemplar_seeds > 1)
    tuning: str | None = None  # "base" | "instruct" when the file's contrasts use the tuning axis
    lineage: str | None = None  # the base model this model descends from (itself for a base model)
    level: tuple[tuple[str, Any], ...] = ()  # the crossed compute axes' values (experiments/compute_axes.py)

    @property
    def coords(self) -> dict[str, Any]:
        out = {"model": self.model, "task": self.task, "prompt": self.prompt, "strategy": self.strategy,
               "seed": self.seed, "draw": self.draw, **dict.fromkeys(compute_axes.AXES), **dict(self.level)}
        if self.tuning is not None:
            out[TUNING] = self.tuning
            out["lineage"] = self.lineage
        return out

    @property
    def name(self) -> str:
        draw = f" draw {self.draw}" if self.draw is not None else ""
        level = "".join(f" {ax}={v}" for ax, v in self.level)
        return f"{self.model} {self.task} {self.prompt} {self.strategy}{level} s{self.seed}{draw}"


@dataclass(frozen=True)
class Contrast:
    name: str
    a: Mapping[str, Any]  # axis -> value for side A
    b: Mapping[str, Any]


@dataclass(frozen=True)
class Experiment:
    path: Path
    name: str
    description: str
    cells: list[ExperimentCell]
    contrasts: list[Contrast]
    limit: int | None = None
    concurrency: int = 32
    base_url: str | None = None
    store: Path | None = None

    def pairs(self, contrast: Contrast) -> list[tuple[ExperimentCell, ExperimentCell]]:
        """Cells A and B of a contrast that agree on every other coordinate (draws pair by index).

        A tuning contrast pairs a model with the other models of its lineage instead of with itself
        (Llama-3.1-8B-Instruct with Llama-3.1-8B); models of unknown lineage are left out."""
        tuned = TUNING in contrast.a
        index = {_key(c.coords, c.lineage if tuned else None): c for c in self.cells}
        out = []
        for cell in self.cells:
            coords = cell.coords
            if tuned and cell.lineage is None:
                continue
            if all(coords.get(k) == v for k, v in contrast.a.items()):
                other = index.get(_key({**coords, **contrast.b}, cell.lineage if tuned else None))
                if other is not None and other is not cell:
                    out.append((cell, other))
        return out


def _key(coords: Mapping[str, Any], lineage: str | None = None) -> tuple[Any, ...]:
    if lineage is None:
        return tuple(coords.get(k) for k in (*AXES, "draw"))
    return (lineage, coords.get(TUNING), *(coords.get(k) for k in (*AXES[1:], "draw")))


# -- the schema ----------------------------------------------------------------------------------


def _models() -> Any:
    """pydantic models, built on first use (the import costs ~0.2 s)."""
    from typing import Annotated, Literal, Optional, Union

    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

    class Strategy(BaseModel):
        model_config = ConfigDict(extra="forbid")
        samples: int = Field(1, ge=1)
        temperature: float = Field(0.0, ge=0.0)
        top_p: Optional[float] = Field(None, gt=0.0, le=1.0)
        max_tokens: Optional[int] = Field(None, ge=1)
        exemplars: str = "default"
        exemplar_seeds: int = Field(1, ge=1)
        vote: str = "majority"
        scoring: Literal["generate", "loglik"] = "generate"
        api: Literal["chat", "completions"] = "chat"
        fewshot_as: Literal["multi", "single"] = "multi"
        system: Optional[str] = None
        think_tags: list[list[str]] = Field(default_factory=list)
        template: Optional[Literal["open", "closed", "closed-adv"]] = None  # Lu et al.'s (prompts/icl.py)
        reasoning_effort: Optional[Literal["minimal", "low", "medium", "high"]] = None  # docs/compute.md
        thinking_budget: Optional[int] = Field(None, ge=0)

        @field_validator("vote")
        @classmethod
        def _vote(cls, v: str) -> str:
            if not _VOTE.match(v.strip()):
                raise ValueError(f"must be 'majority' or 'complex-top-N', e.g. complex-top-30 (got '{v}')")
            return v

        @field_validator("think_tags", mode="before")
        @classmethod
        def _tags(cls, v: Any) -> Any:
            if isinstance(v, str):
                v = [v]
            out = []
            for pair in v or []:
                if isinstance(pair, str):
                    pair = [t.strip() for t in pair.split(",", 1)]
                if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(t, str) and t for t in pair):
                    raise ValueError(f"each entry must be 'OPEN,CLOSE' or [OPEN, CLOSE] (got {pair!r})")
                out.append(pair)
            return out

        @model_validator(mode="after")
        def _sampling(self) -> Strategy:
            if self.samples > 1 and self.temperature == 0:
                raise ValueError("samples > 1 needs temperature > 0 (greedy samples are all the same)")
            if self.vote.startswith("complex") and self.samples == 1:
                raise ValueError("a complex-top-N vote needs samples > 1")
            return self

    Side = dict[str, Union[str, int]]

    class ContrastModel(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: Optional[str] = None
        a: Optional[Side] = None
        b: Optional[Side] = None
        model: Optional[list[str]] = None
        task: Optional[list[str]] = None
        prompt: Optional[list[str]] = None
        strategy: Optional[list[str]] = None
        seed: Optional[list[int]] = None
        tuning: Optional[list[Literal["base", "instruct"]]] = None
        effort: Optional[list[str]] = None
        thinking_budget: Optional[list[int]] = None
        max_tokens: Optional[list[int]] = None

        @model_validator(mode="after")
        def _shape(self) -> ContrastModel:
            short = [ax for ax in (*AXES, TUNING) if getattr(self, ax) is not None]
            if self.a is not None or self.b is not None:
                if short or self.a is None or self.b is None:
                    raise ValueError("give either both 'a' and 'b', or one axis with two values (prompt: [X, Y])")
                for side in (self.a, self.b):
                    bad = [k for k in side if k not in (*AXES, TUNING)]
                    if bad:
                        raise ValueError(f"unknown axis '{bad[0]}' (axes: {', '.join((*AXES, TUNING))})")
                if set(self.a) != set(self.b) or not self.a:
                    raise ValueError("'a' and 'b' must set the same axes")
            else:
                if len(short) != 1 or len(getattr(self, short[0])) != 2:
                    raise ValueError("a contrast names one axis with two values (prompt: [fewshot-cot, fewshot-direct]),"
                                     " 'A vs B', or 'a'/'b' mappings")
            return self

    class File(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: Optional[str] = None
        description: str = ""
        models: list[str] = Field(min_length=1)
        tasks: list[str] = Field(min_length=1)
        prompts: list[str] = Field(default_factory=lambda: ["fewshot-cot"], min_length=1)
        strategies: dict[str, Strategy] = Field(default_factory=lambda: {"greedy": Strategy()}, min_length=1)
        seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
        # Compute axes (experiments/compute_axes.py): crossed with everything else.
        reasoning_efforts: list[Literal["minimal", "low", "medium", "high"]] = Field(default_factory=list)
        thinking_budgets: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
        max_tokens: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
        limit: Optional[int] = Field(None, ge=1)
        concurrency: int = Field(32, ge=1)
        base_url: Optional[str] = None
        store: Optional[str] = None
        contrasts: list[Any] = Field(default_factory=list)  # str or ContrastModel: checked one by one

        @field_validator("contrasts")
        @classmethod
        def _contrasts(cls, v: list[Any]) -> list[Any]:
            for c in v:
                if not isinstance(c, (str, dict)):
                    raise ValueError(f"each contrast is 'A vs B' or a mapping (got {c!r})")
            return v

    return File, ContrastModel


# -- locating errors in the YAML -------------------------------------------------------------------


def _line(node: Any, loc: Sequence[Any]) -> int | None:
    """1-based line of the YAML node at `loc` (the deepest one that exists)."""
    import yaml

    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if nxt is None:
                key = next((k for k, v in node.value if getattr(k, "value", None) == str(part)), None)
                return key.start_mark.line + 1 if key is not None else best
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        best = node.start_mark.line + 1
    return best


def _fail(path: Path, root: Any, loc: Sequence[Any], message: str) -> PolarisError:
    line = _line(root, loc)
    where = f"{path}:{line}" if line else str(path)
    field_ = ".".join(str(p) for p in loc)
    return PolarisError(f"{where}: {field_ + ': ' if field_ else ''}{message}")


_UNION_TAGS = {"str", "int", "float", "bool", "none", "list", "dict"}


def _pydantic_loc(loc: Sequence[Any]) -> list[Any]:
    # pydantic adds union member tags ("str", "int", "list[str]") to locations: not the user's fields.
    return [p for p in loc if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p))]


# -- loading -------------------------------------------------------------------------------------


def read_yaml(path: Path) -> tuple[Any, Any]:
    """(data, node tree) of an experiment file; syntax errors are one line with the position."""
    from polaris.userfiles import read_yaml as read

    data, root = read(path, "experiment file", nodes=True)
    if not isinstance(data, dict):
        raise PolarisError(f"{path}: an experiment file is a mapping (models:, tasks:, strategies:, ...)")
    return data, root


def load_experiment(path: str | Path, *, models: Sequence[str] = (), limit: int | None = None,
                    base_url: str | None = None, concurrency: int | None = None) -> Experiment:
    """Parse, validate and expand an experiment file; keyword arguments override the file."""
    from pydantic import ValidationError

    path = Path(path)
    data, root = read_yaml(path)
    if models:
        data["models"] = list(models)
    file_model, contrast_model = _models()
    where: list[Any] = []
    try:
        doc = file_model.model_validate(data)
        for i, c in enumerate(doc.contrasts):
            if isinstance(c, dict):
                where = ["contrasts", i]
                doc.contrasts[i] = contrast_model.model_validate(c)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = where + _pydantic_loc(err["loc"])
        got = f" (got {err['input']!r})" if err["type"] not in ("missing", "extra_forbidden") and not isinstance(
            err.get("input"), (dict, list)) else ""
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        raise _fail(path, root, loc, msg + got) from None
    return _expand(path, root, data, doc, limit, base_url, concurrency)


def _expand(path: Path, root: Any, data: dict[str, Any], doc: Any, limit: int | None, base_url: str | None,
            concurrency: int | None) -> Experiment:
    from polaris.prompts.render import Format
    from polaris.runner.sensitivity import exemplar_draws
    from polaris.tasks.registry import expand, get_task

    for i, m in enumerate(doc.models):
        if "/" not in m.strip("/"):
            raise _fail(path, root, ["models", i], f"'{m}' must be written <provider>/<model>, e.g. openai/gpt-4o-mini")
    for i, name in enumerate(doc.tasks):
        try:
            for t in expand([name]):
                get_task(t)
        except PolarisError as exc:
            raise _fail(path, root, ["tasks", i], str(exc)) from None
    tasks = expand(doc.tasks)
    lineages: dict[str, tuple[str, str | None]] = {}
    if uses_tuning(doc.contrasts):
        try:
            lineages = model_lineages(doc.models)
        except TuningError as exc:
            raise _fail(path, root, ["models", exc.index], str(exc)) from None
    for i, p in enumerate(doc.prompts):
        try:
            Format.parse(p)
        except PolarisError as exc:
            raise _fail(path, root, ["prompts", i], str(exc)) from None
    cells: list[ExperimentCell] = []
    for sname, st in doc.strategies.items():
        for model in doc.models:
            for task in tasks:
                for prompt in doc.prompts:
                    for seed, level in ((s, lv) for s in doc.seeds for lv in compute_axes.levels(doc)):
                        try:
                            base = CellSpec(
                                model=model, task=task, prompt=prompt, api=st.api, fewshot_as=st.fewshot_as,
                                exemplars=_exemplars(path, st.exemplars), exemplar_seed=seed, samples=st.samples,
                                temperature=st.temperature, top_p=st.top_p, seed=seed,
                                vote=st.vote, scoring=st.scoring, system=st.system,
                                think_tags=tuple(tuple(p) for p in st.think_tags), template=st.template,
                                **compute_axes.spec_values(st, level))
                            draws = exemplar_draws(base, st.exemplar_seeds)
                        except (PolarisError, ValueError) as exc:
                            raise _fail(path, root, ["strategies", sname], str(exc)) from None
                        for j, spec in enumerate(draws):
                            cells.append(ExperimentCell(model, task, prompt, sname, seed, spec,
                                                        j if len(draws) > 1 else None, *lineages.get(model, (None, None)),
                                                        tuple(level.items())))
    values = {"model": list(doc.models), "task": tasks,
              "prompt": list(doc.prompts), "strategy": list(doc.strategies), "seed": list(doc.seeds)}
    values.update(compute_axes.axis_values(doc))
    if lineages:
        values[TUNING] = list(TUNINGS)
    contrasts = [_contrast(path, root, i, c, values) for i, c in enumerate(doc.contrasts)]
    store = doc.store
    return Experiment(
        path=path, name=doc.name or path.stem, description=doc.description, cells=cells, contrasts=contrasts,
        limit=limit if limit is not None else doc.limit,
        concurrency=concurrency if concurrency is not None else doc.concurrency,
        base_url=base_url or doc.base_url,
        store=(path.parent / store) if store else None,
    )


def _exemplars(path: Path, value: str) -> str:
    """Exemplar files are named relative to the experiment file."""
    from polaris.prompts.exemplars import STRATEGIES

    if value in STRATEGIES:
        return value
    p = Path(value).expanduser()
    if not p.is_absolute() and (path.parent / p).exists():
        p = path.parent / p
    return str(p)


def _contrast(path: Path, root: Any, i: int, c: Any, values: dict[str, list[Any]]) -> Contrast:
    loc: list[Any] = ["contrasts", i]
    if isinstance(c, str):
        parts = re.split(r"\s+vs\.?\s+", c.strip())
        if len(parts) != 2:
            raise _fail(path, root, loc, f"write a contrast as 'A vs B' (got '{c}')")
        left, right = parts
        axes = [ax for ax in values if left in map(str, values[ax]) and right in map(str, values[ax])]
        if len(axes) != 1:
            where = "no axis" if not axes else f"several axes ({', '.join(axes)})"
            raise _fail(path, root, loc, f"'{left}' and '{right}' must both be values of one axis"
                                         f" (models, tasks, prompts, strategies, seeds or compute levels); found {where}")
        ax = axes[0]
        conv = (lambda v: int(v)) if ax in compute_axes.INT_AXES else (lambda v: v)
        return Contrast(c.strip(), {ax: conv(left)}, {ax: conv(right)})
    if c.a is not None:
        a, b = dict(c.a), dict(c.b)
    else:
        ax = next(ax for ax in (*AXES, TUNING) if getattr(c, ax) is not None)
        first, second = getattr(c, ax)
        a, b = {ax: first}, {ax: second}
    for side_name, side in (("a", a), ("b", b)):
        for ax, v in side.items():
            if ax in compute_axes.INT_AXES:
                try:
                    side[ax] = int(v)
                except (TypeError, ValueError):
                    raise _fail(path, root, [*loc, side_name, ax], f"{ax} is an integer (got {v!r})") from None
            if side[ax] not in values.get(ax, ()):
                known = ", ".join(map(str, values.get(ax, ())))
                raise _fail(path, root, [*loc, side_name, ax] if c.a is not None else [*loc, ax],
                            f"'{v}' is not one of the file's {ax}s ({known})")
    name = c.name or " vs ".join(",".join(str(v) for v in side.values()) for side in (a, b))
    return Contrast(name, a, b)
