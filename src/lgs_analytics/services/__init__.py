"""Local services behind the non-default targets: a Spark standalone cluster, a shared Hive
metastore in PostgreSQL and the Spark Thrift Server, all on 127.0.0.1 (see docs/CLUSTER.md).
"""
