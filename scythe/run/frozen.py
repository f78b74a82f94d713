"""Imported last in the fork server that spec processes come from: warms what every spec process
would otherwise build for itself, then moves every object into the garbage collector's permanent
generation (`gc.freeze`).

A forked child shares its parent's pages until it writes to them. Each spec process used to build
its own S3 client on its first request (botocore parses its ~2 MB S3 model: ~0.4 s of CPU and
~30 MB per process), and a collection writes to the header of every object it traverses, copying
the preloaded heap page by page. Measured with `scythe worker --processes 256` on 2 cores: the
first 1,023-spec run took 71.5 s (0.47 s of CPU per spec process, 16 GB of memory in use) where
later runs took 5.4 s. With the model loaded here, each still built its client (36 ms of CPU):
10.4 s for that first run, 3.7 s later; now each adopts the one built here (`build_for_children`),
and the first run takes 3.8 s.
"""

import contextlib
import gc

with contextlib.suppress(Exception):  # no boto3, or an odd environment: the children build their own
    from scythe.settings import get_settings
    from scythe.store import s3

    s3.build_for_children(get_settings().s3_endpoint_url)  # loads the model too, into boto3's caches

gc.freeze()
