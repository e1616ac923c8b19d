-- +goose Up
-- One identity per recording (issue 19). tracks has one row per producer
-- track_id; the same recording played in many sets is many rows. Rows that
-- share an ISRC, a Spotify id or a MusicBrainz recording id (transitively)
-- are one recording, and carry one recording id here. The ids are assigned by
-- store.RefreshRecordings, run by the coverage refresher under the coverage
-- advisory lock (store.CoverageLockKey) and by `enrichctl recordings refresh`;
-- nothing else writes these tables. docs/curation.md describes them.

-- recording_id_seq hands out recording ids; an id, once given up (its group
-- dissolved or lost every member), is never handed out again.
CREATE SEQUENCE recording_id_seq AS bigint;

CREATE TABLE track_recordings (
    track_id     text PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    recording_id bigint NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE track_recordings IS
    'The recording each grouped tracks row is (issue 19): rows sharing an isrc, spotify_id or musicbrainz_id, transitively, have one recording_id. A row with none of the three is not here. Written only by store.RefreshRecordings.';
COMMENT ON COLUMN track_recordings.track_id IS
    'tracks.id of the member row; the row leaves this table when the track is deleted or loses all three ids.';
COMMENT ON COLUMN track_recordings.recording_id IS
    'The recording''s id, from recording_id_seq; stable across refreshes (a group keeps the id most of its members carried; see docs/curation.md).';
COMMENT ON COLUMN track_recordings.assigned_at IS
    'When this row was given its current recording_id.';

-- recordings show lists the members of a recording.
CREATE INDEX track_recordings_recording_id_idx ON track_recordings (recording_id);

-- track_recordings_refresh is one row: the last completed refresh of
-- track_recordings, so that a fleet of refreshers refreshes about once per
-- interval even when enrichctl status refreshed the coverage view meanwhile.
CREATE TABLE track_recordings_refresh (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    refreshed_at timestamptz NOT NULL,
    rows_grouped bigint NOT NULL,
    recordings   bigint NOT NULL,
    changed      bigint NOT NULL,
    duration_ms  bigint NOT NULL
);
COMMENT ON TABLE track_recordings_refresh IS
    'One row: the last completed refresh of track_recordings (none before the first).';
COMMENT ON COLUMN track_recordings_refresh.id IS 'Always true: the table holds one row.';
COMMENT ON COLUMN track_recordings_refresh.refreshed_at IS 'When that refresh read tracks (transaction start).';
COMMENT ON COLUMN track_recordings_refresh.rows_grouped IS 'tracks rows with an isrc, spotify_id or musicbrainz_id: the rows of track_recordings.';
COMMENT ON COLUMN track_recordings_refresh.recordings IS 'Distinct recording ids.';
COMMENT ON COLUMN track_recordings_refresh.changed IS 'track_recordings rows that refresh inserted, re-assigned or deleted.';
COMMENT ON COLUMN track_recordings_refresh.duration_ms IS 'How long that refresh took, in milliseconds.';

-- recording_conflicts shows where the members of a recording disagree: one
-- row per recording, field and distinct value, for the fields whose members
-- hold two or more distinct values (a member without a value does not
-- disagree). duration_ms counts as a disagreement only when the members'
-- durations span more than 3 seconds; then every distinct duration is listed.
-- Nothing is merged: tracks keeps each row's own values.
CREATE VIEW recording_conflicts AS
WITH member AS (
    SELECT tr.recording_id, t.id AS track_id, t.isrc, t.spotify_id, t.musicbrainz_id::text AS musicbrainz_id,
           t.discogs_release_id::text AS discogs_release_id, t.label, t.release_date::text AS release_date,
           t.duration_ms
      FROM track_recordings tr
      JOIN tracks t ON t.id = tr.track_id
),
value AS (
    SELECT m.recording_id, f.field, f.value, m.track_id
      FROM member m
     CROSS JOIN LATERAL (VALUES
           ('isrc', m.isrc), ('spotify_id', m.spotify_id), ('musicbrainz_id', m.musicbrainz_id),
           ('discogs_release_id', m.discogs_release_id), ('label', m.label),
           ('release_date', m.release_date), ('duration_ms', m.duration_ms::text)) AS f (field, value)
     WHERE f.value IS NOT NULL
),
disagreeing AS (
    SELECT m.recording_id, 'duration_ms' AS field
      FROM member m
     WHERE m.duration_ms IS NOT NULL
     GROUP BY m.recording_id
    HAVING max(m.duration_ms) - min(m.duration_ms) > 3000
    UNION ALL
    SELECT v.recording_id, v.field
      FROM value v
     WHERE v.field <> 'duration_ms'
     GROUP BY v.recording_id, v.field
    HAVING count(DISTINCT v.value) > 1
)
SELECT v.recording_id, v.field, v.value, array_agg(v.track_id ORDER BY v.track_id) AS track_ids
  FROM value v
  JOIN disagreeing d ON d.recording_id = v.recording_id AND d.field = v.field
 GROUP BY v.recording_id, v.field, v.value;
COMMENT ON VIEW recording_conflicts IS
    'Fields on which the members of a recording disagree (duration_ms: spanning more than 3 s): one row per recording_id, field and distinct value, with the member rows holding it.';
COMMENT ON COLUMN recording_conflicts.recording_id IS 'track_recordings.recording_id.';
COMMENT ON COLUMN recording_conflicts.field IS 'isrc, spotify_id, musicbrainz_id, discogs_release_id, label, release_date or duration_ms.';
COMMENT ON COLUMN recording_conflicts.value IS 'One of the distinct values, as text (dates ISO 8601, durations in milliseconds).';
COMMENT ON COLUMN recording_conflicts.track_ids IS 'The member rows (tracks.id) holding that value, sorted.';

-- +goose Down
DROP VIEW recording_conflicts;
DROP TABLE track_recordings_refresh;
DROP TABLE track_recordings;
DROP SEQUENCE recording_id_seq;
