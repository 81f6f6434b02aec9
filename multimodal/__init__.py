"""Safe decoding of untrusted inputs: images, video frames, OCR, landing-page HTML (bounded parse,
signals), SSRF-safe fetching (fetch.py, url_rules.py), perceptual hashes and text normalisation.

Every decoder checks its limits before it does the expensive work and fails with a reason, never
with an unbounded cost. Only core/ lies below it (the import contracts in pyproject.toml).
"""
