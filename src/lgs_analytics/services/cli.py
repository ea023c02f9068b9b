"""The `lgs cluster`, `lgs metastore` and `lgs thrift` commands.

`start` waits until the service is usable, `stop` is clean (SIGTERM, then SIGKILL), and
`status` prints JSON and exits 0 when the service runs, 3 when it does not (the LSB
convention). Failures are one sentence on stderr and exit 1, not a stack trace (`--debug`
or LGS_DEBUG=1 shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from lgs_analytics.cli_types import port, positive_int, positive_seconds, spark_memory
from lgs_analytics.errors import UserError
from lgs_analytics.runtime.paths import ProjectPaths
from lgs_analytics.services.process import LOOPBACK, ServiceError, port_accepts

NOT_RUNNING = 3


def _handle(
    action: Callable[[argparse.Namespace, ProjectPaths], int],
) -> Callable[[argparse.Namespace], int]:
    """Run ``action`` with the project's paths; a user error (a ServiceError, missing Java)
    becomes one line and exit 1, or its traceback under ``--debug``."""

    def run(args: argparse.Namespace) -> int:
        try:
            return action(args, ProjectPaths.discover())
        except UserError as problem:
            if getattr(args, "debug", False):
                raise
            print(f"error: {problem}", file=sys.stderr)
            return 1

    return run


def _print_status(info: dict[str, Any]) -> int:
    print(json.dumps(info, indent=2))
    return 0 if info.get("running") else NOT_RUNNING


def _port_from_env(name: str, default: int) -> int:
    """The port in environment variable ``name`` (``default`` when unset), checked."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return port(text)
    except argparse.ArgumentTypeError as problem:
        raise ServiceError(f"{name} {problem}: fix it or unset it.") from None


