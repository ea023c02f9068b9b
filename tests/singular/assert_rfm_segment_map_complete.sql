{#-
    The RFM segment map is complete and disjoint (DEFINITIONS §4): every (r_score, f_score) pair
    of the 5 × 5 grid of scores has exactly one segment. Fails with the pairs that are
    missing, mapped more than once, or outside the grid.
-#}

with

segment_map as (

    select * from {{ ref("rfm_segment_map") }}

),

scores as (

    select explode(sequence(1, 5)) as score

),

expected_pairs as (

    select
        recency_scores.score as r_score,
        frequency_scores.score as f_score
    from scores as recency_scores
    cross join scores as frequency_scores

),

mapped_pairs as (

    select
        cast(r_score as int) as r_score,
        cast(f_score as int) as f_score
    from segment_map

),

mapping_counts as (

    select
        r_score,
        f_score,
        count(*) as mappings
    from mapped_pairs
    group by r_score, f_score

),

compared as (

    select
        coalesce(expected_pairs.r_score, mapping_counts.r_score) as r_score,
        coalesce(expected_pairs.f_score, mapping_counts.f_score) as f_score,
        coalesce(mapping_counts.mappings, 0) as mappings,
        expected_pairs.r_score is not null as is_in_grid
    from expected_pairs
    full outer join mapping_counts
        on
            expected_pairs.r_score = mapping_counts.r_score
            and expected_pairs.f_score = mapping_counts.f_score

),

failures as (

    select * from compared
    where not is_in_grid or mappings != 1

)

select * from failures
