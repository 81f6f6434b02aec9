"""Enforcement policy: pure functions from scores + context to one action with reasons.

Kept apart from serving/ and models/ because policy versions change on a different clock
(integrity analysts tune thresholds weekly) and are evaluated offline as well as online.
"""
