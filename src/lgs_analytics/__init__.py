"""The project's Python code around dbt, one subpackage per concern: the `lgs` command line
(`cli`, its option types `cli_types`, the one-sentence `errors`), `synthetic` (the data
generator), `landing` (the raw layout and the importer), `runtime` (paths, Spark sessions,
the build job), `report`, `reference` (the pandas reference), `services` (cluster, metastore,
Thrift server) and `devtools` (lint and documentation gates, slim CI). The dbt adapter plugin
lives beside it in `src/dbt/adapters/sparkplus/`.
"""
