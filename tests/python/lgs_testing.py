"""Helpers shared by the unit and end-to-end tests (importable: tests/python is on the path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOG4J = PROJECT_ROOT / "conf" / "log4j2.properties"


def load_python_model(relative_path: str) -> ModuleType:
    """Import a dbt Python model file (python_models/...) as a module for unit tests."""
    path = PROJECT_ROOT / relative_path
    spec = importlib.util.spec_from_file_location("dbt_model_" + path.stem, path)
    assert spec and spec.loader, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
