-- +goose Up
-- enrichment_status records how the last enrichment of a track ended.
CREATE TABLE enrichment_status (
    track_id   text PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    status     text NOT NULL CHECK (status IN ('completed', 'partial', 'not_found', 'failed')),
    sources    text[] NOT NULL DEFAULT '{}'
               CHECK (sources <@ ARRAY['spotify', 'musicbrainz', 'discogs']::text[]),
    confidence numeric(4,3) CHECK (confidence BETWEEN 0 AND 1),
    attempts   integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- backfill selects by status and age (partial, not_found older than a window).
CREATE INDEX enrichment_status_status_updated_idx ON enrichment_status (status, updated_at);

-- +goose Down
DROP TABLE enrichment_status;
