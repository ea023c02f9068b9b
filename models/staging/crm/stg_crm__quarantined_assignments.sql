{#-
    Lines of the CRM exports that could not be staged, with the reason and the raw values
    as landed: landed lines = staged assignments + these rows.
-#}

with

assignments_parsed as (

    select * from {{ ref("stg_crm__assignments_parsed") }}

),

quarantined as (

    select
        quarantine_reason,
        source_file,
        raw_campaign_id,
        raw_customer_id,
        raw_variant,
        raw_assigned_at,
        raw_record
    from assignments_parsed
    where quarantine_reason is not null

)

select * from quarantined
