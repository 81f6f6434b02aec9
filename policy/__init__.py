"""Enforcement policy: per-category scores + context → one action with reasons.

decision.py applies a policy version (pure functions), fusion.py moves content scores by advertiser,
conversion, feedback and domain facts, and known_bad.py holds the known-bad bank: a stateful
in-memory index of the perceptual hashes of rejected creatives (hamming_index.py), kept in step
with the decision store.

Kept apart from serving/ and models/ because policy versions change on a different clock
(integrity analysts tune thresholds weekly) and are evaluated offline as well as online.
"""
