"""The ground floor: configuration, request/response schemas, errors, metrics and the decision store.

Everything else imports from here; this package imports nothing of the project's above it
(the import contracts in pyproject.toml, checked by `lint-imports` in `make test`).
"""
