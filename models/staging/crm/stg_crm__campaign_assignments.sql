{#-
    One row per campaign and assigned customer, from the CRM export: the rows of
    stg_crm__assignments_parsed without a quarantine reason (a second copy of an
    assignment is quarantined as `duplicate_assignment`).
-#}

with

assignments_parsed as (

    select * from {{ ref("stg_crm__assignments_parsed") }}

),

staged as (

    select
        campaign_id,
        customer_id,
        variant,
        assigned_at,
        source_file,
        source_file_modified_at
    from assignments_parsed
    where quarantine_reason is null

)

select * from staged
