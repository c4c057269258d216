"""Model metadata (size, training tokens, family, instruction tuning) and name matching.

Polaris ships `models.yaml` beside this module (format in its header). A user file is merged over
it field by field: the first of the `path` argument, `POLARIS_MODELS`, and `./models.yaml`. A user
entry whose key is a shipped name or alias updates that entry (e.g. adding `tokens:`); any other
key adds a model, which then needs `params` and `family`.

Matching a Polaris model name (`ModelTable.find`):
1. Drop a backend prefix: `openai/`, `hf/`, `vllm/`, `lab/`, `baseline/`
   (`hf/EleutherAI/pythia-160m` -> `EleutherAI/pythia-160m`).
2. Compare the rest, ignoring case, with every canonical name and alias.
3. Otherwise compare its last path segment with the last segment of every name and alias
   (`openai/meta-llama/Llama-3.1-8B-Instruct` served as `Llama-3.1-8B-Instruct`, or a local
   `hf/./ckpt/pythia-160m`). This step matches only when exactly one entry fits; several
   candidates are an error that lists them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError

BACKENDS = ("openai", "hf", "vllm", "lab", "baseline")
FIELDS = ("params", "family", "tokens", "instruct", "base", "aliases", "note")
_COUNT = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*([kmbt]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str  # canonical name
    params: float
    family: str
    tokens: float | None = None  # pre-training tokens, when published
    instruct: bool = False
    base: str | None = None  # canonical name of the model it was fine-tuned from
    aliases: tuple[str, ...] = ()
    note: str = ""
    source: str = ""  # the file the entry (or its last override) came from


def strip_backend(name: str) -> str:
    """`openai/x` -> `x`, `hf/org/m` -> `org/m`; other names unchanged."""
    head, sep, rest = name.strip().partition("/")
    return rest if sep and head.lower() in BACKENDS else name.strip()


def _last(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1].lower()


class ModelTable:
    """Model metadata by canonical name, with the matching rules of the module docstring."""

    def __init__(self, models: Mapping[str, ModelInfo]) -> None:
        self._models = dict(models)
        self._exact: dict[str, str] = {}
        for key, info in self._models.items():  # later entries (user file) shadow earlier ones
            for n in (key, *info.aliases):
                self._exact[n.lower()] = key

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __getitem__(self, name: str) -> ModelInfo:
        info = self.find(name)
        if info is None:
            raise PolarisError(f"no metadata for model '{name}': add it to a models.yaml")
        return info

    def find(self, name: str) -> ModelInfo | None:
        """The entry for a Polaris model name, or None; several partial matches are an error."""
        rest = strip_backend(name)
        key = self._exact.get(rest.lower())
        if key is not None:
            return self._models[key]
        last = _last(rest)
        hits = sorted({k for n, k in self._exact.items() if _last(n) == last})
        if len(hits) > 1:
            raise PolarisError(f"model '{name}' matches several entries ({', '.join(hits)}): use the full name")
        return self._models[hits[0]] if hits else None

    def family(self, family: str) -> list[ModelInfo]:
        """Entries of one family (case-insensitive), smallest first."""
        return sorted((m for m in self if m.family.lower() == family.lower()), key=lambda m: m.params)


def parse_count(value: Any) -> float:
    """7e9, 7000000000, "7B", "1.54B", "300M", "2T" -> a float; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        m = _COUNT.match(str(value))
        if not m:
            raise ValueError(f"expected a number like 7e9 or 7B, not {value!r}")
        number = float(m.group(1)) * _SCALE[m.group(2).lower()]
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"expected a positive number, not {value!r}")
    return number


def _fail(source: str, node: Any, message: str) -> PolarisError:
    return PolarisError(f"{source}: line {node.start_mark.line + 1}: {message}")


