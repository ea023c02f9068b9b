"""Tools for the people changing the project, not for its users: the documentation gate of
`make lint` (`docs_check`), slim CI (`slim_ci`, `make slim-ci`), and the import of a dbt
Python model file for the unit tests and the benchmark (`python_models`).
"""
