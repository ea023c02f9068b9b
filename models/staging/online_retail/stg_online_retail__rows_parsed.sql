{{
    config(
        materialized="incremental",
        partition_by=["partition_month"],
        unique_key="parsed_row_id",
        post_hook="{{ lgs_analytics.record_watermark('source_file_modified_at') }}",
    )
}}

{#-
    Every raw line once, with each field parsed and the first reason (if any) why the row
    cannot be staged. The only model that parses the landed text: a table, so the raw files
    are scanned once per build. Both the staged transactions and the quarantine read it, so
    a row is either staged, removed as an exact duplicate, or quarantined: never lost.

    Incremental, partitioned by the invoice month (0 for rows without a readable date): a
    run reads only the files modified after the watermark of the last successful run (new
    files, or files landed again with new content; the filter on file metadata skips the
    others before they are read) and rewrites the months their rows fall in, together with
    the months the earlier version of a re-landed file had rows in. Every row of a
    rewritten month gets this run's `loaded_at`, which tells the models downstream which
    months to rebuild.
-#}

{%- if is_incremental() %}
    {%- set files_loaded_through = lgs_analytics.read_watermark() %}
    {%- set kept_columns = adapter.get_columns_in_relation(this)
        | map(attribute="name")
        | reject("equalto", "loaded_at")
        | list %}
{%- else %}
    {%- set files_loaded_through = none %}
{%- endif %}

with

source as (

    select * from {{ source("online_retail", "online_retail_ii") }}
    {%- if files_loaded_through is not none %}
        where source_file_modified_at > timestamp '{{ files_loaded_through }}'
    {%- endif %}

),

raw_fields as (

    select
        source_file,
        source_file_modified_at,
        invoice as raw_invoice,
        stockcode as raw_stock_code,
        description as raw_description,
        quantity as raw_quantity,
        invoicedate as raw_invoice_date,
        price as raw_price,
        `customer id` as raw_customer_id,
        country as raw_country,
        _corrupt_record as raw_record
    from source

),

identical_lines as (

    {#-
        Identical lines of a file (same fields, same corrupt record) are parsed once and
        fanned out again in `numbered`: the shuffle that numbers them moves the raw
        fields, not every parsed column, and no window sorts a million wide rows.
    #}
    select
        *,
        count(*) as copies
    from raw_fields
    group by
        source_file,
        source_file_modified_at,
        raw_invoice,
        raw_stock_code,
        raw_description,
        raw_quantity,
        raw_invoice_date,
        raw_price,
        raw_customer_id,
        raw_country,
        raw_record

),

trimmed as (

    select
        *,
        upper(trim(raw_invoice)) as invoice_id,
        trim(raw_stock_code) as stock_code,
        nullif(trim(raw_description), '') as description,
        trim(raw_quantity) as quantity_text,
        trim(raw_invoice_date) as invoice_date_text,
        trim(raw_price) as price_text,
        nullif(trim(raw_customer_id), '') as customer_id_text,
        nullif(trim(raw_country), '') as country
    from identical_lines

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
            -- Each parses, but their product does not fit line_amount's decimal(18, 3).
            when
                abs(cast(quantity as decimal(10, 0)) * unit_price) >= 1e15
                then 'line_amount_out_of_range'
            when
                customer_id_text is not null
                and not customer_id_text rlike '^[0-9]+([.]0+)?$'
                then 'unparseable_customer_id'
        end as quarantine_reason,
        coalesce(cast(date_format(invoiced_at, 'yyyyMM') as int), 0) as partition_month
    from parsed

),

numbered as (

    select
        *,
        explode(sequence(1, cast(copies as int))) as occurrence
    from classified

),

keyed as (

    {#- The nth copy of a line in its file: the same id whenever the file is read. #}
    select
        sha2(
            concat_ws(
                ':',
                source_file,
                raw_row_hash,
                coalesce(raw_record, ''),
                cast(occurrence as string)
            ),
            256
        ) as parsed_row_id,
        * except (copies, occurrence)
    from numbered

),

{%- if is_incremental() %}

    reloaded_files as (

        select distinct source_file from keyed

    ),

    rewritten_months as (

        select partition_month from keyed
        union
        select partition_month from {{ this }}
        where source_file in (select reloaded_files.source_file from reloaded_files)

    ),

    combined as (

        select {{ kept_columns | join(", ") }} from keyed
        union all
        select {{ kept_columns | join(", ") }} from {{ this }}
        where
            partition_month in (
                select rewritten_months.partition_month from rewritten_months
            )
            and source_file not in (
                select reloaded_files.source_file from reloaded_files
            )

    ),

{%- else %}

    combined as (

        select * from keyed

    ),

{%- endif %}

stamped as (

    select
        *,
        {{ lgs_analytics.loaded_at_expression() }} as loaded_at
    from combined

)

select * from stamped
