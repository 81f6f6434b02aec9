"""Offline measurement and the learning loop: labeled sets through the service, metrics and
reports (leak rate, overkill), threshold calibration, policy A/B on the decision log, and head
retraining from reviewer verdicts. Kept apart from `serving/`: nothing here runs in a replica."""
