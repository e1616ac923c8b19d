-- +goose Up
-- tracks holds one row per producer track_id: the artist and title as scraped,
-- and the enriched metadata. Canonical names and per-provider details go to
-- metadata (jsonb), with each field's provenance.
CREATE TABLE tracks (
    id                   text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 128),
    artist               text NOT NULL,
    title                text NOT NULL,
    spotify_id           text CHECK (spotify_id ~ '^[0-9A-Za-z]{22}$'),
    isrc                 text CHECK (isrc ~ '^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$'),
    musicbrainz_id       uuid,
    discogs_release_id   bigint CHECK (discogs_release_id > 0),
    duration_ms          integer CHECK (duration_ms >= 0),
    release_date         date,
    label                text,
    genres               text[],
    bpm                  numeric(6,2),
    musical_key          text,
    camelot_key          text,
    metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,
    enrichment_timestamp timestamptz,
    enrichment_source_api text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Lookups the code does: by provider id and ISRC (dedup, backfill joins) and
-- by enrichment age (backfill --older-than, stale counts).
CREATE INDEX tracks_isrc_idx ON tracks (isrc) WHERE isrc IS NOT NULL;
CREATE INDEX tracks_spotify_id_idx ON tracks (spotify_id) WHERE spotify_id IS NOT NULL;
CREATE INDEX tracks_musicbrainz_id_idx ON tracks (musicbrainz_id) WHERE musicbrainz_id IS NOT NULL;
CREATE INDEX tracks_enrichment_timestamp_idx ON tracks (enrichment_timestamp);

-- +goose StatementBegin
-- tracks_touch keeps updated_at current on every write and
-- enrichment_timestamp current whenever an enrichment column changes.
CREATE FUNCTION tracks_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.enrichment_timestamp IS NULL AND (
               NEW.spotify_id IS NOT NULL OR NEW.isrc IS NOT NULL
            OR NEW.musicbrainz_id IS NOT NULL OR NEW.discogs_release_id IS NOT NULL
            OR NEW.duration_ms IS NOT NULL OR NEW.release_date IS NOT NULL
            OR NEW.label IS NOT NULL OR NEW.genres IS NOT NULL
            OR NEW.bpm IS NOT NULL OR NEW.musical_key IS NOT NULL
            OR NEW.camelot_key IS NOT NULL OR NEW.metadata <> '{}'::jsonb
            OR NEW.enrichment_source_api IS NOT NULL) THEN
            NEW.enrichment_timestamp := now();
        END IF;
        RETURN NEW;
    END IF;
    NEW.updated_at := now();
    IF (NEW.spotify_id, NEW.isrc, NEW.musicbrainz_id, NEW.discogs_release_id,
        NEW.duration_ms, NEW.release_date, NEW.label, NEW.genres, NEW.bpm,
        NEW.musical_key, NEW.camelot_key, NEW.metadata, NEW.enrichment_source_api)
       IS DISTINCT FROM
       (OLD.spotify_id, OLD.isrc, OLD.musicbrainz_id, OLD.discogs_release_id,
        OLD.duration_ms, OLD.release_date, OLD.label, OLD.genres, OLD.bpm,
        OLD.musical_key, OLD.camelot_key, OLD.metadata, OLD.enrichment_source_api) THEN
        NEW.enrichment_timestamp := now();
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER tracks_touch
    BEFORE INSERT OR UPDATE ON tracks
    FOR EACH ROW EXECUTE FUNCTION tracks_touch();

-- +goose Down
DROP TRIGGER tracks_touch ON tracks;
DROP FUNCTION tracks_touch();
DROP TABLE tracks;
