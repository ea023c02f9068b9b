"""The project's detect-secrets plugins, next to detect-secrets' built-in ones.

`.secrets.baseline` names this file in `plugins_used` (by its path from the repository root),
so `detect-secrets scan`, `detect-secrets-hook` and
`python -m lgs_analytics.devtools.lint_checks secrets` load it. detect-secrets imports it as a
file, not as part of the package: it may import detect-secrets and the standard library only.

Each plugin covers what the built-in plugins of detect-secrets 1.5 miss; the planted secrets of
tests/python/test_security_settings.py show each gap:

- a Databricks personal access token (no built-in plugin);
- a PKCS#8 encrypted private key (`BEGIN ENCRYPTED PRIVATE KEY`: `openssl pkcs8 -topk8`), which
  the built-in PrivateKeyDetector's list of PEM headers does not name;
- a literal `token:` in YAML, or any literal credential key in a profile whose name does not end
  in .yml/.yaml (`profiles.yml.example`): the built-in KeywordDetector knows no `token` keyword
  and reads an unknown file type only with quotes around the value.
"""

from __future__ import annotations

import re

from detect_secrets.plugins.base import RegexBasedDetector


class DatabricksTokenDetector(RegexBasedDetector):
    """A Databricks personal access token: `dapi` and 32 hex digits, optionally `-<n>`."""

    secret_type = "Databricks personal access token"  # pragma: allowlist secret
    denylist = (re.compile(r"\b(dapi[0-9a-f]{32}(?:-\d+)?)\b"),)


class PemPrivateKeyDetector(RegexBasedDetector):
    """The header of any PEM private key, encrypted ones included."""

    secret_type = "PEM private key"  # pragma: allowlist secret
    denylist = (re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----"),)


class YamlLiteralCredentialDetector(RegexBasedDetector):
    """`password:`, `token:`, `secret:` or `client_secret:` with a literal value.

    A value read from the environment (`"{{ env_var('...') }}"`) or left empty is not reported.
    """

    secret_type = "Literal credential in YAML"  # pragma: allowlist secret
    denylist = (
        re.compile(
            r"^\s*(?:password|token|secret|client_secret)\s*:\s*"
            r"(?![\"']?\{\{)[\"']?([^\s\"'#]{4,})",
            re.IGNORECASE,
        ),
    )
