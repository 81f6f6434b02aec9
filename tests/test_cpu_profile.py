"""The profiler charges each py-spy stack to the innermost frame that has a layer."""

from __future__ import annotations

from benchmarks.cpu_profile import OTHER, bucket, layer_of

RAW = "\n".join([
    # A Serve replica logging its access line: logging wins over the Serve wrapper that called it.
    "Thread.run (threading.py:982);Replica._wrap_request (ray/serve/_private/replica.py:2514);"
    "Logger.info (logging/__init__.py:1489) 7",
    # Our store called from the pipeline: the store, not the pipeline.
    "Ingress.review (deployments/ingress.py:210);Store.put (core/store.py:88);"
    "Connection.execute (sqlite3/dbapi2.py:1) 3",
    # Plumbing frames are skipped: the caller below them gets the sample.
    "handle (ray/serve/_private/router.py:1149);_GeneratorContextManager.__exit__ (contextlib.py:144) 2",
    # grpcio's Cython frames carry their source path.
    "_handle_call (src/python/grpcio/grpc/_cython/_cygrpc/aio/server.pyx.pxi:400) 4",
    "mystery (somewhere/else.py:1) 1",
    "not a sample line",
])


def test_stacks_go_to_the_innermost_named_layer():
    counts = bucket(RAW)
    assert counts["logging"] == 7
    assert counts["decision store (SQLite)"] == 3
    assert counts["Serve routing (handles, router, replica choice)"] == 2
    assert counts["gRPC server/channel"] == 4
    assert counts[OTHER] == 1
    assert sum(counts.values()) == 17


def test_a_stack_of_plumbing_only_is_other():
    assert layer_of(["Thread.run (threading.py:982)", "wrapper (functools.py:1)"]) == OTHER
