{#-
    Every raw line once, with each field parsed and the first reason (if any) why the row
    cannot be staged. The only model that parses the landed text: a table, so the raw files
    are scanned once per build. Both the staged transactions and the quarantine read it, so
    a row is either staged, removed as an exact duplicate, or quarantined: never lost.
-#}

with

source as (

    select * from {{ source("online_retail", "online_retail_ii") }}

),

trimmed as (

    select
        input_file_name() as source_file,
        invoice as raw_invoice,
        stockcode as raw_stock_code,
        description as raw_description,
        quantity as raw_quantity,
        invoicedate as raw_invoice_date,
        price as raw_price,
        `customer id` as raw_customer_id,
        country as raw_country,
        _corrupt_record as raw_record,
        upper(trim(invoice)) as invoice_id,
        trim(stockcode) as stock_code,
        nullif(trim(description), '') as description,
        trim(quantity) as quantity_text,
        trim(invoicedate) as invoice_date_text,
        trim(price) as price_text,
        nullif(trim(`customer id`), '') as customer_id_text,
        nullif(trim(country), '') as country
    from source

),

parsed as (

    select
        *,
        sha2(
            concat_ws(
                '\u001f',
                coalesce(raw_invoice, '\u0000'),
                coalesce(raw_stock_code, '\u0000'),
                coalesce(raw_description, '\u0000'),
                coalesce(raw_quantity, '\u0000'),
                coalesce(raw_invoice_date, '\u0000'),
                coalesce(raw_price, '\u0000'),
                coalesce(raw_customer_id, '\u0000'),
                coalesce(raw_country, '\u0000')
            ),
            256
        ) as raw_row_hash,
        case
            when quantity_text rlike '^[+-]?[0-9]+$' then try_cast(quantity_text as int)
        end as quantity,
        case
            when price_text rlike '^[+-]?[0-9]+([.][0-9]{1,3}0*)?$'
                then try_cast(price_text as decimal(12, 3))
        end as unit_price,
        case
            when
                invoice_date_text
                rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$'
                then to_timestamp(invoice_date_text, 'yyyy-MM-dd HH:mm:ss')
        end as invoiced_at
    from trimmed

),

classified as (

    select
        *,
        case
            when raw_record is not null then 'wrong_column_count'
            when
                instr(
                    concat_ws(
                        '',
                        raw_invoice,
                        raw_stock_code,
                        raw_description,
                        raw_quantity,
                        raw_invoice_date,
                        raw_price,
                        raw_customer_id,
                        raw_country
                    ),
                    decode(unhex('EFBFBD'), 'UTF-8')
                ) > 0
                then 'invalid_encoding'
            when coalesce(invoice_id, '') = '' then 'missing_invoice'
            when coalesce(stock_code, '') = '' then 'missing_stock_code'
            when not invoice_id rlike '^[A-Z]?[0-9]+$' then 'invalid_invoice_id'
            when quantity is null then 'unparseable_quantity'
            when invoiced_at is null then 'unparseable_invoice_date'
            when
                invoiced_at < timestamp '2000-01-01 00:00:00'
                or invoiced_at >= timestamp '2100-01-01 00:00:00'
                then 'invoice_date_out_of_range'
            when unit_price is null then 'unparseable_price'
            when
                customer_id_text is not null
                and not customer_id_text rlike '^[0-9]+([.]0+)?$'
                then 'unparseable_customer_id'
        end as quarantine_reason
    from parsed

)

select * from classified
