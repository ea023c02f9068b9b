{#-
    Nothing is lost between the landing zone and staging: every landed file is parsed whole
    (its raw rows, as landed now, are its parsed rows), and every parsed row is either
    staged, removed as an exact duplicate of a staged row, or quarantined with a reason.

    With incremental staging a file is read once, when it lands (or lands again with a new
    modification time). What an incremental run cannot see shows up here, one row per file
    with its path and the fix (rebuild staging with `dbt build --full-refresh`): a file
    deleted after it was read, a file landed with an older modification time than the
    watermark (`cp -p`, `mv` of an old file), or cut short with its modification time
    kept (the landed and staged row counts differ), and the rows a re-landed file lost in
    a month no other file has rows in (that month's partition is not rewritten).
    End to end: tests/python/e2e/test_guarantee_failures.py.
-#}

with

raw_files as (

    select
        source_file,
        source_file_modified_at,
        count(*) as raw_rows
    from {{ source("online_retail", "online_retail_ii") }}
    group by source_file, source_file_modified_at

),

rows_parsed as (

    select * from {{ ref("stg_online_retail__rows_parsed") }}

),

parsed_files as (

    select
        source_file,
        source_file_modified_at,
        count(*) as parsed_rows
    from rows_parsed
    group by source_file, source_file_modified_at

),

file_balance as (

    select
        coalesce(raw_files.source_file, parsed_files.source_file) as source_file,
        case
            when parsed_files.source_file is null
                then 'landed file not staged: run dbt build --full-refresh'
            when raw_files.source_file is null
                then 'staged file gone or changed: run dbt build --full-refresh'
            else 'landed and parsed row counts differ: run dbt build --full-refresh'
        end as problem,
        coalesce(raw_files.raw_rows, 0) as raw_rows,
        coalesce(parsed_files.parsed_rows, 0) as parsed_rows
    from raw_files
    full outer join parsed_files
        on
            raw_files.source_file = parsed_files.source_file
            and raw_files.source_file_modified_at
            = parsed_files.source_file_modified_at
    where
        raw_files.source_file is null
        or parsed_files.source_file is null
        or raw_files.raw_rows != parsed_files.parsed_rows

),

parsed as (

    select
        count_if(quarantine_reason is null) as readable_rows,
        count_if(quarantine_reason is not null) as unreadable_rows
    from rows_parsed

),

staged as (

    select
        count(*) as staged_rows,
        coalesce(sum(removed_duplicates), 0) as removed_duplicates
    from {{ ref("stg_online_retail__transactions") }}

),

quarantined as (

    select count(*) as quarantined_rows
    from {{ ref("stg_online_retail__quarantined_rows") }}

),

row_balance as (

    select
        cast(null as string) as source_file,
        'parsed rows are not staged + removed duplicates + quarantined' as problem,
        parsed.readable_rows + parsed.unreadable_rows as raw_rows,
        staged.staged_rows
        + staged.removed_duplicates
        + quarantined.quarantined_rows as parsed_rows
    from parsed
    cross join staged
    cross join quarantined
    where
        parsed.readable_rows != staged.staged_rows + staged.removed_duplicates
        or parsed.unreadable_rows != quarantined.quarantined_rows

),

failures as (

    select * from file_balance
    union all
    select * from row_balance

)

select * from failures
