"""The API: the review pipeline in stages (serving/stages/), the HTTP and gRPC mapping, the
OpenAI-compatible moderation endpoint, the decision log, rollouts, admission and API keys.

It imports no Ray: deployments/ wraps it in Ray Serve.
"""

__version__ = "0.1.0"
