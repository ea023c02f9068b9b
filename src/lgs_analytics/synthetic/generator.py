"""Synthetic Online Retail II data with an exact ground-truth manifest.

``generate`` writes ``part-NNNNN.csv`` (or ``.parquet``) files shaped like the UCI export
and a ``_manifest.json`` with exact counts recomputed from the rows actually written.

How it stays fast and bounded: the calendar, catalogue and customers are built once; the
period is cut into time slices of a few hundred thousand rows, each simulated with
vectorised numpy (no Python per row, invoice or customer) and rendered to CSV with Arrow
string kernels, then streamed into part files. Each slice gets an exact row budget so the
total is exactly ``rows``. The 1-9 December 2010 slices are written twice in a row, as the
real file repeats them at the end of sheet one and the start of sheet two; they are
re-simulated from a snapshot of the state (same seed, same rows) rather than kept in memory.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from lgs_analytics.errors import UserError
from lgs_analytics.landing.folders import refuse_to_mix_synthetic
from lgs_analytics.landing.part_writer import CsvPartWriter, ParquetPartWriter
from lgs_analytics.landing.raw_layout import MANIFEST_NAME
from lgs_analytics.synthetic.campaigns import (
    CampaignPlan,
    CampaignTruth,
    plan_campaigns,
    write_assignments,
)
from lgs_analytics.synthetic.catalogue import build_catalogue
from lgs_analytics.synthetic.ground_truth import GroundTruth
from lgs_analytics.synthetic.invoice_batch import InvoiceBatch
from lgs_analytics.synthetic.malformed import MalformedLines
from lgs_analytics.synthetic.population import apportion, build_population
from lgs_analytics.synthetic.raw_text import PARQUET_SCHEMA, RawRenderer, line_blocks
from lgs_analytics.synthetic.shop_simulation import (
    FIRST_INVOICE_NUMBER,
    REAL_ROWS,
    ShopSimulation,
    invoice_numbers,
)
from lgs_analytics.synthetic.trading_calendar import (
    OVERLAP_END_DAY,
    OVERLAP_FIRST_DAY,
    TradingCalendar,
    build_calendar,
)

GENERATOR_VERSION = "1"
FORMATS = ("csv", "parquet")
_CATALOGUE_PRODUCTS = 4_640
_REAL_CUSTOMERS = 5_942
_REAL_CUSTOMER_ORDERS = 37_500  # orders of known customers in the real data
_SLICE_ROWS = 300_000  # rows simulated at once: bounds memory at any total size


@dataclass(frozen=True)
class TimeSlice:
    """Days [first_day, end_day) simulated together with an exact number of rows."""

    index: int
    first_day: int
    end_day: int
    rows: int
    overlap: bool  # written twice, like 1-9 December 2010 in the real file


def generate(
    out_dir: str | Path,
    rows: int = 1_067_371,
    seed: int = 42,
    fmt: str = "csv",
    malformed_share: float = 0.0,
    chunk_rows: int = 2_000_000,
    progress: bool = True,
    assignments_dir: str | Path | None = None,
) -> dict:
    """Writes part files + `_manifest.json` into out_dir (created; existing part-* files and
    manifest in it are removed first) and returns the manifest dict.

    The default campaigns (`synthetic.campaigns`) are simulated in every run and their
    exact effects recorded under ``campaigns`` in the manifest; their assignments, a CRM
    export, are written to ``assignments_dir`` when it is given.

    Refuses (UserError) a folder holding landed data: imported files, or data files the
    generator did not write; synthetic rows are never mixed with a shop's."""
    _validate(rows, seed, fmt, malformed_share, chunk_rows)
    out = Path(out_dir)
    refuse_to_mix_synthetic(out)
    if assignments_dir is not None:
        refuse_to_mix_synthetic(Path(assignments_dir))
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous_output(out)
    n_malformed = round(rows * malformed_share) if fmt == "csv" else 0
    calendar = build_calendar()
    simulation = _build_world(seed, rows, calendar)
    plan = plan_campaigns(np.random.default_rng([seed, 4]), simulation.population, calendar)
    simulation.campaign_orders = plan.orders
    slices = plan_slices(calendar, simulation.expected_lines_by_day(), rows - n_malformed)
    run = _Run(
        out=out,
        seed=seed,
        fmt=fmt,
        chunk_rows=chunk_rows,
        rows=rows,
        n_malformed=n_malformed,
        simulation=simulation,
        plan=plan,
    )
    with tqdm(total=rows, unit="rows", disable=not progress, delay=2.0, file=sys.stderr) as bar:
        run.execute(slices, bar)
    manifest = run.finish()
    if assignments_dir is not None:
        folder = Path(assignments_dir)
        write_assignments(folder, plan, simulation.population, seed)
        manifest["campaign_assignments"] = str(folder.resolve())
    _write_json(out / MANIFEST_NAME, manifest)
    return manifest


