"""The supported dbt versions agree everywhere they are stated (docs/DBT_VERSIONS.md).

pyproject.toml states the ranges of dbt-core, dbt-spark and dbt-databricks; each lock
(requirements/lock.txt for the default environment, requirements/lock-dbt112.txt for
dbt-core 1.12) must fall inside them, one lock per dbt-core line the ranges admit, and the
workflow's dbt-core matrix must test exactly those lines, each with its own environment.
The 1.12 lock leaves out dbt-core's experimental parser (it cannot be built offline), so the
project must never ask dbt for the v2 parser it would run.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from dbt.parser.schemas import is_valid_type
from packaging.requirements import Requirement
from packaging.version import Version

from lgs_testing import PROJECT_ROOT

DBT_PACKAGES = ("dbt-core", "dbt-spark", "dbt-databricks")
LOCKS = {
    "1.11": PROJECT_ROOT / "requirements" / "lock.txt",
    "1.12": PROJECT_ROOT / "requirements" / "lock-dbt112.txt",
}
# How `make` builds and tests each line's environment.
MAKE_TARGETS = {"1.11": ("bootstrap", "test-dbt111"), "1.12": ("bootstrap-dbt112", "test-dbt112")}
# Packages whose versions the two environments may differ in: dbt-core and what it alone
# requires in one line (1.12 needs metricflow and its requirements, 1.11 the semantic
# interfaces). Every other package both locks pin (Spark, pandas, the adapters, the
# tools) has the same version in both.
LINE_SPECIFIC = {
    "dbt-core",
    "dbt-semantic-interfaces",
    "metricflow",
    "opentelemetry-api",
    "python-dotenv",
    "rapidfuzz",
    "sqlglot",
    "tabulate",
}
PARSER = "dbt-core-experimental-parser"


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _lock(path: Path) -> dict[str, Version]:
    pins = {}
    for text in path.read_text().splitlines():
        pin = text.split("#", 1)[0].strip()
        if pin:
            name, _, version = pin.partition("==")
            assert version, f"{path.name}: `{pin}` is not pinned with =="
            pins[_name(name)] = Version(version)
    return pins


def _line(version: Version) -> str:
    return f"{version.major}.{version.minor}"


PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
RANGES = {
    _name(req.name): req
    for req in map(Requirement, PYPROJECT["project"]["dependencies"])
    if _name(req.name) in DBT_PACKAGES
}
PINS = {line: _lock(path) for line, path in LOCKS.items()}
WORKFLOW = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text())


def test_pyproject_states_ranges_for_the_dbt_packages() -> None:
    assert set(RANGES) == set(DBT_PACKAGES)
    for name, requirement in RANGES.items():
        operators = {spec.operator for spec in requirement.specifier}
        # A range with both ends: the locks pin, pyproject says what is supported.
        assert ">=" in operators and "<" in operators, f"{name}: {requirement}"


@pytest.mark.parametrize("line", LOCKS)
def test_each_lock_pins_the_dbt_packages_inside_the_stated_ranges(line: str) -> None:
    pins = PINS[line]
    for name in DBT_PACKAGES:
        assert name in pins, f"{LOCKS[line].name} does not pin {name}"
        assert RANGES[name].specifier.contains(pins[name]), (
            f"{LOCKS[line].name} pins {name}=={pins[name]}, outside pyproject's "
            f"{RANGES[name].specifier}"
        )
    assert _line(pins["dbt-core"]) == line, f"{LOCKS[line].name} is not dbt-core {line}"


def test_one_lock_for_each_dbt_core_line_the_range_admits() -> None:
    dbt_core = RANGES["dbt-core"].specifier
    lower = min(Version(s.version) for s in dbt_core if s.operator == ">=")
    upper = min(Version(s.version) for s in dbt_core if s.operator == "<")
    assert lower.major == upper.major
    last = upper.minor - 1 if upper.micro == 0 else upper.minor  # <1.13 admits no 1.13
    assert {f"{lower.major}.{minor}" for minor in range(lower.minor, last + 1)} == set(LOCKS)


def test_the_two_environments_differ_only_in_what_the_dbt_core_line_needs() -> None:
    default, newer = PINS["1.11"], PINS["1.12"]
    differing = {
        name
        for name in set(default) & set(newer)
        if default[name] != newer[name] and name not in LINE_SPECIFIC
    }
    assert not differing, {name: (default[name], newer[name]) for name in differing}


def test_the_locks_leave_the_experimental_parser_out() -> None:
    # The 1.12 bootstrap installs its lock with --no-deps and checks that nothing else is
    # missing; a pin of the parser would make the offline install fail.
    for line, pins in PINS.items():
        assert PARSER not in pins, LOCKS[line].name


def test_the_project_never_asks_for_the_v2_parser() -> None:
    # dbt-core 1.12 runs dbt-core-experimental-parser only under --use-v2-parser
    # (DBT_ENGINE_USE_V2_PARSER, or `flags: use_v2_parser` in dbt_project.yml).
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())
    flags = project.get("flags") or {}
    assert not flags.get("use_v2_parser") and "v2_parser" not in flags
    # Nor does a command or setting of ours (comments aside).
    settings = [
        f"{path.relative_to(PROJECT_ROOT)}: {text.strip()}"
        for folder in ("src", "scripts", "deploy", ".github")
        for path in (PROJECT_ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in {".py", ".sh", ".yml", ".yaml", ".json"}
        for text in path.read_text(errors="ignore").splitlines()
        if not text.lstrip().startswith("#")
        and re.search(r"use[-_]v2[-_]parser", text, re.IGNORECASE)
    ]
    assert settings == []


def test_the_workflow_tests_each_dbt_core_line_in_its_environment() -> None:
    job = WORKFLOW["jobs"]["dbt-versions"]
    assert "if" not in job, "the dbt-core matrix runs on pull requests and on main alike"
    entries = job["strategy"]["matrix"]["include"]
    assert job["strategy"]["fail-fast"] is False
    assert {entry["dbt-core"]: entry["make-target"] for entry in entries} == {
        line: test for line, (_, test) in MAKE_TARGETS.items()
    }
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make ${{ matrix.make-target }}" in runs
    # Online, the 1.12 environment is installed as pip would: the parser built too.
    assert job["env"]["LGS_DBT112_PARSER"] == "install"
    [python] = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    cached = python["with"]["cache-dependency-path"].split()
    assert {f"requirements/{path.name}" for path in LOCKS.values()} <= set(cached)


def test_make_builds_each_environment_from_its_lock() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for line, (bootstrap, test) in MAKE_TARGETS.items():
        assert re.search(rf"^{test}: {bootstrap}$", makefile, re.MULTILINE), (line, test)
    assert "requirements/lock.txt" in (PROJECT_ROOT / "scripts" / "bootstrap.sh").read_text()
    script = (PROJECT_ROOT / "scripts" / "bootstrap-dbt112.sh").read_text()
    assert "LOCK=requirements/lock-dbt112.txt" in script
    # `make test` (the whole suite) does not run the 1.12 lane: `make test-dbt112` does.
    assert not re.search(r"^test:.*dbt112", makefile, re.MULTILINE)


SIGNATURE = re.compile(r"{%-?\s*(macro|test)\s+(\w+)\s*\((.*?)\)\s*-?%}", re.DOTALL)


def _definitions() -> dict[str, list[str]]:
    """Each macro's and generic test's argument names, from its Jinja signature."""
    found = {}
    for folder in ("macros", "tests/generic"):
        for path in (PROJECT_ROOT / folder).rglob("*.sql"):
            for kind, name, arguments in SIGNATURE.findall(path.read_text()):
                # A Jinja signature parses as a Python one (defaults such as none or [] too).
                function = ast.parse(f"def f({arguments}): pass").body[0]
                assert isinstance(function, ast.FunctionDef)
                macro = f"test_{name}" if kind == "test" else name
                found[macro] = [argument.arg for argument in function.args.args]
    return found


def test_documented_macro_arguments_match_their_definitions() -> None:
    # dbt's own check (flag validate_macro_args, on by default in 1.12) is off in
    # dbt_project.yml: it never reads a generic test's definition, so it would warn that
    # every documented generic test has the wrong number of arguments. This is that check,
    # generic tests included: the same names in the same order, types dbt accepts.
    definitions = _definitions()
    documented = yaml.safe_load((PROJECT_ROOT / "macros" / "_macros.yml").read_text())["macros"]
    checked = 0
    for macro in documented:
        arguments = macro.get("arguments")
        if not arguments:
            continue
        name = macro["name"]
        assert name in definitions, f"macros/_macros.yml documents {name}, which has no definition"
        assert [a["name"] for a in arguments] == definitions[name], name
        for argument in arguments:
            assert is_valid_type(argument.get("type") or "any"), (name, argument)
        checked += 1
    assert checked >= 10
