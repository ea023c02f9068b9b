{#-
    Refuses landed files the raw source cannot read, before any model reads them: one
    sentence per file naming it and the problem (a header that is not the contract's, the
    Online Retail (I) layout, a workbook or Parquet file, a file in a subfolder Spark would
    skip), instead of a Java stack trace in the first model or a silent skip. Empty,
    header-only and identical files are only warned about: they lose no rows. Called by
    register_raw_source; `--vars '{check_landed_files: false}'` turns it off.
-#}
{% macro check_landed_files(raw_path) %}
    {{ return(adapter.dispatch("check_landed_files", "lgs_analytics")(raw_path)) }}
{% endmacro %}

{% macro default__check_landed_files(raw_path) %}
    {#- Other adapters (Databricks): Spark's own header check fails a bad file. -#}
    {{ log("Landed files in " ~ raw_path ~ " not checked on " ~ adapter.type()) }}
    {{ return([]) }}
{% endmacro %}

{% macro sparkplus__check_landed_files(raw_path) %}
    {%- if not var("check_landed_files", true) -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set contract = {
        "name": "Online Retail II",
        "columns": [
            "Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
            "Customer ID", "Country",
        ],
    } -%}
    {%- set other_layouts = [{
        "name": "Online Retail (I)",
        "columns": [
            "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
            "CustomerID", "Country",
        ],
    }] -%}
    {%- set hint = "land it with `lgs import`, which converts workbooks and the Online "
        ~ "Retail (I) layout into the landing layout" -%}
    {{ return(adapter.check_landed_files(raw_path, contract, other_layouts, hint)) }}
{% endmacro %}
