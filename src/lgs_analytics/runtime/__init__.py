"""Running the project on this machine: where its state lives (`paths`), the checks of the
machine (`environment`), SparkSessions configured like a dbt target (`spark_session`), the
main job behind `lgs build` (`build`), the Spark driver's class archive (`jvm_archive`), and
the `lgs` tools that read what dbt wrote (`export`, the docs server `docs_site`).
"""