class GenerateArgumentError(UserError, ValueError):
    """A bad argument of ``generate``: a ValueError for callers, one sentence for `lgs`."""


def _validate(rows: int, seed: int, fmt: str, malformed_share: float, chunk_rows: int) -> None:
    if rows < 0:
        raise GenerateArgumentError(f"rows must be zero or more, got {rows}.")
    if seed < 0:
        raise GenerateArgumentError(f"seed must be zero or more, got {seed}.")
    if fmt not in FORMATS:
        raise GenerateArgumentError(f"fmt must be one of {FORMATS}, got {fmt!r}.")
    if not 0.0 <= malformed_share <= 1.0:
        raise GenerateArgumentError(
            f"malformed_share must be between 0 and 1, got {malformed_share}."
        )
    if malformed_share > 0 and fmt != "csv":
        raise GenerateArgumentError(
            "malformed rows only exist in CSV: use the csv format or a malformed share of 0."
        )
    if chunk_rows < 1:
        raise GenerateArgumentError(f"chunk_rows must be at least 1, got {chunk_rows}.")


def _remove_previous_output(out: Path) -> None:
    for path in [*out.glob("part-*"), out / MANIFEST_NAME]:
        if path.is_file():
            path.unlink()


def _build_world(seed: int, rows: int, calendar: TradingCalendar) -> ShopSimulation:
    """Catalogue and customers, scaled with the requested size (built once per run)."""
    scale = rows / REAL_ROWS
    catalogue = build_catalogue(
        np.random.default_rng([seed, 2]), _CATALOGUE_PRODUCTS, calendar.n_days
    )
    population = build_population(
        np.random.default_rng([seed, 3]),
        n_customers=max(1, round(_REAL_CUSTOMERS * scale)),
        calendar=calendar,
        n_themes=catalogue.n_themes,
        target_orders=_REAL_CUSTOMER_ORDERS * scale,
    )
    return ShopSimulation(calendar, catalogue, population, scale)


def plan_slices(calendar: TradingCalendar, expected: np.ndarray, readable: int) -> list[TimeSlice]:
    """Cut the period into slices and share ``readable`` rows out, counting overlap twice."""
    overlap_first = calendar.day_index(OVERLAP_FIRST_DAY)
    overlap_end = calendar.day_index(OVERLAP_END_DAY)
    parts = [(0, overlap_first, False), (overlap_first, overlap_end, True)]
    parts.append((overlap_end, calendar.n_days, False))
    weight = [float(expected[a:b].sum()) * (2 if twice else 1) for a, b, twice in parts]
    overlap_rows = int(readable * weight[1] / max(sum(weight), 1e-12)) // 2
    outer = apportion(readable - 2 * overlap_rows, np.array([weight[0], weight[2]]))
    part_rows = [int(outer[0]), overlap_rows, int(outer[1])]
    slices: list[TimeSlice] = []
    for (first, end, twice), total in zip(parts, part_rows, strict=True):
        for a, b, n in _split_part(expected, first, end, total):
            slices.append(TimeSlice(len(slices), a, b, n, twice))
    return slices


def _split_part(expected: np.ndarray, first: int, end: int, total: int):
    """Consecutive day ranges of about _SLICE_ROWS rows each, rows shared by expectation."""
    pieces = max(1, math.ceil(total / _SLICE_ROWS))
    cumulative = np.cumsum(expected[first:end])
    targets = cumulative[-1] * np.arange(1, pieces) / pieces
    cuts = first + 1 + np.searchsorted(cumulative, targets)
    bounds = np.unique(np.concatenate([[first], cuts.clip(first + 1, end), [end]]))
    ranges = list(itertools.pairwise(bounds.tolist()))
    sizes = [float(expected[a:b].sum()) + 1e-9 for a, b in ranges]
    rows = apportion(total, np.array(sizes))
    return [(a, b, int(n)) for (a, b), n in zip(ranges, rows, strict=True)]


