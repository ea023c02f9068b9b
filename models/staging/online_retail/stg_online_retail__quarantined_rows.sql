{#-
    Raw rows that could not be staged, with the reason and the raw values as landed, so that
    nothing is dropped silently: raw rows = staged rows + removed duplicates + these rows.
-#}

with

rows_parsed as (

    select * from {{ ref("stg_online_retail__rows_parsed") }}

),

quarantined as (

    select
        sha2(
            concat_ws(
                ':',
                raw_row_hash,
                coalesce(raw_record, ''),
                cast(
                    row_number() over (
                        partition by raw_row_hash, raw_record order by source_file
                    ) as string
                )
            ),
            256
        ) as quarantined_row_id,
        quarantine_reason,
        source_file,
        raw_invoice,
        raw_stock_code,
        raw_description,
        raw_quantity,
        raw_invoice_date,
        raw_price,
        raw_customer_id,
        raw_country,
        raw_record
    from rows_parsed
    where quarantine_reason is not null

)

select * from quarantined