def _key_value(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


# -- cluster -------------------------------------------------------------------------------


def _cluster_start(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import cluster

    if args.webui_port is None and args.port + 1013 > 65535:
        raise ServiceError(
            f"The master's web UI would listen on port {args.port + 1013} (--port + 1013), "
            "beyond 65535: choose a lower --port or set --webui-port."
        )
    settings = cluster.ClusterSettings(
        workers=args.workers,
        worker_cores=args.worker_cores,
        worker_memory=args.worker_memory,
        port=args.port,
        webui_port=args.webui_port,
    )
    info = cluster.start(paths, settings, timeout=args.timeout)
    print(
        f"Spark master {info['master_url']} with {info['alive_workers']} worker(s) "
        f"({settings.worker_cores} core(s), {settings.worker_memory} each); "
        f"web UI {info['webui']}; logs in {paths.state / 'cluster'}."
    )
    if args.port != cluster.DEFAULT_PORT:
        print(f"Point the cluster target at it: export LGS_SPARK_MASTER={info['master_url']}")
    return 0


def _cluster_stop(_: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import cluster

    stopped = cluster.stop(paths)
    print(f"Stopped {', '.join(stopped)}." if stopped else "No cluster was running.")
    return 0


def _cluster_status(_: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import cluster

    return _print_status(cluster.status(paths))


# -- metastore -----------------------------------------------------------------------------


def _metastore_start(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import metastore

    port_number = args.port or _port_from_env(metastore.PORT_ENV, metastore.DEFAULT_PORT)
    layout = metastore.MetastoreLayout.for_paths(paths)
    # Checked here, before PostgreSQL is initialised: pg_ctl would only say it did not start.
    if metastore.server_pid(layout) is None and port_accepts(port_number):
        raise ServiceError(
            f"Port {port_number} on {LOOPBACK} is already in use: choose another with --port "
            f"(or {metastore.PORT_ENV})."
        )
    info = metastore.start(paths, port=port_number)
    print(
        f"Shared metastore on {info['jdbc_url']} (user {info['user']}); Spark client "
        f"configuration in {info['conf_dir']}; warehouse {info['warehouse']}."
    )
    if info["port"] != metastore.DEFAULT_PORT:
        print(f"Point the profile at it: export {metastore.PORT_ENV}={info['port']}")
    return 0


def _metastore_stop(_: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import metastore

    print("Stopped the metastore." if metastore.stop(paths) else "No metastore was running.")
    return 0


def _metastore_reset(_: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import metastore

    metastore.remove_state(paths)
    print(f"Removed the shared catalog of {paths.state} (metastore and warehouse files).")
    return 0


def _metastore_status(_: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import metastore

    return _print_status(metastore.status(paths))


# -- thrift --------------------------------------------------------------------------------


def _thrift_start(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import thrift

    info = thrift.start(
        paths,
        port=args.port or _port_from_env(thrift.PORT_ENV, thrift.DEFAULT_PORT),
        target=args.target,
        hiveconf=dict(args.hiveconf or []),
        timeout=args.timeout,
    )
    print(f"Thrift server on {info['jdbc_url']} (pid {info['pid']}); log {info['log']}.")
    if info["port"] != thrift.DEFAULT_PORT:
        print(f"Point the thrift target at it: export {thrift.PORT_ENV}={info['port']}")
    return 0


def _thrift_stop(_: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import thrift

    print("Stopped the Thrift server." if thrift.stop(paths) else "No Thrift server was running.")
    return 0


def _thrift_status(_: argparse.Namespace, paths: ProjectPaths) -> int:
    from lgs_analytics.services import thrift

    return _print_status(thrift.status(paths))


def add_commands(subparsers: Any) -> None:
    """Register `cluster`, `metastore` and `thrift` on the `lgs` parser's subcommands."""
    from lgs_analytics.services import cluster, metastore, thrift

    group = subparsers.add_parser("cluster", help="Spark standalone cluster on 127.0.0.1")
    actions = group.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="start a master and N workers, wait for them")
    start.add_argument(
        "--workers",
        type=positive_int,
        default=cluster.DEFAULT_WORKERS,
        help=f"worker processes to start, 1 or more (default {cluster.DEFAULT_WORKERS})",
    )
    start.add_argument(
        "--worker-cores", type=positive_int, default=1, help="cores of each worker (default 1)"
    )
    start.add_argument(
        "--worker-memory",
        type=spark_memory,
        default="2g",
        help="memory each worker offers its executors, e.g. 1g, 512m (default 2g)",
    )
    start.add_argument(
        "--port",
        type=port,
        default=cluster.DEFAULT_PORT,
        help=f"master RPC port (default {cluster.DEFAULT_PORT})",
    )
    start.add_argument("--webui-port", type=port, help="master web UI port (default --port + 1013)")
    start.add_argument(
        "--timeout", type=positive_seconds, default=180, help="seconds to wait (default 180)"
    )
    start.set_defaults(func=_handle(_cluster_start))
    actions.add_parser("stop", help="stop workers, executors and master").set_defaults(
        func=_handle(_cluster_stop)
    )
    actions.add_parser("status", help="JSON status; exit 3 when stopped").set_defaults(
        func=_handle(_cluster_status)
    )

    group = subparsers.add_parser("metastore", help="shared Hive metastore in PostgreSQL")
    actions = group.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="start (and initialise once) the metastore")
    start.add_argument(
        "--port",
        type=port,
        help=f"PostgreSQL port (default ${metastore.PORT_ENV} or {metastore.DEFAULT_PORT})",
    )
    start.set_defaults(func=_handle(_metastore_start))
    actions.add_parser("stop", help="stop the metastore's PostgreSQL").set_defaults(
        func=_handle(_metastore_stop)
    )
    actions.add_parser(
        "reset", help="delete the stopped metastore's catalog and warehouse files"
    ).set_defaults(func=_handle(_metastore_reset))
    actions.add_parser("status", help="JSON status; exit 3 when stopped").set_defaults(
        func=_handle(_metastore_status)
    )

    group = subparsers.add_parser("thrift", help="Spark Thrift Server on the shared metastore")
    actions = group.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="start the server, wait for its port")
    start.add_argument(
        "--port",
        type=port,
        help=f"Thrift port (default ${thrift.PORT_ENV} or {thrift.DEFAULT_PORT})",
    )
    start.add_argument(
        "--target", default=thrift.DEFAULT_TARGET, help="session target whose Spark settings to use"
    )
    start.add_argument(
        "--hiveconf",
        type=_key_value,
        action="append",
        metavar="KEY=VALUE",
        help="extra HiveServer2 setting, e.g. hive.server2.authentication=LDAP (repeatable)",
    )
    start.add_argument(
        "--timeout", type=positive_seconds, default=300, help="seconds to wait (default 300)"
    )
    start.set_defaults(func=_handle(_thrift_start))
    actions.add_parser("stop", help="stop the server").set_defaults(func=_handle(_thrift_stop))
    actions.add_parser("status", help="JSON status; exit 3 when stopped").set_defaults(
        func=_handle(_thrift_status)
    )
