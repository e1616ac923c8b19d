-- +goose Up
-- Curation (docs/curation.md): close calls kept for review, and the
-- decisions people take on them (overrides), which every later enrichment,
-- backfill and rematch applies.

-- match_reviews holds the open close calls: per track and provider, the
-- last enrichment's decision found no match, but only narrowly (a best
-- candidate just under the threshold, two recordings within the margin, the
-- same song in another version or credit). A later enrichment that decides
-- that provider replaces or removes the row; a decision (enrichctl review
-- accept/reject) removes it.
CREATE TABLE match_reviews (
    track_id        text NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    provider        text NOT NULL CHECK (provider IN ('spotify', 'musicbrainz', 'discogs')),
    -- reason: threshold, margin, version conflict or artist conflict.
    reason          text NOT NULL CHECK (reason IN ('threshold', 'margin', 'version conflict', 'artist conflict')),
    -- detail says the reason in numbers ("best 0.780, threshold 0.82").
    detail          text NOT NULL DEFAULT '',
    -- candidates: the top candidates, best first, each with the provider's
    -- recording (id, title, artists, duration, ISRCs, releases), its
    -- version, its score components and why it was not chosen.
    candidates      jsonb NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
    matcher_version integer CHECK (matcher_version > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (track_id, provider)
);

-- review list reads the newest first, by provider and reason.
CREATE INDEX match_reviews_created_idx ON match_reviews (created_at DESC);

-- match_overrides are decisions people took for one provider of a track:
-- accept this recording, or reject (no match exists). Keyed by the track id
-- (scope 'track') or by the normalised artist and title (scope 'name',
-- match.NameKey), so that the next scrape of the same track under a new
-- track id is decided too. A track's own override wins over its name's.
CREATE TABLE match_overrides (
    scope       text NOT NULL CHECK (scope IN ('track', 'name')),
    key         text NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 1024),
    provider    text NOT NULL CHECK (provider IN ('spotify', 'musicbrainz', 'discogs')),
    action      text NOT NULL CHECK (action IN ('accept', 'reject')),
    -- provider_id: the accepted recording's id (Spotify track id, MusicBrainz
    -- recording MBID, Discogs release id); NULL for a rejection.
    provider_id text CHECK ((action = 'accept') = (provider_id IS NOT NULL)),
    -- recording: the accepted recording as the provider gave it, so that
    -- applying the override needs no provider request.
    recording   jsonb CHECK ((action = 'accept') = (recording IS NOT NULL)),
    -- track_id: the track the decision was taken on (for a name override,
    -- where it came from).
    track_id    text,
    decided_by  text NOT NULL CHECK (char_length(decided_by) BETWEEN 1 AND 256),
    decided_at  timestamptz NOT NULL DEFAULT now(),
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (scope, key, provider)
);

-- +goose StatementBegin
-- match_overrides_notify tells the workers' override index (store.OverrideIndex,
-- LISTEN enrichment_overrides) that the overrides changed; notifications of
-- one transaction are delivered once, at its commit.
CREATE FUNCTION match_overrides_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('enrichment_overrides', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER match_overrides_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON match_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION match_overrides_notify();

-- needs_review: the track has open close calls (match_reviews).
ALTER TABLE enrichment_status ADD COLUMN needs_review boolean NOT NULL DEFAULT false;
CREATE INDEX enrichment_status_needs_review_idx ON enrichment_status (track_id) WHERE needs_review;

-- +goose Down
DROP INDEX enrichment_status_needs_review_idx;
ALTER TABLE enrichment_status DROP COLUMN needs_review;
DROP TRIGGER match_overrides_notify ON match_overrides;
DROP FUNCTION match_overrides_notify();
DROP TABLE match_overrides;
DROP TABLE match_reviews;
