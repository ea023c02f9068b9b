"""`lgs`: the project's command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lgs_analytics.cli_types import non_negative_int, port, positive_int, share
from lgs_analytics.errors import UserError
from lgs_analytics.runtime.export import LAYERS as EXPORT_LAYERS
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.runtime.spark_session import TARGET_ENV, default_target
from lgs_analytics.services.cli import add_commands

DEFAULT_ROWS = 1_067_371


def _cmd_build(args: argparse.Namespace) -> int:
    from lgs_analytics.runtime.build import main_job

    return main_job(
        ProjectPaths.discover(),
        target=args.target,
        rows=args.rows,
        seed=args.seed,
        force=args.force,
        full_refresh=args.full_refresh,
        docs=not args.skip_docs,
        report=not args.skip_report,
        unit_tests=args.unit_tests,
    )


def _cmd_generate(args: argparse.Namespace) -> int:
    from lgs_analytics.synthetic.generator import generate

    if args.format != "csv" and args.malformed_share > 0:
        raise UserError("--malformed-share applies to CSV only: drop it or use --format csv.")
    paths = ProjectPaths.discover()
    out = Path(args.out) if args.out else paths.raw
    # The campaign assignments (a CRM export) land in their own source's folder.
    campaigns = Path(args.campaigns_out) if args.campaigns_out else None
    if campaigns is None:
        campaigns = Path(out).parent / "campaign_assignments" if args.out else paths.campaigns
    try:
        manifest = generate(
            out,
            rows=args.rows,
            seed=args.seed,
            fmt=args.format,
            malformed_share=args.malformed_share,
            chunk_rows=args.chunk_rows,
            assignments_dir=campaigns,
        )
    except OSError as error:
        raise UserError(
            f"Writing synthetic files into {out} failed ({error}): check the folder's "
            "permissions and free space."
        ) from error
    print(f"Wrote {manifest['lines']:,} rows in {len(manifest['files'])} file(s) to {out}.")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from lgs_analytics.landing.importer import (
        CAMPAIGN_ASSIGNMENTS,
        ONLINE_RETAIL_II,
        import_real,
        source_of,
    )

    paths = ProjectPaths.discover()
    # A CRM export of campaign assignments is recognised by its header (the first file's).
    source = source_of(args.inputs[0]) if args.inputs else ONLINE_RETAIL_II
    default = paths.campaigns if source == CAMPAIGN_ASSIGNMENTS else paths.raw
    out = Path(args.out) if args.out else default
    entry = import_real(
        args.inputs, out, replace=args.replace, state_dir=paths.state, source=source
    )
    print(
        f"Imported {entry['rows']:,} rows from {len(args.inputs)} file(s) into {out} as "
        f"import {entry['import']} ({len(entry['files'])} new file(s), recorded in "
        f"{Path(out) / '_manifest.json'})."
    )
    if args.replace:
        print(
            "Every file landed before was replaced and staging still holds their rows: "
            "the next build must be `lgs build --full-refresh`."
        )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from lgs_analytics.runtime.export import export_tables

    written = export_tables(
        ProjectPaths.discover(), Path(args.out), args.tables, args.target, args.layers
    )
    for name, path in written.items():
        print(f"{name}\t{path}")
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    import json

    from lgs_analytics.runtime.spark_session import get_session, query_failure

    paths = ProjectPaths.discover()
    spark = get_session(paths, args.target, app_name="lgs-sql")
    try:
        rows = spark.sql(args.query).limit(args.limit).collect()
    except Exception as failure:
        problem = query_failure(spark, paths, args.target, failure)
        if problem is None:
            raise
        raise problem from failure
    for row in rows:
        print(json.dumps(row.asDict(recursive=True), default=str))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from lgs_analytics.report.loading import write_report

    print(write_report(ProjectPaths.discover(), target=args.target))
    return 0


def _cmd_docs_serve(args: argparse.Namespace) -> int:
    from lgs_analytics.runtime.docs_site import serve_docs

    return serve_docs(ProjectPaths.discover(), port=args.port)


def _cmd_doctor(_: argparse.Namespace) -> int:
    from lgs_analytics.runtime.environment import check_java

    print(f"Java {check_java()} found.")
    return 0


def _cmd_jvm_archive(args: argparse.Namespace) -> int:
    from dbt.adapters.sparkplus.class_sharing import archive_path
    from lgs_analytics.runtime.environment import check_java
    from lgs_analytics.runtime.jvm_archive import ensure

    check_java()
    if archive_path() is None:
        print("Class-data sharing is off (LGS_JVM_ARCHIVE).")
        return 0
    path = ensure(force=args.force)
    if path is not None and not args.force:
        print(f"Spark class archive: {path}")
    return 0 if path is not None else 1


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    """--target, defaulting to $LGS_TARGET (else `local`) as read when the parser is built."""
    parser.add_argument(
        "--target",
        default=default_target(),
        help=f"dbt target of profiles.yml (default: ${TARGET_ENV}, else local; now "
        f"{default_target()})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lgs", description=__doc__)
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (also LGS_DEBUG=1); accepted after any command",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="main job: data, dbt build, docs, report")
    add_target_argument(build)
    build.add_argument(
        "--rows",
        type=positive_int,
        default=DEFAULT_ROWS,
        help="synthetic rows to generate when the landing path has never held landed data",
    )
    build.add_argument(
        "--seed",
        type=non_negative_int,
        default=42,
        help="seed of those synthetic rows (the same seed gives the same rows)",
    )
    build.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    build.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models from all landed data (implies --force)",
    )
    build.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run the dbt unit tests (fixed inputs: development and CI, as dbt advises)",
    )
    build.add_argument(
        "--skip-docs", action="store_true", help="do not run dbt docs generate after the build"
    )
    build.add_argument("--skip-report", action="store_true", help="do not write the chart report")
    build.set_defaults(func=_cmd_build)

    generate = commands.add_parser(
        "generate",
        help="write synthetic Online Retail II files (never into a folder of landed data)",
    )
    generate.add_argument(
        "--rows", type=positive_int, default=DEFAULT_ROWS, help="rows to write in total"
    )
    generate.add_argument(
        "--seed",
        type=non_negative_int,
        default=42,
        help="random seed (the same seed gives the same files)",
    )
    generate.add_argument("--out", help="output folder (default: the landing path)")
    generate.add_argument(
        "--campaigns-out",
        help="folder of the campaign assignments (default: the campaign landing path, or "
        "campaign_assignments beside --out)",
    )
    generate.add_argument(
        "--format", choices=["csv", "parquet"], default="csv", help="file format of the rows"
    )
    generate.add_argument(
        "--malformed-share",
        type=share,
        default=0.0,
        help="share of rows (0 to 1) written unreadable, of every malformed kind (CSV only)",
    )
    generate.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=2_000_000,
        help="most rows per part file",
    )
    generate.set_defaults(func=_cmd_generate)

    importer = commands.add_parser(
        "import",
        help="land the real UCI files (xlsx/csv), added to what landed before",
    )
    importer.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE",
        help="Online Retail II workbook (.xlsx) or CSV, or the older Online Retail layout",
    )
    importer.add_argument("--out", help="landing folder (default: the landing path)")
    importer.add_argument(
        "--replace",
        action="store_true",
        help="replace every file landed before (then build with --full-refresh); "
        "without it, the files are added and a file landed before is refused",
    )
    importer.set_defaults(func=_cmd_import)

    export = commands.add_parser("export", help="copy tables from the metastore to parquet")
    export.add_argument(
        "--out", required=True, help="folder to write <schema>.<table>.parquet into"
    )
    add_target_argument(export)
    export.add_argument(
        "--layer",
        dest="layers",
        action="append",
        choices=EXPORT_LAYERS,
        help="export every table of this layer's schema (repeatable; default: marts, "
        "staging and reference); ignored when tables are named",
    )
    export.add_argument("tables", nargs="*", help="schema.table names (default: see --layer)")
    export.set_defaults(func=_cmd_export)

    sql = commands.add_parser("sql", help="run one SQL query on the target, rows as JSON lines")
    sql.add_argument(
        "query", help='one Spark SQL statement, e.g. "select * from lgs_marts.monthly_sales"'
    )
    add_target_argument(sql)
    sql.add_argument(
        "--limit",
        type=positive_int,
        default=1000,
        help="print at most this many rows (default 1000)",
    )
    sql.set_defaults(func=_cmd_sql)

    report = commands.add_parser("report", help="write the PNG charts and HTML report")
    add_target_argument(report)
    report.set_defaults(func=_cmd_report)

    docs = commands.add_parser("docs-serve", help="serve the dbt docs site on 127.0.0.1")
    docs.add_argument(
        "--port", type=port, default=8080, help="port on 127.0.0.1 to serve on (default 8080)"
    )
    docs.set_defaults(func=_cmd_docs_serve)

    doctor = commands.add_parser("doctor", help="check Java and the environment")
    doctor.set_defaults(func=_cmd_doctor)

    archive = commands.add_parser(
        "jvm-archive", help="write the Spark driver's class archive (Spark starts ~5 s faster)"
    )
    archive.add_argument("--force", action="store_true", help="write it again")
    archive.set_defaults(func=_cmd_jvm_archive)
    add_commands(commands)
    return parser


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("LGS_DEBUG", "") not in ("", "0", "false")


def _preflight(args: argparse.Namespace) -> None:
    """The checks that need no JVM, before a command does any work: the target exists in the
    profile and, for a build on a session target, its metastore (and standalone master) can
    be reached (a build refused at dbt's first connection would have prepared its data for
    nothing)."""
    target = getattr(args, "target", None)
    if target is None:
        return
    from lgs_analytics.runtime.spark_session import check_services_available, check_target

    paths = ProjectPaths.discover()
    output = check_target(paths, target)
    if args.command == "build" and output.get("method") == "session":
        check_services_available(paths, target)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    args = build_parser().parse_args([arg for arg in argv if arg != "--debug"])
    args.debug = debug
    try:
        _preflight(args)
        return int(args.func(args) or 0)
    except UserError as problem:
        if debug:
            raise
        _stop_spark()
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        _stop_spark()
        print("Interrupted.", file=sys.stderr)
        return 130


def _stop_spark() -> None:
    """Stop a JVM this process started, so that the error is the last line on stderr."""
    if "pyspark" in sys.modules:
        from lgs_analytics.runtime.spark_session import stop_spark

        stop_spark()


if __name__ == "__main__":
    sys.exit(main())
