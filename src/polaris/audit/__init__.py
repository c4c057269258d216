"""`polaris audit`: how well a stored run's answers were read.

- `rules.py`: from the store alone, pure over result rows and response texts: the outcomes, the items
  where the strict and the flexible extractor disagree, and the most common endings of responses
  from which no answer was read (where an extraction rule may be missing).
- `judge_model.py`: a judge model (any backend) reads each response and states the final answer it
  gives; the audit compares that reading with the rules' answer, and `--score-with judge` stores a
  run scored by the judge's readings instead. Not to be confused with `runner/judge.py`, which turns
  a solver's outputs into item results (extraction and the vote).
- `run.py`: per stored run, the rule audit and the judge's readings as one JSON-able document, and
  the judge-scored run (`--score-with judge`). `cli/audit_cmd.py` prints it.
"""
