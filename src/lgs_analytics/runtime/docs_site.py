"""Serve the dbt docs site (`target/`) over HTTP on the loopback interface only.

The site written by `dbt docs generate` (`index.html` that fetches `manifest.json` and
`catalog.json`) cannot be opened from `file://`: browsers block those fetches. Serving the
folder statically is what `dbt docs serve` does; this server always binds to 127.0.0.1 (the
docs describe the warehouse and must not be reachable from the network) and opens no browser.
It also serves the HTML report under `/report/`, so that the report exposure's link in the
docs leads to the report.
"""

from __future__ import annotations

import errno
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lgs_analytics.errors import UserError
from lgs_analytics.runtime.environment import MissingRequirementError
from lgs_analytics.runtime.paths import ProjectPaths

LOOPBACK = "127.0.0.1"
REQUIRED_FILES = ("index.html", "manifest.json", "catalog.json")
REPORT_ROUTE = "/report/"


class DocsRequestHandler(SimpleHTTPRequestHandler):
    """Static files from the docs folder (the report under /report/), never cached."""

    quiet = False

    def __init__(self, *args: Any, report_directory: str | None = None, **kwargs: Any) -> None:
        self.report_directory = report_directory
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        if self.report_directory and path.startswith(REPORT_ROUTE):
            # The parent's translation (which drops `..` and absolute parts) against the
            # report folder: nothing outside either folder can be reached.
            docs_directory = self.directory
            self.directory = self.report_directory
            try:
                return super().translate_path(path[len(REPORT_ROUTE) - 1 :])
            finally:
                self.directory = docs_directory
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, message_format: str, *args: object) -> None:
        # Tests serve from a background thread: request lines there would only be noise.
        if not self.quiet:
            super().log_message(message_format, *args)


class _QuietDocsRequestHandler(DocsRequestHandler):
    quiet = True


class DocsServer(ThreadingHTTPServer):
    """Threaded so that the site's parallel fetches do not queue behind each other."""

    daemon_threads = True


def docs_folder(paths: ProjectPaths) -> Path:
    """The generated docs site, or one sentence saying how to generate it."""
    folder = paths.target
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise MissingRequirementError(
            f"No dbt docs site in {folder} (missing {', '.join(missing)}): run `lgs build` "
            "(or `dbt docs generate`) first."
        )
    return folder


def make_docs_server(
    paths: ProjectPaths, port: int = 8080, host: str = LOOPBACK, quiet: bool = False
) -> DocsServer:
    """A server for the docs folder bound to 127.0.0.1:`port` (0 picks a free port)."""
    if host != LOOPBACK:
        raise ValueError(
            f"The docs server binds to {LOOPBACK} only, not {host!r}: put a reverse proxy "
            "with authentication in front of it to share the docs."
        )
    handler = _QuietDocsRequestHandler if quiet else DocsRequestHandler
    directory = docs_folder(paths)
    try:
        return DocsServer(
            (host, port),
            partial(handler, directory=str(directory), report_directory=str(paths.report)),
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"Port {port} on {host} is already in use: choose another with --port."
            ) from exc
        if exc.errno == errno.EACCES:
            raise UserError(
                f"Port {port} on {host} needs privileges this user lacks: choose a port "
                "from 1024 up with --port."
            ) from exc
        raise


def server_url(server: DocsServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve_docs(paths: ProjectPaths, port: int = 8080, host: str = LOOPBACK) -> int:
    """Serve the docs until Ctrl-C; 0 on a clean stop."""
    server = make_docs_server(paths, port=port, host=host)
    url = server_url(server)
    print(f"Serving the dbt docs from {paths.target} at {url} (Ctrl-C stops).")
    print(f"The report ({paths.report}) is at {url}{REPORT_ROUTE.lstrip('/')}index.html.")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped the docs server.")
    finally:
        server.server_close()
    return 0


def start_docs_server(paths: ProjectPaths, port: int = 0) -> tuple[DocsServer, str]:
    """Serve the docs from a background thread (for tests); stop with `stop_docs_server`."""
    server = make_docs_server(paths, port=port, quiet=True)
    thread = threading.Thread(target=server.serve_forever, name="lgs-docs-server", daemon=True)
    thread.start()
    return server, server_url(server)


def stop_docs_server(server: DocsServer) -> None:
    """Stop a server from `start_docs_server` and release its port."""
    server.shutdown()
    server.server_close()
