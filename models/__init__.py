"""Model backends (one narrow interface), head sets, and the model registry."""
