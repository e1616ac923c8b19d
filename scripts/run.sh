#!/usr/bin/env bash
# The main job, natively: create and migrate the database, declare the
# topology, start provider-sim (when built) and $WORKERS workers, publish the
# sample DJ sets, wait until every task has settled, print a summary, and
# stop the workers with SIGTERM (each must exit 0).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
WORKERS=${WORKERS:-3}
SAMPLE=${SAMPLE:-testdata/sample/tracks.jsonl}
RUN_DIR=.run
mkdir -p "$RUN_DIR"
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/musicdb?sslmode=disable}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export LOG_LEVEL=${LOG_LEVEL:-info}
BASE_PORT=${BASE_PORT:-9464}
SIM_PORT=${SIM_PORT:-8090}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== database and schema"
"$BIN/enrichctl" migrate up --create-db
echo "== topology"
"$BIN/queue-init"

PROVIDER_NOTE="real provider APIs (credentials from the environment)"
if [[ -z "${SPOTIFY_CLIENT_ID:-}" && -z "${DISCOGS_TOKEN:-}" && -x "$BIN/provider-sim" ]]; then
  # No credentials: use provider-sim. Its limits and the workers' fleet rates
  # are raised for the demo so the sample finishes in seconds; the real
  # limits (MusicBrainz 1/s, Discogs 60/min) are the defaults everywhere else.
  DEMO_RATE=${DEMO_RATE:-40}
  echo "== provider-sim on 127.0.0.1:$SIM_PORT (no credentials set; demo rate ${DEMO_RATE}/s per provider)"
  "$BIN/provider-sim" -addr 127.0.0.1:$SIM_PORT -catalog testdata/catalog/catalog.json \
    -musicbrainz-rate "$((DEMO_RATE * 2))" -musicbrainz-burst 2 -discogs-rate-limit "$((DEMO_RATE * 120))" \
    -spotify-rate-limit 100000 >"$RUN_DIR/provider-sim.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$SIM_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$SIM_PORT/healthz" >/dev/null || { echo "provider-sim did not start; see $RUN_DIR/provider-sim.log"; exit 1; }
  curl -fsS -X POST "http://127.0.0.1:$SIM_PORT/_stats/reset" >/dev/null || true
  export SPOTIFY_CLIENT_ID=demo-client SPOTIFY_CLIENT_SECRET=demo-secret DISCOGS_TOKEN=demo-token
  export SPOTIFY_API_URL=http://127.0.0.1:$SIM_PORT/spotify/v1 SPOTIFY_TOKEN_URL=http://127.0.0.1:$SIM_PORT/spotify/api/token
  export MUSICBRAINZ_API_URL=http://127.0.0.1:$SIM_PORT/musicbrainz/ws/2
  export DISCOGS_API_URL=http://127.0.0.1:$SIM_PORT/discogs
  export SPOTIFY_RATE=$DEMO_RATE MUSICBRAINZ_RATE=$DEMO_RATE DISCOGS_RATE=$DEMO_RATE
  PROVIDER_NOTE="provider-sim at 127.0.0.1:$SIM_PORT (no credentials set)"
fi

echo "== $WORKERS workers"
urls=()
worker_pids=()
for i in $(seq 0 $((WORKERS - 1))); do
  port=$((BASE_PORT + i))
  METRICS_ADDR=127.0.0.1:$port "$BIN/enrichment-worker" >"$RUN_DIR/worker-$i.log" 2>&1 &
  pids+=($!)
  worker_pids+=($!)
  urls+=("http://127.0.0.1:$port/metrics")
done
metrics=$(IFS=,; echo "${urls[*]}")
# Wait until every worker serves /readyz (consuming and Postgres reachable).
for u in "${urls[@]}"; do
  ready=${u%/metrics}/readyz
  for _ in $(seq 1 100); do
    curl -fsS "$ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$ready" >/dev/null || { echo "worker at $ready never became ready; logs in $RUN_DIR/"; exit 1; }
done

echo "== publish $SAMPLE"
"$BIN/enrichctl" publish --file "$SAMPLE"
echo "providers: $PROVIDER_NOTE"
"$BIN/enrichctl" summary --file "$SAMPLE" --metrics "$metrics" --timeout 5m
if [[ "$PROVIDER_NOTE" == provider-sim* ]]; then
  echo "provider-sim requests: $(curl -fsS "http://127.0.0.1:$SIM_PORT/_stats" | python3 -c 'import json,sys; s=json.load(sys.stdin)["providers"]; print(", ".join("%s %d" % (k, v["requests_total"]) for k, v in sorted(s.items())))' 2>/dev/null || echo n/a)"
fi

echo "== stopping workers (SIGTERM)"
status=0
for p in "${worker_pids[@]}"; do
  kill -TERM "$p"
  if ! wait "$p"; then echo "worker $p did not exit 0"; status=1; fi
done
pids=()
for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
exit $status
