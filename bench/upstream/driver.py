"""One upstream scythe-engine run of N no-op specs, end to end: allocate → final/scalars.pq.

`python driver.py '{"n": 10000, "run_name": "...", "factor": 10, "max_depth": 0}'` (optionally
`"experiment": "sleep", "x": 0.5`) prints one
`BENCH-RESULT {json}` line (the parent's protocol, see bench/common.py).
"""

import io
import json
import sys
import time

import experiment as experiments
import pandas as pd
from scythe.utils.s3 import s3_client

from scythe.experiments import BaseExperiment
from scythe.scatter_gather import RecursionMap


def main() -> None:
    params = json.loads(sys.argv[1])
    n = params["n"]
    x = params.get("x")  # every spec's x (the sleep experiment's seconds), else its index
    specs = [
        experiments.PointInput(experiment_id="placeholder", sort_index=i, x=float(i) if x is None else x)
        for i in range(n)
    ]
    runnable = getattr(experiments, params.get("experiment", "noop"))
    experiment = BaseExperiment(runnable=runnable, run_name=params["run_name"])
    recursion = RecursionMap(factor=params["factor"], max_depth=params["max_depth"])
    started = time.perf_counter()
    run, ref = experiment.allocate(specs, version="bumpmajor", recursion_map=recursion)
    result = ref.result()
    seconds = time.perf_counter() - started
    uri = result.uris["scalars"]
    body = s3_client.get_object(Bucket=uri.host, Key=uri.path.lstrip("/"))["Body"].read()
    rows = len(pd.read_parquet(io.BytesIO(body)))
    print("BENCH-RESULT " + json.dumps({"seconds": seconds, "rows": rows, "prefix": run.prefix}), flush=True)


if __name__ == "__main__":
    main()
