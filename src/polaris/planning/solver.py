"""Exact optimal plans for Blocksworld by Blocksworld-specific reasoning (no state-space search).

The reasoning (Gupta & Nau 1992; Slaney & Thiebaux 2001), in "moves" (a move is a pick-up or
unstack followed by a put-down or stack, so a plan has 2 x moves actions, one fewer when it may
end holding a block, see `_lift`):

1. A block *must move* if it is not on its goal support, sits on a block that must move, sits on a
   block another block must go onto, or sits on a block that must end clear. Every such block moves
   at least once; no other block ever needs to move.
2. There is an optimal plan in which every block that must move moves once (straight to its final
   place: its goal support, or the table if it has none) or twice (first to the table). So the optimum
   is |must move| + |D|, where D is the smallest set of blocks that go to the table first.
3. A single-move plan needs an order of moves that respects: a block above x moves before x; x's
   goal support y reaches its final place before x goes onto it; whatever sits on y moves before x
   goes onto y. Cycles in these constraints are *deadlocks*. Sending a block c to the table first
   splits its move into an early "leave" (which the blocks below c and the block c's departure uncovers
   wait for) and a late "arrive" (which waits for c's goal support). D must break every cycle: a
   minimum hitting set, found exactly in `deadlock.py` (independent strongly connected components,
   branching on the blocks whose split breaks a cycle). Deadlocks are few and short, so this takes
   milliseconds at 20 blocks.

Anything outside these assumptions (a goal of holding a block) falls back to A* search (`search.py`).
A block held in the initial state is placed first, on the table or on its goal support, and each case
is solved as above. `tests/test_planning_solver.py` checks optimality against breadth-first search.
"""

from __future__ import annotations

from polaris.planning.deadlock import min_split, topological_order
from polaris.planning.model import TABLE, Action, Problem, State, unmet_goals

FREE = -3  # no goal support: the block may end anywhere
LIFT = -4  # destination of a final move that only picks the block up (ends the plan holding it)


def solve(problem: Problem) -> tuple[Action, ...] | None:
    """An optimal plan (fewest actions), or None when the goal cannot be reached."""
    goals = _goals(problem)
    if goals is None:
        return None
    target, clear_goal, holding_goal, handempty_goal = goals
    if holding_goal:
        from polaris.planning.search import astar

        return astar(problem)
    if not unmet_goals(problem.init, problem.goal, problem.objects):
        return ()  # already reached (even holding a block)
    held = problem.init.holding
    if held < 0:
        moves = _solve_moves(problem.init, target, clear_goal, handempty_goal)
        return None if moves is None else tuple(_to_actions(problem.init, moves, problem.objects))
    # Holding a block, the only applicable actions put it somewhere: on the table or (when it is
    # clear and may be covered) its goal support; any other block would be a detour via the table.
    best = None
    options = [TABLE]
    if target[held] >= 0:
        options.append(target[held])
    for dest in options:
        if dest >= 0 and (dest in problem.init.below or dest in clear_goal):
            continue
        below = list(problem.init.below)
        below[held] = dest
        state = State(tuple(below))
        moves = _solve_moves(state, target, clear_goal, handempty_goal)
        if moves is not None and (best is None or _cost(moves) < _cost(best[1])):
            best = (dest, moves, state)
    if best is None:
        return None
    dest, moves, state = best
    o = problem.objects
    first = Action("put-down", (o[held],)) if dest == TABLE else Action("stack", (o[held], o[dest]))
    return (first, *_to_actions(state, moves, o))


def _cost(moves: list[tuple[int, int]]) -> int:
    return sum(1 if dest == LIFT else 2 for _, dest in moves)


def optimal_length(problem: Problem) -> int | None:
    plan = solve(problem)
    return None if plan is None else len(plan)


