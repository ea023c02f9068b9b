"""Run the project's pandas reference pipeline on a raw folder and write its marts as parquet.

    .venv/bin/python benchmarks/pandas_reference.py --raw RAW_DIR --out OUT_DIR

A thin runner of ``lgs_analytics.reference.pipeline.run_reference``: everything in one
process and in memory, which is exactly what the benchmark wants to see grow with the data.
The marts (and the staging balance) are written like the plain PySpark script writes them,
so the two outputs can be compared table by table; ``_timings.json`` holds the times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

try:
    from lgs_analytics.reference.pipeline import STAGING_TABLES, run_reference
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lgs_analytics.reference.pipeline import STAGING_TABLES, run_reference


def staging_counts(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """raw rows = staged rows + removed duplicates + quarantined rows, one row."""
    transactions = tables["stg_transactions"]
    staged = len(transactions)
    removed = int(transactions["removed_duplicates"].sum())
    quarantined = len(tables["stg_quarantine"])
    return pd.DataFrame(
        {
            "raw_rows": [staged + removed + quarantined],
            "staged_rows": [staged],
            "removed_duplicates": [removed],
            "quarantined_rows": [quarantined],
        },
        dtype="int64",
    )


def run(raw_dir: Path, out_dir: Path) -> dict[str, object]:
    """Compute every table with pandas and write the marts; returns the timings."""
    started = time.perf_counter()
    tables = run_reference(raw_dir)
    compute_s = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"staging_counts": staging_counts(tables)}
    # The published tables; the staged rows themselves are not written (nor by the Spark floor).
    written.update({name: frame for name, frame in tables.items() if name not in STAGING_TABLES})
    write_started = time.perf_counter()
    for name, frame in written.items():
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
    timings = {
        "compute_s": round(compute_s, 3),
        "write_s": round(time.perf_counter() - write_started, 3),
        "total_s": round(time.perf_counter() - started, 3),
    }
    (out_dir / "_timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    return timings


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="raw landing folder (part-*.csv)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for parquet")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.raw, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
