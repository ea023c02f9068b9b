"""The RFM transition marts (DEFINITIONS §6) in plain PySpark, for the benchmark's floor.

Used by ``plain_pyspark_marts.py`` (``--marts all``): ``customer_rfm_month_end`` and
``rfm_segment_transitions`` by calling the functions of the dbt Python models themselves
(``python_models/rfm/``), with the settings of ``dbt_project.yml``'s vars.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from pyspark.sql import DataFrame


def rfm_transition_marts(
    sales_lines: DataFrame,
    segment_map: DataFrame,
    segments: DataFrame,
    load_model: Callable[[str], ModuleType],
    variables: dict[str, Any],
) -> dict[str, Callable[[], DataFrame]]:
    """The two marts as builders; the month-end scores are persisted once built."""
    # customer_rfm_month_end.py is a link to this file: the same functions.
    scores_model = load_model("python_models/rfm/customer_rfm_scores.py")
    transitions_model = load_model("python_models/rfm/rfm_segment_transitions.py")
    lapsed_months = transitions_model.parse_lapsed_months(variables["rfm_lapsed_months"])
    built: dict[str, DataFrame] = {}

    def month_end() -> DataFrame:
        if "month_end" not in built:
            frame = scores_model.customer_rfm_month_end(sales_lines, segment_map)
            built["month_end"] = frame.persist()
        return built["month_end"]

    return {
        "customer_rfm_month_end": month_end,
        "rfm_segment_transitions": lambda: transitions_model.segment_transitions(
            month_end(), segments, lapsed_months
        ),
    }
