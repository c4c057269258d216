"""Reading and writing PDDL for the 4-operator Blocksworld, in PlanBench's file layout.

A domain file is accepted when it *behaves* like 4-op Blocksworld under some renaming of actions and
predicates (that is how Mystery and obfuscated domains load); the renaming found becomes the
vocabulary the problem file is read with. Problem files in the Blocksworld or Mystery vocabulary load
without a domain file. Errors name the file and line: `instance-3.pddl:7: unknown object 'q'`.
"""

from __future__ import annotations

import re
from pathlib import Path

from polaris.errors import PolarisError
from polaris.planning.model import PRED_ARITY, Fact, Problem, state_facts, state_from_facts
from polaris.planning.vocab import BLOCKSWORLD, Vocabulary, _obfuscated, get_vocabulary, known_vocabularies


class Sym(str):
    """A lower-cased PDDL name (PDDL is case-insensitive) with its line and original spelling."""

    line: int
    orig: str


class Node(list):
    line: int


def _tokens(text: str, where: str):
    line = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == ";":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "()":
            yield c, line
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "();":
                j += 1
            yield text[i:j], line
            i = j


def parse_sexpr(text: str, where: str) -> Node:
    """The first top-level list of `text`, as nested `Node`s of `Sym`s carrying line numbers."""
    stack: list[Node] = []
    for tok, line in _tokens(text, where):
        if tok == "(":
            node = Node()
            node.line = line
            if stack:
                stack[-1].append(node)
            stack.append(node)
        elif tok == ")":
            if not stack:
                raise PolarisError(f"{where}:{line}: unbalanced ')'")
            done = stack.pop()
            if not stack:
                return done
        else:
            if not stack:
                raise PolarisError(f"{where}:{line}: unexpected '{tok}' outside parentheses")
            sym = Sym(tok.lower())
            sym.line = line
            sym.orig = tok
            stack[-1].append(sym)
    if stack:
        raise PolarisError(f"{where}:{stack[0].line}: '(' is never closed")
    raise PolarisError(f"{where}:1: no PDDL found (expected '(define ...)')")


def _sections(root: Node, where: str, kind: str) -> tuple[str, dict[str, Node]]:
    if not root or root[0] != "define" or len(root) < 2 or not isinstance(root[1], Node) or len(root[1]) != 2 or root[1][0] != kind:
        raise PolarisError(f"{where}:{root.line}: expected '(define ({kind} NAME) ...)'")
    sections: dict[str, Node] = {}
    for part in root[2:]:
        if not isinstance(part, Node) or not part or not isinstance(part[0], Sym) or not part[0].startswith(":"):
            raise PolarisError(f"{where}:{getattr(part, 'line', root.line)}: expected a ':section'")
        key = str(part[0])
        if key == ":action":
            sections.setdefault(":actions", Node()).append(part)
        else:
            sections[key] = part
    return getattr(root[1][1], "orig", str(root[1][1])), sections


def _untyped(items, where: str) -> list[Sym]:
    """Names from a list that may carry PDDL types (`a b - block`)."""
    out, skip = [], False
    for item in items:
        if not isinstance(item, Sym):
            raise PolarisError(f"{where}:{item.line}: expected a name, found a list")
        if skip:
            skip = False
        elif item == "-":
            skip = True
        else:
            out.append(item)
    return out


def _atoms(node, where: str) -> tuple[list[tuple], list[tuple]]:
    """(positive atoms, negated atoms) of a conjunction; atoms are tuples of Syms."""
    if not isinstance(node, Node) or not node:
        raise PolarisError(f"{where}:{getattr(node, 'line', 0)}: expected an atom or '(and ...)'")
    if node[0] == "and":
        pos, neg = [], []
        for part in node[1:]:
            p, q = _atoms(part, where)
            pos += p
            neg += q
        return pos, neg
    if node[0] == "not":
        if len(node) != 2 or not isinstance(node[1], Node) or not node[1] or node[1][0] in ("and", "not"):
            raise PolarisError(f"{where}:{node.line}: '(not ...)' must wrap one atom")
        return [], [tuple(node[1])]
    for item in node:
        if not isinstance(item, Sym):
            raise PolarisError(f"{where}:{node.line}: unsupported formula '({node[0]} ...)'")
    return [tuple(node)], []


