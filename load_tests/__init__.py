"""Load tests: locust users for HTTP and gRPC over deterministic payloads (see run.py)."""
