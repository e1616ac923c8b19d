# The two commands users need:
#   make run    builds, migrates, declares the topology, runs 3 workers on the
#               sample DJ sets and prints a summary
#   make test   runs every test against the real PostgreSQL, RabbitMQ and Redis
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/djmeta/enrichment/internal/worker.Version=$(VERSION) -X github.com/djmeta/enrichment/internal/enrichctl.Version=$(VERSION)
CMDS := $(notdir $(wildcard cmd/*))
WORKERS ?= 3
SAMPLE ?= testdata/sample/tracks.jsonl
N ?= 5
COMPOSE := docker compose -f docker-compose.yml -f docker-compose.workers.yml

.PHONY: chaos memory fleet all build run test test-short lint fmt vet staticcheck services bench up scale down clean eval manifests
# deploy/validate is its own module (the Kubernetes, KEDA, Prometheus Operator and Grafana types
# it checks against stay out of the product's go.mod); test, vet and staticcheck cover it too.
VALIDATE := deploy/validate

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

## run: the main job, natively on this machine's services (see README)
run: build
	WORKERS=$(WORKERS) SAMPLE=$(SAMPLE) BIN=$(BIN) scripts/run.sh

## test: every test, with the race detector, against the real services; then the manifest and
## dashboard schema checks of deploy/validate (no race detector: no concurrency there, and
## instrumenting the Kubernetes API types would only slow the build)
test: vet
	$(GO) test -race -count=1 -timeout 9m ./...
	cd $(VALIDATE) && $(GO) test -count=1 -timeout 5m ./...

test-short:
	$(GO) test -count=1 -short ./...

vet:
	@test -z "$$(gofmt -l cmd internal migrations monitoring $(VALIDATE) 2>/dev/null)" || { gofmt -l cmd internal migrations monitoring $(VALIDATE); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	cd $(VALIDATE) && $(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd $(VALIDATE) && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## manifests: regenerate the kustomize base's PrometheusRule and dashboard copy from monitoring/,
## render every kustomization (base, overlays, base + each component) into bin/manifests/, and
## check every object offline against the real API types (k8s.io/api, KEDA, Prometheus Operator)
manifests:
	cd $(VALIDATE) && $(GO) run . -root ../.. -write -out ../../$(BIN)/manifests

lint: vet staticcheck

fmt:
	gofmt -w cmd internal migrations monitoring $(VALIDATE)

## fleet: the fleet quota test (4 workers, 2,000 tasks; about two minutes)
fleet:
	ENRICH_FLEET_TEST=1 $(GO) test -count=1 -v -timeout 20m -run TestFleetRespectsProviderRates ./internal/worker

## chaos: kills and restarts workers, RabbitMQ, PostgreSQL and Redis under load
## (restarts this machine's shared services: run it alone)
chaos:
	ENRICH_CHAOS_TEST=1 $(GO) test -count=1 -v -timeout 20m -run TestChaos ./cmd/enrichment-worker

## memory: one worker against forty 5 MB messages (MEMORY_MESSAGES, MEMORY_MESSAGE_MB):
## RSS sampled every 250 ms must stay at most 64 MiB, every message dead-lettered
## with a reason (moves a few hundred MB through the broker; not part of make test)
memory:
	ENRICH_MEMORY_TEST=1 $(GO) test -count=1 -v -timeout 10m -run TestMemoryBoundedWithLargeMessages ./cmd/enrichment-worker

## bench: one run, on this machine, of the ceiling, the peers (bench/peers, their own
## module), the warm and cold pipeline, scaling, latency, memory, Zipf cache savings
## and the micro-benchmarks; writes docs/BENCHMARKS.md, docs/bench/scaling.png and
## docs/bench/results.json (about 11 minutes; BENCH_QUICK=1 for a short indicative
## run; BENCH_FLAGS for more, see cd bench && go run . run -h). Not part of make test.
bench: build
	cd bench && $(GO) run . run -root .. $(BENCH_FLAGS)

## compose stack (needs a Docker engine)
up:
	$(COMPOSE) up -d --build
scale:
	$(COMPOSE) up -d --scale enrichment-worker=$(N)
down:
	$(COMPOSE) down

clean:
	rm -rf $(BIN) .run

## eval: matching precision and recall on the tuning set and the sealed hold-out (testdata/eval/),
## side by side, per provider, each beside the first-hit baseline; the tuning set's misses (docs/matching.md)
eval:
	$(GO) test -count=1 -run '^TestEvalReport$$' -v ./internal/eval -args -report

## soak: steady load for SOAK_DURATION (default 10m; e.g. make soak SOAK_DURATION=2m),
## sampling each worker's heap, goroutines and RSS every 10 s; prints the slopes.
## Not in CI.
SOAK_DURATION ?= 10m
.PHONY: soak
soak: build
	cd bench && $(GO) run . soak -root .. -duration $(SOAK_DURATION) $(SOAK_FLAGS)

## quota: the fleet at the providers' real quotas (MusicBrainz 1/s, Discogs
## 60/min, Spotify's rolling window): 3 workers with the default settings,
## 312 tasks with repeats and spelling variants, one worker SIGKILLed midway;
## prints requests, distinct and duplicate requests, calls per task, window
## maxima and quota use per provider (about 10 minutes). A 40-task variant
## runs in make test. QUOTA_ENV="DISCOGS_RATE=1" adds worker settings;
## QUOTA_LIFTED=1 runs the same tasks with the quotas lifted (calls per task
## only; it says nothing about production).
.PHONY: quota
quota:
	ENRICH_QUOTA_TEST=1 $(GO) test -count=1 -v -timeout 40m -run '^TestQuota$$' ./cmd/enrichment-worker