# Blocksworld's operators with parameters x (index 0) and y (1): (pre, add, del) as (pred, *params).
_SEMANTICS = {
    "pick-up": ({("clear", 0), ("ontable", 0), ("handempty",)}, {("holding", 0)}, {("clear", 0), ("ontable", 0), ("handempty",)}),
    "put-down": ({("holding", 0)}, {("clear", 0), ("handempty",), ("ontable", 0)}, {("holding", 0)}),
    "stack": ({("clear", 1), ("holding", 0)}, {("handempty",), ("clear", 0), ("on", 0, 1)}, {("clear", 1), ("holding", 0)}),
    "unstack": ({("on", 0, 1), ("clear", 0), ("handempty",)}, {("holding", 0), ("clear", 1)}, {("on", 0, 1), ("clear", 0), ("handempty",)}),
}  # fmt: skip


def read_domain(text: str, where: str = "<domain>") -> Vocabulary:
    """The vocabulary of a domain file that is 4-op Blocksworld under some renaming."""
    name, sec = _sections(parse_sexpr(text, where), where, "domain")
    preds = sec.get(":predicates")
    if preds is None:
        raise PolarisError(f"{where}:1: no (:predicates ...) section")
    arity: dict[str, int] = {}
    for p in preds[1:]:
        if not isinstance(p, Node) or not p or not isinstance(p[0], Sym):
            raise PolarisError(f"{where}:{preds.line}: malformed predicate declaration")
        arity[str(p[0])] = len(_untyped(p[1:], where))
    actions = {}
    for act in sec.get(":actions", []):
        fields = {str(act[i]): act[i + 1] for i in range(2, len(act) - 1, 2)}
        params = [str(s) for s in _untyped(fields.get(":parameters", Node()), where)]
        pre, _ = _atoms(fields.get(":precondition", Node([Sym("and")])), where)
        add, dele = _atoms(fields.get(":effect", Node([Sym("and")])), where)
        actions[str(act[1])] = (act.line, params, pre, add, dele)
    by_arity = {k: sorted(p for p, a in arity.items() if a == k) for k in (0, 1, 2)}
    one = sorted(a for a, v in actions.items() if len(v[1]) == 1)
    two = sorted(a for a, v in actions.items() if len(v[1]) == 2)
    if [len(by_arity[k]) for k in (0, 1, 2)] != [1, 3, 1] or len(one) != 2 or len(two) != 2 or len(actions) != 4:
        raise PolarisError(f"{where}:1: not a 4-operator Blocksworld domain (expected 4 actions and 5 predicates)")
    pred = {"handempty": by_arity[0][0], "on": by_arity[2][0]}
    act = {}
    act["put-down"], act["pick-up"] = sorted(one, key=lambda a: len(actions[a][2]))
    act["unstack"], act["stack"] = sorted(two, key=lambda a: pred["on"] not in [x[0] for x in actions[a][2]])
    pred["holding"] = actions[act["put-down"]][2][0][0] if actions[act["put-down"]][2] else ""
    y = actions[act["stack"]][1][1]
    pred["clear"] = next((a[0] for a in actions[act["stack"]][2] if a[1:] == (y,)), "")
    rest = [p for p in by_arity[1] if p not in (pred["holding"], pred["clear"])]
    pred["ontable"] = rest[0] if len(rest) == 1 else ""
    back = {v: k for k, v in pred.items()}
    for op, name_ in act.items():
        line, params, pre, add, dele = actions[name_]

        def canon(atoms):
            return {(back.get(str(a[0]), "?"), *(params.index(str(x)) if str(x) in params else -1 for x in a[1:])) for a in atoms}

        if (canon(pre), canon(add), canon(dele)) != _SEMANTICS[op]:
            raise PolarisError(f"{where}:{line}: action '{name_}' does not behave like Blocksworld's {op}")
    for v in known_vocabularies():
        if v.actions == act and v.predicates == pred:
            return v
    return _obfuscated(name, name, "P", act, pred, str)