def _read_entries(text: str, source: str) -> dict[str, tuple[Any, dict[str, tuple[Any, Any]]]]:
    """name -> (key node, field -> (value, node)), with every shape error located by line."""
    import yaml

    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolarisError(f"{source}: {line}invalid YAML: {problem}") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise _fail(source, root, "expected a mapping with a 'models' key")
    models_node = None
    for k, v in root.value:
        if k.value == "prices":  # a price table (analysis/prices.py reads it)
            continue
        if k.value != "models":
            raise _fail(source, k, f"unknown top-level key '{k.value}' (expected 'models' or 'prices')")
        models_node = v
    if models_node is None or (isinstance(models_node, yaml.ScalarNode) and models_node.value in ("", "~", "null")):
        return {}
    if not isinstance(models_node, yaml.MappingNode):
        raise _fail(source, models_node, "'models' must map model names to their fields")
    constructor = yaml.SafeLoader("")
    entries: dict[str, tuple[Any, dict[str, tuple[Any, Any]]]] = {}
    first_line: dict[str, int] = {}
    for k, v in models_node.value:
        name = str(constructor.construct_object(k)).strip()
        if not name:
            raise _fail(source, k, "empty model name")
        if name.lower() in first_line:
            raise _fail(source, k, f"duplicate entry '{name}' (first at line {first_line[name.lower()]})")
        first_line[name.lower()] = k.start_mark.line + 1
        if not isinstance(v, yaml.MappingNode):
            raise _fail(source, v, f"model '{name}': expected fields (params, family, ...)")
        fields: dict[str, tuple[Any, Any]] = {}
        for fk, fv in v.value:
            if fk.value not in FIELDS:
                raise _fail(source, fk, f"model '{name}': unknown field '{fk.value}' (known: {', '.join(FIELDS)})")
            fields[fk.value] = (constructor.construct_object(fv, deep=True), fv)
        entries[name] = (k, fields)
    return entries


def _convert(name: str, field_name: str, value: Any, node: Any, source: str) -> Any:
    where = f"model '{name}' field '{field_name}'"
    if field_name in ("params", "tokens"):
        if field_name == "tokens" and value is None:
            return None
        try:
            return parse_count(value)
        except ValueError as exc:
            raise _fail(source, node, f"{where}: {exc}") from None
    if field_name == "instruct":
        if not isinstance(value, bool):
            raise _fail(source, node, f"{where}: expected true or false, not {value!r}")
        return value
    if field_name == "aliases":
        if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
            raise _fail(source, node, f"{where}: expected a list of names")
        return tuple(a.strip() for a in value)
    if field_name == "base" and value is None:
        return None
    if not isinstance(value, str) or (field_name == "family" and not value.strip()):
        raise _fail(source, node, f"{where}: expected text, not {value!r}")
    return value.strip()


