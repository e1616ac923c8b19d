-- +goose Up
-- matcher_version is the version of the matcher that took the decision the
-- row records (match.MatcherVersion): enrichctl rematch re-decides the rows
-- an older matcher decided, from the cached provider answers. NULL: no
-- decision recorded (a failed task) or one taken before versions were stored
-- (matcher 1). Adding a nullable column without a default rewrites nothing.
ALTER TABLE enrichment_status ADD COLUMN matcher_version integer CHECK (matcher_version > 0);

-- rematch selects by matcher version (and status), in track order.
CREATE INDEX enrichment_status_matcher_version_idx ON enrichment_status (matcher_version);

-- +goose Down
DROP INDEX enrichment_status_matcher_version_idx;
ALTER TABLE enrichment_status DROP COLUMN matcher_version;
