"""adrisk: multimodal ad-integrity risk scoring on Ray Serve."""

__version__ = "0.1.0"
