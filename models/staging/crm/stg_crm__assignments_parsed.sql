{#-
    Every line of the landed CRM exports of campaign assignments once, each field parsed,
    with the first reason (if any) why it cannot be staged. Both the staged assignments and
    their quarantine read it, so a row is either staged or quarantined: never lost.
-#}

with

source as (

    select * from {{ source("crm", "campaign_assignments") }}

),

parsed as (

    select
        source_file,
        source_file_modified_at,
        campaign_id as raw_campaign_id,
        customer_id as raw_customer_id,
        variant as raw_variant,
        assigned_at as raw_assigned_at,
        _corrupt_record as raw_record,
        trim(campaign_id) as campaign_id,
        regexp_extract(trim(customer_id), '^([0-9]+)(\\.0+)?$', 1) as customer_id,
        lower(trim(variant)) as variant,
        try_to_timestamp(trim(assigned_at), 'yyyy-MM-dd HH:mm:ss') as assigned_at
    from source

),

field_checks as (

    select
        *,
        case
            when raw_record is not null then 'unreadable_line'
            when campaign_id is null or campaign_id = '' then 'missing_campaign_id'
            when customer_id is null or customer_id = '' then 'invalid_customer_id'
            when variant is null or variant not in ('treatment', 'control')
                then 'invalid_variant'
            when assigned_at is null then 'invalid_assigned_at'
        end as field_reason
    from parsed

),

numbered as (

    select
        *,
        row_number() over (
            partition by campaign_id, customer_id, field_reason is null
            order by source_file, raw_variant, raw_assigned_at
        ) as copy_number,
        min(variant) over (
            partition by campaign_id, customer_id, field_reason is null
        ) != max(variant) over (
            partition by campaign_id, customer_id, field_reason is null
        ) as has_conflicting_variant
    from field_checks

),

checked as (

    select
        *,
        case
            when field_reason is not null then field_reason
            when has_conflicting_variant then 'conflicting_variant'
            when copy_number > 1 then 'duplicate_assignment'
        end as quarantine_reason
    from numbered

)

select * from checked
