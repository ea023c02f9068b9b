"""The analytics report: PNG charts of the marts and one self-contained HTML page.

Two halves, kept apart so that the rendering can be tested without Spark: `loading` reads
the small aggregated mart tables (`tables`) through the dbt target's SparkSession into pandas
frames; `charts` draws them and `page` writes the PNG files, `report_data.json` and
`index.html`, with every value shown as `values` converts it.
"""