def read_problem(text: str, where: str = "<problem>", vocab: Vocabulary | None = None) -> tuple[Problem, Vocabulary]:
    """The problem and the vocabulary it is written in (detected when `vocab` is None)."""
    name, sec = _sections(parse_sexpr(text, where), where, "problem")
    for key in (":objects", ":init", ":goal"):
        if key not in sec:
            raise PolarisError(f"{where}:1: no ({key} ...) section")
    objects = tuple(str(o) for o in _untyped(sec[":objects"][1:], where))
    if len(set(objects)) != len(objects):
        raise PolarisError(f"{where}:{sec[':objects'].line}: an object is declared twice")
    init_atoms = [n for n in sec[":init"][1:]]
    goal_node = sec[":goal"]
    if len(goal_node) != 2:
        raise PolarisError(f"{where}:{goal_node.line}: expected one goal formula")
    goal_atoms, negated = _atoms(goal_node[1], where)
    if negated:
        raise PolarisError(f"{where}:{goal_node.line}: negative goals are not Blocksworld goals")
    for atom in init_atoms:
        if not isinstance(atom, Node) or not atom or not all(isinstance(x, Sym) for x in atom):
            raise PolarisError(f"{where}:{getattr(atom, 'line', sec[':init'].line)}: expected an atom in :init")
    if vocab is None:
        used = {str(a[0]) for a in init_atoms + goal_atoms}
        vocab = next((v for v in known_vocabularies() if used <= set(v.predicates.values())), None)
        if vocab is None:
            bad = sorted(used - set(BLOCKSWORLD.predicates.values()))[0]
            line = next(a[0].line for a in init_atoms + goal_atoms if a[0] == bad)
            raise PolarisError(f"{where}:{line}: unknown predicate '{bad}' (pass the domain file for obfuscated problems)")
    back = {v: k for k, v in vocab.predicates.items()}

    def facts(atoms) -> list[Fact]:
        out = []
        for a in atoms:
            pred = back.get(str(a[0]))
            if pred is None:
                raise PolarisError(f"{where}:{a[0].line}: unknown predicate '{a[0]}'")
            if len(a) - 1 != PRED_ARITY[pred]:
                raise PolarisError(f"{where}:{a[0].line}: '{a[0]}' takes {PRED_ARITY[pred]} argument(s), found {len(a) - 1}")
            for x in a[1:]:
                if x not in objects:
                    raise PolarisError(f"{where}:{x.line}: unknown object '{x}'")
            out.append((pred, *(str(x) for x in a[1:])))
        return out

    state = state_from_facts(facts(init_atoms), objects)
    if isinstance(state, str):
        raise PolarisError(f"{where}:{sec[':init'].line}: the initial state is not a Blocksworld state: {state}")
    return Problem(objects=objects, init=state, goal=tuple(dict.fromkeys(facts(goal_atoms))), name=name), vocab