def parse_models(text: str, source: str, shipped: Mapping[str, ModelInfo] | None = None) -> dict[str, ModelInfo]:
    """Entries of one models.yaml text, merged over `shipped` (see the module docstring)."""
    base = dict(shipped or {})
    table = ModelTable(base)
    out = dict(base)
    seen_alias: dict[str, str] = {}
    for name, (key_node, fields) in _read_entries(text, source).items():
        values = {f: _convert(name, f, v, node, source) for f, (v, node) in fields.items()}
        for alias in values.get("aliases", ()):
            other = seen_alias.setdefault(alias.lower(), name)
            if other != name:
                raise _fail(source, fields["aliases"][1], f"alias '{alias}' is also claimed by '{other}'")
        # A user key refines an existing entry when it is that entry's name or alias, or a bare
        # name (no '/') matching one entry's last segment; `org/name` keys are otherwise new models.
        key = table._exact.get(name.lower())
        if key is None and "/" not in name:
            try:
                hit = table.find(name)
            except PolarisError as exc:
                raise _fail(source, key_node, str(exc)) from None
            key = hit.name if hit is not None else None
        if key is not None:
            out[key] = replace(base[key], **values, source=source)
            continue
        for required in ("params", "family"):
            if required not in values:
                raise _fail(source, key_node, f"model '{name}': missing field '{required}'")
        out[name] = ModelInfo(name=name, source=source, **values)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolarisError(f"models file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolarisError(f"cannot read models file {path}: {exc}") from None


def shipped_models() -> dict[str, ModelInfo]:
    """The metadata shipped with Polaris."""
    path = Path(__file__).with_name("models.yaml")
    return parse_models(_read(path), "polaris/analysis/models.yaml")


def user_models_path(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The user's models.yaml: `path`, else POLARIS_MODELS, else ./models.yaml if it exists."""
    env = os.environ if env is None else env
    if path is not None:
        return Path(path).expanduser()
    if env.get("POLARIS_MODELS"):
        return Path(env["POLARIS_MODELS"]).expanduser()
    local = Path("models.yaml")
    return local if local.is_file() else None


def load_models(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> ModelTable:
    """Shipped metadata with the user's models.yaml (if any) merged over it."""
    models = shipped_models()
    user = user_models_path(path, env)
    if user is not None:
        models = parse_models(_read(user), str(user), models)
    return ModelTable(models)




# -- metadata from several places: plug-in sources first, then models.yaml -----------------------

Source = Callable[[str], "ModelInfo | None"]


def lab_source(name: str) -> ModelInfo | None:
    """Metadata of `lab/<name>` models from the emergence lab's own ladder index (`polaris.lab`),
    the shipped ladder, or the ladder directory a `lab/<path>` is in."""
    if not name.startswith("lab/"):
        return None
    from polaris import lab

    metadata = lab.models_metadata  # type: ignore[attr-defined]
    ref = Path(name[4:])
    for ladder in (None, ref.parent if len(ref.parts) > 1 else None):
        try:
            table = metadata(ladder) if ladder is not None else metadata()
        except (PolarisError, OSError, ValueError):
            continue
        entry = table.get(name)
        if entry is None and ladder is not None:
            want = ref.expanduser().resolve()
            entry = next((v for k, v in table.items() if Path(k[4:]).expanduser().resolve() == want), None)
        if entry is not None:
            try:
                params = parse_count(entry["params"])
            except (KeyError, ValueError):
                return None
            tokens = entry.get("training_tokens", entry.get("tokens"))
            detail = ", ".join(f"{k} {entry[k]}" for k in ("size", "seed", "steps") if entry.get(k) is not None)
            return ModelInfo(name=name, params=params, family=str(entry.get("family") or "polaris-lab"),
                             tokens=parse_count(tokens) if tokens else None,
                             instruct=bool(entry.get("instruction_tuned", entry.get("instruct", False))),
                             note=f"lab model ({detail})" if detail else "lab model", source="polaris.lab")
    return None


DEFAULT_SOURCES: tuple[Source, ...] = (lab_source,)


def missing_hint(name: str, option: bool = True) -> str:
    """How to add a model's metadata; `option`: the command has a --models option."""
    bare = strip_backend(name)
    how = "pass --models FILE (or set POLARIS_MODELS=FILE" if option else "set POLARIS_MODELS=FILE (or"
    return f"add it to a models.yaml ('models: {{{bare}: {{params: 7B, family: NAME}}}}') and {how}, or put" \
           " models.yaml in the working directory)"


class ModelCatalog:
    """Model metadata by Polaris model name: each source in turn (the lab's ladder for `lab/<name>`),
    then the models.yaml table (shipped + the user's). Lookups are memoised per catalog."""

    def __init__(self, table: ModelTable | None = None, sources: tuple[Source, ...] = DEFAULT_SOURCES) -> None:
        self.table = table if table is not None else load_models()
        self.sources = sources
        self._memo: dict[str, ModelInfo | None] = {}

    def find(self, name: str) -> ModelInfo | None:
        if name not in self._memo:
            info = next((i for i in (s(name) for s in self.sources) if i is not None), None)
            self._memo[name] = info if info is not None else self.table.find(name)
        return self._memo[name]

    def require(self, name: str, context: str = "") -> ModelInfo:
        info = self.find(name)
        if info is None:
            raise PolarisError(f"no metadata for model '{name}'{context}: {missing_hint(name)}")
        return info

    def lineage(self, info: ModelInfo) -> str | None:
        """The base model an entry descends from (itself for a base model): what pairs a base model
        with its instruction-tuned version. None for a tuned model whose base is unknown."""
        if not info.instruct:
            return info.name
        if info.base:
            base = self.table.find(info.base)
            return base.name if base is not None else info.base
        same = [m.name for m in self.table if not m.instruct and m.family == info.family and m.params == info.params]
        return same[0] if len(same) == 1 else None
