"""Task options (`-T name=value`) and model options (`-M name=value`) of `polaris run` and
`polaris experiment run`.

Common settings are flags; what only one task or one backend understands is a `-T` or `-M` pair, as in
inspect_ai. Each name is checked against the tasks and models of the command, and a wrong one is a
one-line error listing the valid names. `polaris tasks TASK` lists a task's options, docs/backends.md
the backends'. The flags these replaced (`--blocks`, `--device`, `--timeout`, ...) still work in 0.1,
hidden from the help and with a deprecation warning; they go in 0.2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from polaris.errors import PolarisError

REMOVED_IN = "0.2"


@dataclass(frozen=True)
class Opt:
    name: str  # as typed after -T / -M: "instance-seed"
    kind: str  # "int" | "float" | "str" | "bool" | "path"
    default: str  # as shown in `polaris tasks TASK` and the docs
    help: str
    low: float | None = None  # smallest value a number may take
    choices: tuple[str, ...] = ()

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")


PLANNING_OPTIONS = (
    Opt("blocks", "str", "3-5", "block counts: a count, a range or a list (4, 3-5, 3,5,8); default PlanBench's"),
    Opt("instances", "int", "100", "problems per block count", low=1),
    Opt("instance-seed", "int", "0", "seed of the generated problems", low=0),
    Opt("instances-dir", "path", "-", "read PlanBench instance-N.pddl files from this directory instead"),
    Opt("obfuscation", "str", "tokens", "blocksworld/random*: random names as tokens or words, optionally :SEED"),
    Opt("verifier-rounds", "int", "0", "LLM-Modulo back-prompting rounds after the first answer", low=0),
    Opt("feedback", "str", "first", "what the verifier tells the model each round: binary | first | all",
        choices=("binary", "first", "all")),
)
TEMPLATE = Opt("template", "str", "-", "Lu et al.'s multiple-choice template (direct formats, their exact-match"
               " scoring): open | closed | closed-adv", choices=("open", "closed", "closed-adv"))
TEMPLATE_FAMILIES = ("mmlu", "bbh")  # multiple choice (bbh: its option tasks; prepare() checks the items)

OPENAI_OPTIONS = (
    Opt("timeout", "float", "600", "seconds an attempt may wait with nothing from the server", low=0.1),
    Opt("stall-timeout", "float", "30", "seconds of silence before a streamed response counts as stalled", low=0.1),
    Opt("max-attempts", "int", "8", "attempts per request before it counts as an error", low=1),
    Opt("backoff", "float", "0.5", "first retry backoff in seconds (doubles, jittered)", low=0.0),
    Opt("stream", "bool", "true", "stream responses (false for servers that stream badly)"),
    Opt("budget-param", "str", "thinking_token_budget", "how --thinking-budget is sent: thinking_token_budget"
        " (vLLM) | custom_params (SGLang) | chat_template_kwargs",
        choices=("thinking_token_budget", "custom_params", "chat_template_kwargs")),
)
DTYPE = Opt("dtype", "str", "auto", "auto | float32 | float16 | bfloat16",
            choices=("auto", "float32", "float16", "bfloat16"))
MODEL_OPTIONS: dict[str, tuple[Opt, ...]] = {
    "openai": OPENAI_OPTIONS,
    "hf": (Opt("device", "str", "cuda if available, else cpu", "torch device: cpu, cuda, cuda:1, ..."), DTYPE,
           Opt("batch-size", "int", "16 on CPU, 64 on GPU", "sequences per forward pass", low=1)),
    "vllm": (Opt("tp", "int", "1", "tensor-parallel GPUs", low=1), DTYPE),
}
RAY_OPTIONS = (  # with --executor ray (docs/scale.md)
    Opt("ray-address", "str", "$RAY_ADDRESS, else a local Ray", "Ray cluster HOST:PORT"),
    Opt("ray-workers", "int", "one per GPU or CPU", "Ray workers (actors) per model", low=1),
    Opt("ray-shard-size", "int", "about four shards per worker", "items per shard sent to a worker", low=1),
)
BACKEND_FIELDS = {"tp": "tensor_parallel"}  # -M name -> BackendOptions field, where they differ


def pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    """["blocks=3-5", "instances=20"] -> {"blocks": "3-5", "instances": "20"}; one-line errors."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        name = name.strip().replace("_", "-")
        if not sep or not name:
            raise PolarisError(f"{flag} '{v}': expected NAME=VALUE, e.g. {flag} "
                               + ("blocks=3-5" if flag == "-T" else "device=cuda"))
        if name in out and out[name] != value:
            raise PolarisError(f"{flag} {name} is given twice ({out[name]!r} and {value!r})")
        out[name] = value
    return out


