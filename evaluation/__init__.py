"""Offline measurement: labeled sets through the service, metrics and reports (leak rate,
overkill), threshold calibration into a new policy version, policy A/B by replaying the decision
log, and the real landing-page corpus (build and evaluation).

Kept apart from `serving/`: nothing here runs in a replica, and it depends on plotting and metrics
libraries the service does not need. Training the heads (from the public sets and from reviewer
verdicts) is models/training.py, run by `adrisk train-heads`; evaluation/ measures what it produces.
"""
