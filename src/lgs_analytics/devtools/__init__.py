"""Tools for the people changing the project, not for its users: the gates of `make lint` and
pre-commit (`lint_checks`: YAML and the detect-secrets scan with the project's plugins in
`secret_plugins`; `docs_check`: documentation coverage), slim CI (`slim_ci`, `make slim-ci`),
and the import of a dbt Python model file for the unit tests and the benchmark
(`python_models`).
"""