def _read_source(source: str | Path) -> tuple[str, str]:
    """(text, name for errors): a Path or a path string is read; a string holding PDDL is used as is."""
    if isinstance(source, str) and re.search(r"\(\s*define\b", source, re.IGNORECASE):
        return source, "<pddl>"
    path = Path(source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolarisError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8"), str(path)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolarisError(f"{path}:{line}: not valid UTF-8") from None


def load_domain(source: str | Path) -> Vocabulary:
    text, where = _read_source(source)
    return read_domain(text, where)


def load_pddl(source: str | Path, domain: str | Path | Vocabulary | None = None) -> Problem:
    """A problem from a file or PDDL text; `domain` (file, text or vocabulary) for obfuscated names."""
    return load_problem(source, domain)[0]


def load_problem(source: str | Path, domain: str | Path | Vocabulary | None = None) -> tuple[Problem, Vocabulary]:
    """Like `load_pddl`, also returning the vocabulary the file is written in."""
    vocab = domain if isinstance(domain, Vocabulary) or domain is None else load_domain(domain)
    text, where = _read_source(source)
    return read_problem(text, where, vocab)


def atom(fact: Fact, vocab: Vocabulary) -> str:
    """A fact as a PDDL atom in the vocabulary's predicate names: (on a b)."""
    return "(" + " ".join((vocab.predicates[fact[0]], *fact[1:])) + ")"


def to_pddl(problem: Problem, vocab: Vocabulary | str = BLOCKSWORLD) -> str:
    """The problem in PlanBench's instance layout (`instance-N.pddl`), in the given vocabulary."""
    vocab = get_vocabulary(vocab) if isinstance(vocab, str) else vocab
    name = problem.name or f"{vocab.problem_prefix}-rand-{problem.blocks}"
    if name.startswith("BW-") and vocab.problem_prefix != "BW":
        name = vocab.problem_prefix + name[2:]
    init = "\n".join(atom(f, vocab) for f in state_facts(problem.init, problem.objects))
    goal = "\n".join(atom(f, vocab) for f in problem.goal)
    return (
        f"\n\n(define (problem {name})\n(:domain {vocab.domain_name})\n(:objects {' '.join(problem.objects)} )\n"
        f"(:init\n{init}\n)\n(:goal\n(and\n{goal})\n)\n)\n\n\n"
    )


def domain_pddl(vocab: Vocabulary | str = BLOCKSWORLD) -> str:
    """The domain in the layout of PlanBench's `generated_domain.pddl`, in the given vocabulary."""
    vocab = get_vocabulary(vocab) if isinstance(vocab, str) else vocab
    a, p = vocab.actions, vocab.predicates
    cl, ot, he, ho, on = p["clear"], p["ontable"], p["handempty"], p["holding"], p["on"]
    return (
        f"(define (domain {vocab.domain_name})\n  (:requirements :strips)\n"
        f"(:predicates ({cl} ?x)\n             ({ot} ?x)\n             ({he})\n"
        f"             ({ho} ?x)\n             ({on} ?x ?y))\n\n"
        f"(:action {a['pick-up']}\n  :parameters (?ob)\n"
        f"  :precondition (and ({cl} ?ob) ({ot} ?ob) ({he}))\n"
        f"  :effect (and ({ho} ?ob) (not ({cl} ?ob)) (not ({ot} ?ob))\n               (not ({he}))))\n\n"
        f"(:action {a['put-down']}\n  :parameters  (?ob)\n  :precondition ({ho} ?ob)\n"
        f"  :effect (and ({cl} ?ob) ({he}) ({ot} ?ob)\n               (not ({ho} ?ob))))\n\n"
        f"(:action {a['stack']}\n  :parameters  (?ob ?underob)\n"
        f"  :precondition (and ({cl} ?underob) ({ho} ?ob))\n"
        f"  :effect (and ({he}) ({cl} ?ob) ({on} ?ob ?underob)\n"
        f"               (not ({cl} ?underob)) (not ({ho} ?ob))))\n\n"
        f"(:action {a['unstack']}\n  :parameters  (?ob ?underob)\n"
        f"  :precondition (and ({on} ?ob ?underob) ({cl} ?ob) ({he}))\n"
        f"  :effect (and ({ho} ?ob) ({cl} ?underob)\n"
        f"               (not ({on} ?ob ?underob)) (not ({cl} ?ob)) (not ({he})))))\n"
    )