def _goals(problem: Problem) -> tuple[list[int], set[int], bool, bool] | None:
    """Per-block goal support (block index, TABLE or FREE), blocks that must end clear, whether a
    block must end held, whether the hand must end empty; None when the goal contradicts itself
    (two supports, two blocks on one, a cycle, ...)."""
    index = {o: i for i, o in enumerate(problem.objects)}
    n = len(problem.objects)
    target = [FREE] * n
    clear_goal: set[int] = set()
    holding = [index[f[1]] for f in problem.goal if f[0] == "holding"]
    for f in problem.goal:
        if f[0] == "on" or f[0] == "ontable":
            x = index[f[1]]
            t = index[f[2]] if f[0] == "on" else TABLE
            if t == x or target[x] not in (FREE, t):
                return None
            target[x] = t
        elif f[0] == "clear":
            clear_goal.add(index[f[1]])
    onto = [t for t in target if t >= 0]
    if len(onto) != len(set(onto)) or any(t in clear_goal for t in onto):
        return None
    for x in range(n):  # goal supports must reach the table (or a free block) without a cycle
        seen, j = set(), x
        while target[j] >= 0:
            if j in seen:
                return None
            seen.add(j)
            j = target[j]
    handempty = any(f[0] == "handempty" for f in problem.goal)
    if holding and (len(set(holding)) > 1 or handempty):
        return None
    return target, clear_goal, bool(holding), handempty


def _must_move(below: tuple[int, ...], target: list[int], clear_goal: set[int]) -> list[bool]:
    n = len(below)
    onto = {t: x for x, t in enumerate(target) if t >= 0}
    must = [False] * n
    up = [-1] * n
    for i, b in enumerate(below):
        if b >= 0:
            up[b] = i
    for bottom in (i for i in range(n) if below[i] == TABLE):
        x = bottom
        while x >= 0:
            s = below[x]
            must[x] = (
                (target[x] != FREE and target[x] != s)
                or (s >= 0 and (must[s] or onto.get(s, x) != x or s in clear_goal))
            )
            x = up[x]
    return must


def _solve_moves(state: State, target: list[int], clear_goal: set[int], handempty_goal: bool) -> list[tuple[int, int]] | None:
    """Optimal moves (block, destination) from a hand-empty state, or None if unsolvable.

    Without a handempty goal the plan may end holding a block, which saves the last put-down when
    that block had to move only to uncover a block that must end clear (see `_lift`).
    """
    below = state.below
    n = len(below)
    must = _must_move(below, target, clear_goal)
    up = state.above()
    # Constraint edges between must-move blocks, as (from, to, kind) with the meaning
    # kind 1: from leaves before to leaves (from is on to); kind 2: from arrives before to arrives
    # (from is to's goal support); kind 3: from leaves before to arrives (from sits on to's goal support).
    edges: list[tuple[int, int, int]] = []
    for x in range(n):
        if not must[x]:
            continue
        s = below[x]
        if s >= 0 and must[s]:
            edges.append((x, s, 1))
        t = target[x]
        if t >= 0:
            if must[t]:
                edges.append((t, x, 2))
            w = up[t]
            if w >= 0 and w != x:
                edges.append((w, x, 3))
    movers = [x for x in range(n) if must[x]]
    splittable = {x for x in movers if target[x] >= 0 and below[x] >= 0}
    split = min_split(movers, edges, splittable)
    if split is None:
        return None
    order = topological_order(movers, edges, split)
    lift = None if handempty_goal else _lift(below, must, target, clear_goal)
    if lift is not None:
        order.remove(2 * lift)  # it has no outgoing constraints, so it can go last
        order.append(2 * lift)
    moves = []
    for node in order:
        x, phase = divmod(node, 2)
        if x == lift:
            moves.append((x, LIFT))
        elif x in split and phase == 0:
            moves.append((x, TABLE))
        else:
            moves.append((x, target[x] if target[x] != FREE else TABLE))
    return moves


def _lift(below, must: list[bool], target: list[int], clear_goal: set[int]) -> int | None:
    """A block worth ending the plan held: it has no goal of its own, nothing must go on it, and it
    must move only because the block under it (which stays) must end clear. Lifting it last is one
    action instead of two; only one block can end held, and only such a block gains from it."""
    targeted = {t for t in target if t >= 0}
    for x, s in enumerate(below):
        if (
            must[x] and s >= 0 and not must[s] and s in clear_goal
            and target[x] == FREE and x not in targeted and x not in clear_goal
        ):  # fmt: skip
            return x
    return None


def _to_actions(state: State, moves: list[tuple[int, int]], objects: tuple[str, ...]) -> list[Action]:
    below = list(state.below)
    out = []
    for x, dest in moves:
        s = below[x]
        out.append(Action("pick-up", (objects[x],)) if s == TABLE else Action("unstack", (objects[x], objects[s])))
        if dest == LIFT:
            continue
        out.append(Action("put-down", (objects[x],)) if dest == TABLE else Action("stack", (objects[x], objects[dest])))
        below[x] = dest
    return out


