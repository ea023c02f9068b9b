"""Write a stream of rows into ``part-NNNNN`` files of at most ``chunk_rows`` rows each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lgs_analytics.landing.raw_layout import CSV_HEADER, part_file_name


class CsvPartWriter:
    """Appends already-encoded lines, starting a new file (with header) every ``chunk_rows``.

    ``prefix`` goes before each file name (the importer's ``import-0002-``, so that files of
    different imports never share a name); ``durable`` fsyncs each file before closing it;
    ``header`` is the first line of each file (the Online Retail II header by default).
    """

    def __init__(
        self,
        out_dir: Path,
        chunk_rows: int,
        prefix: str = "",
        durable: bool = False,
        header: str = CSV_HEADER,
    ) -> None:
        self._out_dir = out_dir
        self._header = header.encode()
        self._chunk_rows = chunk_rows
        self._prefix = prefix
        self._durable = durable
        self._file: BinaryIO | None = None
        self._rows_in_file = 0
        self.files: list[str] = []

    def write(self, data: bytes | pa.Buffer | memoryview, line_ends: np.ndarray) -> None:
        """Write encoded lines; ``line_ends[i]`` is where line i ends inside ``data``."""
        view = memoryview(data)
        written = 0  # lines
        offset = 0  # bytes
        while written < len(line_ends):
            if self._file is None:
                self._open_next()
            take = min(self._chunk_rows - self._rows_in_file, len(line_ends) - written)
            end = int(line_ends[written + take - 1])
            self._file.write(view[offset:end])
            offset = end
            written += take
            self._rows_in_file += take
            if self._rows_in_file == self._chunk_rows:
                self._close_current()

    def close(self) -> list[str]:
        """Finish the last file; an empty run still gets one header-only file."""
        if self._file is None and not self.files:
            self._open_next()
        self._close_current()
        return self.files

    def _open_next(self) -> None:
        name = self._prefix + part_file_name(len(self.files), "csv")
        self.files.append(name)
        self._file = open(self._out_dir / name, "wb")  # noqa: SIM115 - closed in _close_current
        self._file.write(self._header)
        self._rows_in_file = 0

    def _close_current(self) -> None:
        if self._file is not None:
            if self._durable:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


class ParquetPartWriter:
    """Appends Arrow tables, starting a new Parquet file every ``chunk_rows`` rows."""

    def __init__(self, out_dir: Path, chunk_rows: int, schema: pa.Schema) -> None:
        self._out_dir = out_dir
        self._chunk_rows = chunk_rows
        self._schema = schema
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0
        self.files: list[str] = []

    def write(self, table: pa.Table) -> None:
        """Write the rows of ``table`` in order."""
        written = 0
        while written < table.num_rows:
            if self._writer is None:
                self._open_next()
            take = min(self._chunk_rows - self._rows_in_file, table.num_rows - written)
            self._writer.write_table(table.slice(written, take))
            written += take
            self._rows_in_file += take
            if self._rows_in_file == self._chunk_rows:
                self._close_current()

    def close(self) -> list[str]:
        """Finish the last file; an empty run still gets one file with the schema."""
        if self._writer is None and not self.files:
            self._open_next()
        self._close_current()
        return self.files

    def _open_next(self) -> None:
        name = part_file_name(len(self.files), "parquet")
        self.files.append(name)
        self._writer = pq.ParquetWriter(self._out_dir / name, self._schema)
        self._rows_in_file = 0

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
