"""`polaris experiment run --executor ray`: an experiment grid on a Ray cluster.

The grid's cells go to the runner's Ray executor (runner/ray_executor.py) one model at a time, all of
that model's cells at once, so small cells run side by side and large ones are sharded over every
worker. What makes a grid a grid holds as with the local executor:

- caching and resume: the driver plans every item against the one store first (finished items are
  never sent, partly sampled items draw only their missing samples) and alone writes the store;
- budget caps: every call a worker would send is admitted by the driver against the invocation's
  one `Budget` (`--max-tokens`, `--max-requests`), so the caps hold across workers; once they are
  reached no shard is sent and the command exits 3 with everything finished stored;
- leases: a model's cells are leased in the store while they run (`polaris experiment status`
  shows them as running).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

from polaris.experiments.run import CellOutcome, RunEnv, lease
from polaris.runner.executors import RayOptions, make_executor
from polaris.runner.runner import PreparedCell
from polaris.store.store import Store


class RayGridExecutor:
    def __init__(self, options: RayOptions = RayOptions()) -> None:
        from polaris.runner.ray_connect import import_ray

        import_ray(options.address, check_only=True)  # a missing Ray is one line before anything runs
        self.options = options

    async def run(self, cells: Sequence[PreparedCell], env: RunEnv) -> list[CellOutcome]:
        store = Store(env.store)
        outcomes: dict[int, CellOutcome] = {}
        try:
            async with make_executor("ray", env.options, concurrency=env.concurrency, ray=self.options) as executor:
                await executor.start(list(dict.fromkeys(c.spec.model for c in cells)))
                for model in dict.fromkeys(c.spec.model for c in cells):
                    positions = [i for i, c in enumerate(cells) if c.spec.model == model]
                    batch = [cells[i] for i in positions]
                    with ExitStack() as leases:
                        for run_id in dict.fromkeys(c.spec.run_id for c in batch):
                            leases.enter_context(lease(store, run_id))
                        runs = await executor.run(batch, store, bar=env.progress, budget=env.budget)
                    for i, res in zip(positions, runs):
                        state = "stopped" if res.stopped else "failed" if res.summary["errors"] else "done"
                        outcomes[i] = CellOutcome(cells[i], state, res.summary, res.stopped)
        finally:
            store.close()
        return [outcomes[i] for i in range(len(cells))]
