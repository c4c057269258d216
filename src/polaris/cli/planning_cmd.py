"""`polaris planning`: make Blocksworld problems, solve them optimally and check plans, no model needed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from polaris.cli import app
from polaris.cli.display import plural
from polaris.errors import PolarisError

planning_app = typer.Typer(
    help="Blocksworld problems: generate PDDL problems, find optimal plans, validate plans.",
    no_args_is_help=True,
)
app.add_typer(planning_app, name="planning")


@planning_app.command("generate")
def generate_cmd(
    out: Path = typer.Option(..., "--out", help="Directory for instance-N.pddl, generated_domain.pddl and index.jsonl."),
    count: int = typer.Option(..., "--count", help="Number of problems, split evenly over the block counts."),
    blocks: str = typer.Option("3-5", "--blocks", help="Block counts: 4, 3-20 or 3,5,8."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same problems."),
    stratify: bool = typer.Option(True, "--stratify/--no-stratify", help="Balance optimal plan lengths within each block count."),
    force: bool = typer.Option(False, "--force", help="Overwrite problems already in --out."),
) -> None:
    """Write seeded random Blocksworld problems (PlanBench's format) with their optimal plan lengths."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from polaris.planning import domain_pddl, generate, to_pddl
    from polaris.planning.generate import parse_blocks

    sizes = parse_blocks(blocks)
    if count < 1:
        raise PolarisError("--count must be at least 1")
    if out.exists() and not out.is_dir():
        raise PolarisError(f"--out {out} is a file, not a directory")
    existing = sorted(out.glob("instance-*.pddl")) if out.is_dir() else []
    if existing and not force:
        raise PolarisError(f"{out} already has {len(existing)} problem files; choose another --out or pass --force")
    console = Console(stderr=True)
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("generate", total=None)
        instances = generate(sizes, count, seed, stratify=stratify, on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    out.mkdir(parents=True, exist_ok=True)
    for old in existing:
        old.unlink()
    (out / "generated_domain.pddl").write_text(domain_pddl(), encoding="utf-8")
    rows = []
    for k, inst in enumerate(instances, 1):
        name = f"instance-{k}.pddl"
        (out / name).write_text(to_pddl(inst.problem), encoding="utf-8")
        rows.append({"file": name, "blocks": inst.blocks, "optimal_length": inst.optimal_length, "optimal_plan": [str(a) for a in inst.plan], "seed": seed})
    (out / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    lengths = [r["optimal_length"] for r in rows]
    console.print(
        f"wrote {len(rows)} problems to {out} (blocks {sizes[0]}-{sizes[-1]}, optimal lengths "
        f"{min(lengths)}-{max(lengths)}, seed {seed})",
        highlight=False,
    )


@planning_app.command("solve")
def solve_cmd(
    problem: Path = typer.Argument(..., help="PDDL problem file (Blocksworld or Mystery names, or any with --domain-file)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    domain_file: Path = typer.Option(None, "--domain-file", help="PDDL domain, for problems in an obfuscated vocabulary."),
) -> None:
    """Print an optimal plan (PDDL action lines) and its length."""
    from polaris.planning import load_problem, solve

    prob, vocab = load_problem(problem, domain_file)
    start = time.perf_counter()
    plan = solve(prob)
    seconds = time.perf_counter() - start
    lines = None if plan is None else [f"({vocab.actions[a.op]} {' '.join(a.args)})" for a in plan]
    if json_out:
        print(json.dumps({
            "problem": str(problem), "blocks": prob.blocks,
            "optimal_length": None if lines is None else len(lines),
            "plan": lines,
            "seconds": round(seconds, 6),
        }))  # fmt: skip
    elif lines is None:
        print("; no plan: the goal cannot be reached")
    else:
        for line in lines:
            print(line)
        print(f"; cost = {len(lines)} (unit cost)")
    if plan is None:
        raise typer.Exit(1)


class _Checker:
    """Loads each problem once and solves it once, however many plans refer to it. Reads --domain-file
    once, when the first problem is loaded, so a bad domain file fails where it did before."""

    def __init__(self, domain_file: Path | None):
        self.domain_file = domain_file
        self.domain = None
        self.cache: dict[Path, tuple] = {}

    def problem(self, path: Path):
        from polaris.planning import load_domain, load_problem, optimal_length

        key = path.resolve()
        if key not in self.cache:
            if self.domain is None and self.domain_file is not None:
                self.domain = load_domain(self.domain_file)
            prob, vocab = load_problem(path, self.domain)
            self.cache[key] = (prob, vocab, optimal_length(prob))
        return self.cache[key]

    def check(self, path: Path, text: str, domain: str | None, strict: bool = False) -> dict:
        """Both readings of `text` judged against the problem; the headline is the flexible one (or --strict)."""
        from polaris.planning import Rendering, get_rendering, validate
        from polaris.planning.read import read_plan

        prob, vocab, best = self.problem(path)
        # Default: the problem file's own vocabulary (a Mystery file gets Mystery plans).
        rendering = get_rendering(domain) if domain else Rendering(vocab.name, vocab, pddl=False)
        reading = read_plan(text, rendering, prob)
        verdicts = {}
        for name, plan in (("flexible", reading.flexible), ("strict", reading.strict)):
            v = validate(prob, plan).to_json(best)
            if not plan.items:
                v["valid"], v["failure"] = False, _NO_PLAN
            verdicts[name] = v
        head, other = ("strict", "flexible") if strict else ("flexible", "strict")
        return verdicts[head] | {
            "reading": head,
            other: {k: verdicts[other][k] for k in ("valid", "actions", "failure", "length")},
            "statements": reading.statements,
            "plan_lines": list(reading.chosen) if reading.chosen else None,
            "lines": [line.to_json() for line in reading.lines],
        }


_NO_PLAN = {"kind": "no-plan", "step": None, "action": None, "detail": "no line of the response reads as an action"}


def _verdict_text(result: dict, best: int | None) -> str:
    if result["valid"]:
        return f"valid: {result['length']} actions (optimal {best})"
    f = result["failure"]
    where = f"step {f['step']}: {f['action']}: " if f["step"] is not None else ""
    return f"invalid ({f['kind']}): {where}{f['detail']}"


def _human(result: dict, lines: bool = False) -> str:
    """The headline verdict, the other reading's, and (for one plan) how each line was read."""
    other = "strict" if result["reading"] == "flexible" else "flexible"
    best = result["optimal_length"]
    if not lines:  # --batch: one line per plan
        return f"{_verdict_text(result, best)}  [{other}: {_verdict_text(result[other], best)}]"
    out = f"{_verdict_text(result, best)}\n  {other} reading: {_verdict_text(result[other], best)}"
    rows = [out, f"how each line was read (flexible reading; {plural(result['statements'], 'plan statement')} found):"]
    for line in result["lines"]:
        read = f"  -> {', '.join(line['read'])}" if line.get("read") else ""
        skipped = f"  (skipped: {line['skipped']})" if line.get("skipped") else ""
        rows.append(f"{line['line']:5d}  {line['how']:<15s} {line['text']}{read}{skipped}")
    return "\n".join(rows)


@planning_app.command("validate")
def validate_cmd(
    problem: Path = typer.Argument(None, help="PDDL problem file."),
    plan_file: Path = typer.Argument(None, help="The plan: PDDL action lines, or a model's text in any rendering."),
    domain: str = typer.Option(None, "--domain", help="Vocabulary of the plan text: blocksworld or mystery (or any rendering name); default: the problem file's."),
    batch: Path = typer.Option(None, "--batch", help='JSONL, one {"problem": PATH, "plan": TEXT, "domain": ...} per line.'),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (one object per plan)."),
    strict: bool = typer.Option(False, "--strict", help="Judge the strict reading (the plan in the prompt's format) instead of the flexible one."),
    domain_file: Path = typer.Option(None, "--domain-file", help="PDDL domain, for problems in an obfuscated vocabulary."),
) -> None:
    """Check a plan: is it executable, does it reach the goal, and if not exactly why.

    The text is read twice: flexibly (the plan the model meant, from free-form text; the headline)
    and strictly (the plan in the prompt's format). Both verdicts are printed, and for a single plan
    how each line was read. Exit code 1 when a single plan is invalid; with --batch, 0 once every
    line has a result.
    """
    from polaris.planning import get_rendering

    if domain is not None:
        get_rendering(domain)  # a bad name fails before any file is read
    checker = _Checker(domain_file)
    if batch is not None:
        if problem is not None or plan_file is not None:
            raise PolarisError("--batch takes no PROBLEM or PLAN_FILE arguments")
        for result in _batch(batch, checker, domain, strict):
            print(json.dumps(result) if json_out else _human(result))
        return
    if problem is None or plan_file is None:
        raise PolarisError("give PROBLEM and PLAN_FILE, or --batch FILE.jsonl")
    from polaris.userfiles import read_text

    result = checker.check(problem, read_text(plan_file, "plan file"), domain, strict)
    print(json.dumps(result) if json_out else _human(result, lines=True))
    if not result["valid"]:
        raise typer.Exit(1)


def _batch(path: Path, checker: _Checker, default_domain: str | None, strict: bool) -> list[dict]:
    """Check every row first (so a bad row fails before any output), then validate in order."""
    from polaris.planning import get_rendering
    from polaris.tasks.data import numbered_jsonl

    if not path.is_file():
        raise PolarisError(f"batch file {path} does not exist")
    rows = []
    for n, row in numbered_jsonl(path, required=("problem", "plan")):
        for key in ("problem", "plan"):
            if not isinstance(row[key], str):
                raise PolarisError(f"{path}:{n}: field '{key}' must be a string")
        dom = row.get("domain", default_domain)
        if dom is not None:
            if not isinstance(dom, str):
                raise PolarisError(f"{path}:{n}: field 'domain' must be a string")
            try:
                get_rendering(dom)
            except PolarisError as exc:
                raise PolarisError(f"{path}:{n}: field 'domain': {exc}") from None
        prob = Path(row["problem"])
        if not prob.is_absolute() and not prob.exists() and (path.parent / prob).exists():
            prob = path.parent / prob  # paths may be relative to the JSONL file
        if not prob.is_file():
            raise PolarisError(f"{path}:{n}: problem file {row['problem']} does not exist")
        try:
            checker.problem(prob)
        except PolarisError as exc:
            raise PolarisError(f"{path}:{n}: {exc}") from None
        rows.append((prob, row["plan"], dom))
    return [checker.check(prob, text, dom, strict) for prob, text, dom in rows]

