"""Put this directory first on PYTHONPATH to run Python as if torch were not installed (the core
install): any import of torch (or a package that needs it) fails like a missing package."""

import sys

BLOCKED = ("torch", "transformers", "vllm")


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
