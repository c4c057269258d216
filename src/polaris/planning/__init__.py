"""Blocksworld planning: domain, generator, renderings, parser, validator, optimal solver, feedback.

The public API the Blocksworld tasks and `polaris planning` use:

    problems = generate(blocks=[3, 4, 5], count=100, seed=0)   # Instances with optimal plans
    problem = load_pddl("instance-1.pddl")                       # PlanBench files load as they are
    prompt = render_prompt(problem, "mystery", "one-shot", example=other)
    reading = read_plan(model_text, "mystery", problem)         # strict and flexible readings
    verdict = validate(problem, reading.flexible)                # valid? why not?
    text = feedback(verdict, "first", "mystery")                 # LLM-Modulo back-prompt
    plan = solve(problem)                                        # an optimal plan

Renderings: blocksworld, mystery, random-words:<seed>, random-tokens:<seed> (natural language) and
pddl, pddl-mystery, pddl-random-words:<seed>, pddl-random-tokens:<seed>. Prompt formats: one-shot,
zero-shot, zero-shot-cot. Everything is pure Python with no dependencies beyond the standard library.
"""

from polaris.planning.feedback import LEVELS, feedback
from polaris.planning.generate import Instance, generate, random_problem, random_state
from polaris.planning.model import Action, Fact, ParseIssue, Problem, State
from polaris.planning.parse import ParsedPlan, parse_plan
from polaris.planning.pddl import domain_pddl, load_domain, load_pddl, load_problem, to_pddl
from polaris.planning.read import LineReading, PlanReading, read_plan
from polaris.planning.render import PROMPT_FORMATS, SYSTEM_PROMPT, PlanningPrompt, plan_text, render_prompt
from polaris.planning.solver import optimal_length, solve
from polaris.planning.validate import Failure, Verdict, validate
from polaris.planning.vocab import Rendering, Vocabulary, get_rendering, get_vocabulary

__all__ = [
    "LEVELS",
    "PROMPT_FORMATS",
    "SYSTEM_PROMPT",
    "Action",
    "Fact",
    "Failure",
    "Instance",
    "LineReading",
    "ParseIssue",
    "ParsedPlan",
    "PlanReading",
    "PlanningPrompt",
    "Problem",
    "Rendering",
    "State",
    "Verdict",
    "Vocabulary",
    "domain_pddl",
    "feedback",
    "generate",
    "get_rendering",
    "get_vocabulary",
    "load_domain",
    "load_pddl",
    "load_problem",
    "optimal_length",
    "parse_plan",
    "plan_text",
    "random_problem",
    "random_state",
    "read_plan",
    "render_prompt",
    "solve",
    "to_pddl",
    "validate",
]
