"""Ray Serve deployments and the application graph."""
