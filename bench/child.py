"""`python -m bench.child module:function '{json params}'`: one measurement, in a fresh process."""

from __future__ import annotations

import importlib
import json
import sys

from bench.common import emit


def main() -> None:
    target, params = sys.argv[1], json.loads(sys.argv[2])
    module, _, name = target.partition(":")
    emit(getattr(importlib.import_module(module), name)(**params))


if __name__ == "__main__":
    main()
