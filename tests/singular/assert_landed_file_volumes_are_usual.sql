{#-
    Load-volume monitoring of the raw source: warns when the latest landed file has far
    fewer or far more rows than the files landed before it (generic test
    load_volume_is_usual, tests/generic/). A warning, not an error: an unusual load can be
    right (a sale, a holiday); the failing row is kept in the audit schema for a look.
    Counted on the parsed rows, which hold every landed line once with its file (the
    conservation test proves the counts per file equal the landed ones), so the landed
    text is not parsed a second time.
-#}
{{ config(severity="warn") }}

{{ test_load_volume_is_usual(
    ref("stg_online_retail__rows_parsed"),
    load_column="source_file",
    loaded_at_column="source_file_modified_at",
    min_ratio=0.2,
    max_ratio=5,
    min_history=3,
    lookback=30,
) }}
