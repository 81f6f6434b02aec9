"""The top floor: the `adrisk` command line and the launcher that starts a local cluster.

Nothing imports from here but the console script (`adrisk = commands.cli:main`), tests and benchmarks.
"""
