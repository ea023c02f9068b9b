{#-
    Nothing is lost between the landing zone and staging: every raw row is either staged,
    removed as an exact duplicate of a staged row, or quarantined with a reason.
-#}

with

raw_rows as (

    select count(*) as line_total
    from {{ source("online_retail", "online_retail_ii") }}

),

staged as (

    select
        count(*) as staged_total,
        coalesce(sum(removed_duplicates), 0) as removed_duplicates
    from {{ ref("stg_online_retail__transactions") }}

),

quarantined as (

    select count(*) as quarantined_total
    from {{ ref("stg_online_retail__quarantined_rows") }}

),

balance as (

    select
        raw_rows.line_total as raw_rows,
        staged.staged_total as staged_rows,
        staged.removed_duplicates,
        quarantined.quarantined_total as quarantined_rows
    from raw_rows
    cross join staged
    cross join quarantined

)

select * from balance
where raw_rows != staged_rows + removed_duplicates + quarantined_rows
