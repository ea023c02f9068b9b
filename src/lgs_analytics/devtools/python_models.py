"""Import a dbt Python model file as a module, for its pure DataFrame functions.

A Python model cannot import another model or the project's code (dbt runs it alone), so
the unit tests and the benchmark load its file directly and call its functions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from lgs_analytics.runtime.paths import find_project_root


def load_python_model(relative_path: str) -> ModuleType:
    """The model file at `relative_path` (python_models/...) of this checkout, imported."""
    path = find_project_root(Path(__file__).parent) / relative_path
    spec = importlib.util.spec_from_file_location("dbt_model_" + path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
