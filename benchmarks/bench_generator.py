"""Benchmark the synthetic data generator: rows per second, peak memory, and the machine.

    python benchmarks/bench_generator.py --rows 1067371
    python benchmarks/bench_generator.py --rows 100000000 --chunk-rows 2000000 --out /data/raw

Imports happen before the clock starts, so the time is the generation itself.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

try:
    from lgs_analytics.synthetic.generator import generate
except ModuleNotFoundError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lgs_analytics.synthetic.generator import generate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_067_371)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--chunk-rows", type=int, default=2_000_000)
    parser.add_argument("--malformed-share", type=float, default=0.0)
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary one)")
    return parser.parse_args(argv)


def machine() -> str:
    """Cores, memory, OS and Python of this machine."""
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{psutil.cpu_count(logical=True)} logical cores "
        f"({psutil.cpu_count(logical=False)} physical), {memory:.1f} GiB RAM, "
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.1f}' for x in psutil.getloadavg())}"
    )


class PeakRss:
    """Samples the resident set size in the background (ru_maxrss covers the whole process)."""

    def __init__(self, interval: float = 0.02) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)


def run(args: argparse.Namespace, out: Path) -> None:
    """Generate once and print the measurements."""
    baseline = psutil.Process().memory_info().rss
    with PeakRss() as sampler:
        started = time.perf_counter()
        manifest = generate(
            out,
            rows=args.rows,
            seed=args.seed,
            fmt=args.format,
            malformed_share=args.malformed_share,
            chunk_rows=args.chunk_rows,
            progress=True,
        )
        seconds = time.perf_counter() - started
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    written = sum((out / name).stat().st_size for name in manifest["files"])
    mib = 2**20
    print(f"machine: {machine()}")
    print(
        f"generate(rows={args.rows:,}, fmt={args.format}, chunk_rows={args.chunk_rows:,}, "
        f"malformed_share={args.malformed_share})"
    )
    print(
        f"time: {seconds:.2f} s, rate: {manifest['lines'] / seconds:,.0f} rows/s, "
        f"output: {written / mib:,.1f} MiB in {len(manifest['files'])} file(s)"
    )
    print(
        f"memory: RSS before {baseline / mib:,.0f} MiB, peak during {sampler.peak / mib:,.0f} MiB "
        f"(+{(sampler.peak - baseline) / mib:,.0f} MiB), process max RSS {max_rss / mib:,.0f} MiB"
    )
    print(
        f"manifest: {manifest['lines']:,} lines, {manifest['exact_duplicate_rows']:,} exact "
        f"duplicates, {manifest['malformed_total']:,} malformed, "
        f"{manifest['deduplicated']['invoices']:,} invoices, "
        f"{manifest['deduplicated']['customers']:,} customers"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.out is not None:
        run(args, args.out)
        return 0
    with tempfile.TemporaryDirectory(prefix="lgs-bench-") as folder:
        run(args, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