class _Run:
    """State of one generation run: simulation state, writers, ground truth."""

    def __init__(
        self,
        *,
        out: Path,
        seed: int,
        fmt: str,
        chunk_rows: int,
        rows: int,
        n_malformed: int,
        simulation: ShopSimulation,
        plan: CampaignPlan,
    ) -> None:
        self.seed = seed
        self.fmt = fmt
        self.simulation = simulation
        world = (simulation.calendar, simulation.catalogue, simulation.population)
        self.renderer = RawRenderer(*world)
        self.truth = GroundTruth(simulation.catalogue, simulation.population)
        self.campaigns = CampaignTruth(plan, simulation.catalogue, simulation.population.size)
        self.n_readable = rows - n_malformed
        self.malformed = MalformedLines(
            seed=seed, n_malformed=n_malformed, n_readable=self.n_readable, world=world
        )
        if fmt == "csv":
            self.writer = CsvPartWriter(out, chunk_rows)
        else:
            self.writer = ParquetPartWriter(out, chunk_rows, PARQUET_SCHEMA)
        self.readable_written = 0

    def execute(self, slices: list[TimeSlice], bar: tqdm) -> None:
        """Simulate and write every slice; the overlap slices twice in a row."""
        state = (InvoiceBatch.empty(), FIRST_INVOICE_NUMBER)  # pending cancellations, next number
        overlap = [s for s in slices if s.overlap]
        for time_slice in slices:
            if overlap and time_slice is overlap[0]:
                snapshot = (state[0].copy(), state[1])
            state = self._emit(time_slice, *state, repeat=False)
            bar.update(time_slice.rows)
            if overlap and time_slice is overlap[-1]:
                replay = (snapshot[0].copy(), snapshot[1])
                for again in overlap:
                    replay = self._emit(again, *replay, repeat=True)
                    bar.update(again.rows)
                if replay[1] != state[1]:
                    raise RuntimeError("the overlap slices did not replay identically")
        self._write_malformed(self.malformed.due(self.n_readable, self.n_readable + 1))
        bar.update(len(self.malformed.positions))

    def _emit(self, time_slice: TimeSlice, pending, next_number: int, repeat: bool):
        rng = np.random.default_rng([self.seed, 1, time_slice.index])
        batch, pending = self.simulation.simulate(
            rng, time_slice.first_day, time_slice.end_day, time_slice.rows, pending
        )
        numbers, next_number = invoice_numbers(rng, batch.n_invoices, next_number)
        # Overlap slices are written twice: their exact bytes prove the copy is identical.
        if self.fmt == "csv":
            data, ends = line_blocks(self.renderer.csv_lines(batch, numbers))
            identity = data if time_slice.overlap else None
        else:
            table = self.renderer.arrow_table(batch, numbers)
            identity = _batch_identity(batch, numbers) if time_slice.overlap else None
        if repeat:
            self.truth.add_repeat(time_slice.index, batch, identity)
        else:
            self.truth.add_slice(time_slice.index, batch, numbers, identity)
            self.campaigns.add_slice(batch, self.simulation.last_campaign_tags)
        if self.fmt == "csv":
            self._write_lines(data, ends)
        else:
            self.writer.write(table)
        return pending, next_number

    def _write_lines(self, data: pa.Buffer, ends: np.ndarray) -> None:
        """Readable lines, with the broken lines due among them inserted at their places."""
        view = memoryview(data)
        start = self.readable_written
        done = 0
        for j in self.malformed.due(start, start + len(ends)):
            cut = int(self.malformed.positions[j]) - start
            self._write_range(view, ends, done, cut)
            self._write_malformed(range(j, j + 1))
            done = cut
        self._write_range(view, ends, done, len(ends))
        self.readable_written += len(ends)

    def _write_range(self, view: memoryview, ends: np.ndarray, first: int, stop: int) -> None:
        if stop > first:
            offset = int(ends[first - 1]) if first else 0
            self.writer.write(view[offset : int(ends[stop - 1])], ends[first:stop] - offset)

    def _write_malformed(self, indexes: range) -> None:
        for j in indexes:
            line = self.malformed.line(j)
            self.writer.write(line, np.array([len(line)]))

    def finish(self) -> dict:
        """Close the files and build the manifest."""
        files = self.writer.close()
        manifest = self.truth.manifest(self.fmt, self.seed, files, self.malformed.counts)
        manifest["campaigns"] = self.campaigns.manifest()
        return manifest


def _batch_identity(batch: InvoiceBatch, numbers: np.ndarray) -> bytes:
    """Bytes that determine every field of a slice (used to verify the overlap replay)."""
    arrays = [numbers, batch.day, batch.minute, batch.kind, batch.customer, batch.country]
    arrays += [batch.line_invoice, batch.product, batch.quantity, batch.price]
    arrays.append(batch.no_description)
    return b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)


def _write_json(path: Path, content: dict) -> None:
    """Write atomically so that a reader never sees half a manifest."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
