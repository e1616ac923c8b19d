-- +goose Up
-- enrichment_coverage_stats is one row of totals and coverage percentages per
-- provider and field. The constant id column carries the unique index that
-- REFRESH MATERIALIZED VIEW CONCURRENTLY requires.
CREATE MATERIALIZED VIEW enrichment_coverage_stats AS
WITH t AS (
    SELECT tr.*, st.status, st.sources, st.confidence
    FROM tracks tr
    LEFT JOIN enrichment_status st ON st.track_id = tr.id
),
c AS (
    SELECT
        count(*)                                                    AS total_tracks,
        count(*) FILTER (WHERE status IS NOT NULL)                  AS with_status,
        count(*) FILTER (WHERE status = 'completed')                AS completed,
        count(*) FILTER (WHERE status = 'partial')                  AS partial,
        count(*) FILTER (WHERE status = 'not_found')                AS not_found,
        count(*) FILTER (WHERE status = 'failed')                   AS failed,
        count(*) FILTER (WHERE 'spotify' = ANY (sources))           AS matched_spotify,
        count(*) FILTER (WHERE 'musicbrainz' = ANY (sources))       AS matched_musicbrainz,
        count(*) FILTER (WHERE 'discogs' = ANY (sources))           AS matched_discogs,
        count(spotify_id)                                           AS with_spotify_id,
        count(isrc)                                                 AS with_isrc,
        count(musicbrainz_id)                                       AS with_musicbrainz_id,
        count(discogs_release_id)                                   AS with_discogs_release_id,
        count(label)                                                AS with_label,
        count(release_date)                                         AS with_release_date,
        count(*) FILTER (WHERE cardinality(genres) > 0)             AS with_genres,
        count(duration_ms)                                          AS with_duration,
        count(*) FILTER (WHERE enrichment_timestamp IS NULL)        AS never_enriched,
        count(*) FILTER (WHERE enrichment_timestamp < now() - interval '90 days') AS stale_90d,
        avg(confidence)                                             AS avg_confidence
    FROM t
)
SELECT
    1 AS id,
    c.*,
    round(100.0 * with_status         / nullif(total_tracks, 0), 2) AS pct_with_status,
    round(100.0 * matched_spotify     / nullif(total_tracks, 0), 2) AS pct_matched_spotify,
    round(100.0 * matched_musicbrainz / nullif(total_tracks, 0), 2) AS pct_matched_musicbrainz,
    round(100.0 * matched_discogs     / nullif(total_tracks, 0), 2) AS pct_matched_discogs,
    round(100.0 * with_spotify_id     / nullif(total_tracks, 0), 2) AS pct_spotify_id,
    round(100.0 * with_isrc           / nullif(total_tracks, 0), 2) AS pct_isrc,
    round(100.0 * with_musicbrainz_id / nullif(total_tracks, 0), 2) AS pct_musicbrainz_id,
    round(100.0 * with_discogs_release_id / nullif(total_tracks, 0), 2) AS pct_discogs_release_id,
    round(100.0 * with_label          / nullif(total_tracks, 0), 2) AS pct_label,
    round(100.0 * with_release_date   / nullif(total_tracks, 0), 2) AS pct_release_date,
    round(100.0 * with_genres         / nullif(total_tracks, 0), 2) AS pct_genres,
    round(100.0 * with_duration       / nullif(total_tracks, 0), 2) AS pct_duration,
    now() AS refreshed_at
FROM c;

CREATE UNIQUE INDEX enrichment_coverage_stats_id_idx ON enrichment_coverage_stats (id);

-- +goose Down
DROP MATERIALIZED VIEW enrichment_coverage_stats;