def convert(opt: Opt, value: Any, flag: str) -> Any:
    """A value typed as the option wants it; one-line error naming `flag name=value`."""
    where = f"{flag} {opt.name}={value}"
    if opt.kind in ("str", "path"):
        text = str(value)
        if opt.choices and text not in opt.choices:
            raise PolarisError(f"{where}: choose from {', '.join(opt.choices)}")
        return text
    if opt.kind == "bool":
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise PolarisError(f"{where}: expected true or false")
    try:
        number: float = int(value) if opt.kind == "int" else float(value)
    except (TypeError, ValueError):
        raise PolarisError(f"{where}: expected {'a whole number' if opt.kind == 'int' else 'a number'}") from None
    if not math.isfinite(number):
        raise PolarisError(f"{where}: must be a finite number")
    if opt.low is not None and number < opt.low:
        raise PolarisError(f"{where}: must be at least {opt.low:g}")
    return number


def task_opts(name: str, task: Any) -> tuple[Opt, ...]:
    """The -T options of a task (`task` = get_task(name))."""
    own = tuple(o for o in PLANNING_OPTIONS if o.field in task.options)
    mc = (TEMPLATE,) if name.split("/", 1)[0] in TEMPLATE_FAMILIES else ()
    return own + mc


def _names(opts: Iterable[Opt]) -> str:
    return ", ".join(o.name for o in opts) or "none"


def task_values(name: str, task: Any, given: Mapping[str, str]) -> dict[str, Any]:
    """The -T pairs for one task, typed: {field: value}; a name the task lacks is a one-line error."""
    opts = {o.name: o for o in task_opts(name, task)}
    out = {}
    for key, value in given.items():
        if key not in opts:
            raise PolarisError(f"-T {key}: task '{name}' has " + (f"no option '{key}' (its options: {_names(opts.values())};"
                                                                   f" `polaris tasks {name}`)" if opts else "no options"))
        out[opts[key].field] = convert(opts[key], value, "-T")
    return out


def flag_text(message: str) -> str:
    """An error message of a task or a backend (written for the old --flags) in the -T / -M form:
    "--blocks '3-': ..." -> "-T blocks=3-: ...", "--feedback needs --verifier-rounds" -> "-T feedback needs
    -T verifier-rounds", "--device cuda: no CUDA GPU" -> "-M device=cuda: no CUDA GPU"."""
    flags = {o.name: "-T" for o in (*PLANNING_OPTIONS, TEMPLATE)}
    flags |= {o.name: "-M" for opts in (*MODEL_OPTIONS.values(), RAY_OPTIONS) for o in opts}
    names = "|".join(sorted(flags, key=len, reverse=True))

    def new(m: re.Match[str]) -> str:
        value = m.group(2) if m.group(2) is not None else m.group(3)
        return f"{flags[m.group(1)]} {m.group(1)}" + (f"={value}" if value is not None else "")

    return re.sub(rf"--({names})(?![\w-])(?: '([^']*)'| ([^\s')]+)(?=:| asks | is | needs |\)))?", new, message)


def providers(models: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(m.partition("/")[0] for m in models))


def model_values(given: Mapping[str, str], models: Sequence[str], executor: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The -M pairs, typed and checked against the backends of `models` (and Ray's with
    `--executor ray`): ({BackendOptions field: value}, {RayOptions field: value})."""
    valid: dict[str, Opt] = {}
    for p in providers(models):
        valid.update({o.name: o for o in MODEL_OPTIONS.get(p, ())})
    ray = {o.name: o for o in RAY_OPTIONS}
    out: dict[str, Any] = {}
    on_ray: dict[str, Any] = {}
    for key, value in given.items():
        if key in ray and key not in valid:
            if executor != "ray":
                raise PolarisError(f"-M {key} needs --executor ray")
            on_ray[ray[key].field.removeprefix("ray_")] = convert(ray[key], value, "-M")
            continue
        if key not in valid:
            kinds = "; ".join(f"{p}/: {_names(MODEL_OPTIONS.get(p, ()))}" for p in providers(models))
            if executor == "ray":
                kinds += f"; --executor ray: {_names(RAY_OPTIONS)}"
            raise PolarisError(f"-M {key}: not an option of the models given ({kinds}; docs/backends.md)")
        out[BACKEND_FIELDS.get(key, valid[key].field)] = convert(valid[key], value, "-M")
    return out, on_ray


def deprecated(old: Mapping[str, Any], flag: str, warn: Any) -> dict[str, str]:
    """Old flags given as {"--blocks": value}: a warning naming the new form, and the pairs they stand for."""
    out = {}
    for name, value in old.items():
        if value is None or value is False:
            continue
        key = name.removeprefix("--")
        if key == "no-stream":
            key, value = "stream", "false"
        text = str(value)
        warn(f"{name} is deprecated: use {flag} {key}={text} (the old flags go in {REMOVED_IN})")
        out[key] = text
    return out


def merge(new: dict[str, str], old: Mapping[str, str], flag: str) -> dict[str, str]:
    for key, value in old.items():
        if key in new and new[key] != value:
            raise PolarisError(f"{flag} {key}={new[key]} and the deprecated --{key} {value} disagree")
        new.setdefault(key, value)
    return new
