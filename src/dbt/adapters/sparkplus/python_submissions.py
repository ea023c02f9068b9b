"""Run compiled dbt Python models inside the dbt process's own SparkSession.

Why exec in-process rather than spark-submit a file: the SQL models of a ``session`` target
already live in this process's SparkSession, so the Python model sees the same Hive metastore,
warehouse, configs and executors (local or standalone cluster) with no second JVM, no second
Derby boot (which embedded Derby would refuse) and no serialisation of the code.
"""

from __future__ import annotations

import linecache
import sys
import traceback
from typing import Any

from dbt.adapters.base import PythonJobHelper
from dbt.adapters.spark.connections import SparkConnectionMethod
from dbt_common.exceptions import DbtRuntimeError

SESSION_METHOD = "session"


class PythonModelError(DbtRuntimeError):
    """A Python model raised: carries the model's own traceback."""


def python_targets_hint(model_name: str, method: str) -> str:
    """One sentence telling the user where Python models can run."""
    return (
        f"Python model '{model_name}' cannot run through the '{method}' connection method: "
        "run it with a session target on the same catalog (--target shared or --target "
        "cluster), or on Databricks (--target databricks)."
    )


def get_session(server_side_parameters: dict[str, str]) -> Any:
    """The process's SparkSession, created exactly as dbt-spark's session cursor does."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in server_side_parameters.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _model_traceback(filename: str) -> str:
    """The current exception's traceback, starting at the first frame of the model code."""
    exc_type, exc, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    start = next((i for i, frame in enumerate(frames) if frame.filename == filename), 0)
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames[start:])
    lines += traceback.format_exception_only(exc_type, exc)
    return "".join(lines)


def run_compiled_model(
    compiled_code: str, spark: Any, model_name: str, unique_id: str | None = None
) -> None:
    """Execute the compiled model (which writes its own table) with ``spark`` in scope."""
    filename = f"<dbt python model {unique_id or model_name}>"
    # linecache lets tracebacks print the offending source lines of the model.
    linecache.cache[filename] = (
        len(compiled_code),
        None,
        compiled_code.splitlines(keepends=True),
        filename,
    )
    namespace: dict[str, Any] = {"__name__": "__dbt_python_model__", "spark": spark}
    try:
        code = compile(compiled_code, filename, "exec")
        spark.sparkContext.setJobDescription(f"dbt python model {model_name}")
        exec(code, namespace)
    except Exception as exc:
        raise PythonModelError(
            f"Python model '{model_name}' failed:\n{_model_traceback(filename)}"
        ) from exc
    finally:
        spark.sparkContext.setJobDescription(None)


class SessionPythonJobHelper(PythonJobHelper):
    """Submission method ``session``: the model runs in the dbt process's SparkSession."""

    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.parsed_model = parsed_model
        self.credentials = credentials
        self.model_name = parsed_model.get("alias") or parsed_model.get("name", "?")
        method = str(getattr(credentials.method, "value", credentials.method))
        if method != SparkConnectionMethod.SESSION.value:
            raise DbtRuntimeError(python_targets_hint(self.model_name, method))

    def submit(self, compiled_code: str) -> None:
        spark = get_session(self.credentials.server_side_parameters)
        run_compiled_model(
            compiled_code, spark, self.model_name, self.parsed_model.get("unique_id")
        )
