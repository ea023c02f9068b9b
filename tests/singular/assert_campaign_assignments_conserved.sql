{#-
    Every landed line of the CRM exports is either a staged assignment or a quarantined
    line, per file: nothing is dropped silently. Fails with the files that do not add up.
-#}

with

landed as (

    select
        source_file,
        count(*) as landed_lines
    from {{ source("crm", "campaign_assignments") }}
    group by source_file

),

staged as (

    select
        source_file,
        count(*) as staged_lines
    from {{ ref("stg_crm__campaign_assignments") }}
    group by source_file

),

quarantined as (

    select
        source_file,
        count(*) as quarantined_lines
    from {{ ref("stg_crm__quarantined_assignments") }}
    group by source_file

),

balance as (

    select
        landed.source_file,
        landed.landed_lines,
        coalesce(staged.staged_lines, 0) as staged_lines,
        coalesce(quarantined.quarantined_lines, 0) as quarantined_lines
    from landed
    left join staged on landed.source_file = staged.source_file
    left join quarantined on landed.source_file = quarantined.source_file

)

select * from balance
where landed_lines != staged_lines + quarantined_lines
