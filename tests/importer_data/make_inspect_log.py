"""Write a real inspect_ai eval log: 3 GSM8K test questions, 2 epochs, scripted replies from mockllm."""
import json

import tiktoken

class _Words:  # tiktoken would download its encoding; this machine is offline and the counts are not used here
    def encode(self, text, **kwargs):
        return text.split()

tiktoken.get_encoding = lambda name: _Words()
from inspect_ai import Task, eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, get_model
from inspect_ai.scorer import match
from inspect_ai.solver import generate, prompt_template

rows = [json.loads(l) for l in open("test.jsonl")]
samples = [Sample(id=i + 1, input=r["question"], target=r["answer"].split("####")[-1].strip()) for i, r in enumerate(rows)]
replies = ["She sells 16 - 3 - 4 = 9 eggs for 9 * 2 = 18 dollars.\nANSWER: 18",
           "2 + 1 = 3 bolts.\nANSWER: 3",
           "The profit is 70000 dollars.\nANSWER: 70000",
           "ANSWER: 20",
           "I am not sure.",
           "ANSWER: 70,000"]
task = Task(dataset=samples, solver=[prompt_template("Solve this math problem step by step. End with ANSWER: N.\n\n{prompt}"), generate()],
            scorer=match(numeric=True), name="gsm8k")
for fmt in ("eval", "json"):
    model = get_model("mockllm/model", memoize=False, custom_outputs=[ModelOutput.from_content(model="mockllm/model", content=t) for t in replies])
    inspect_eval(task, model=model, epochs=2, log_dir=f"logs-{fmt}", log_format=fmt, display="none")
