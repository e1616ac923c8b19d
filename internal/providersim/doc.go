// Package providersim is a local stand-in for the Spotify Web API, MusicBrainz WS/2 and
// the Discogs API. It serves a catalog of artists, recordings and releases with the real
// APIs' paths, JSON shapes, authentication, rate limits and 429/503 behaviour, for demos,
// tests and benchmarks.
//
// The response types here belong to the simulator alone. They follow the recorded real
// responses in testdata/fixtures and are never shared with the service's provider
// clients, so a shape mistake cannot hide on both sides at once.
//
// A Server is built from a Catalog and a Config and serves everything from one handler:
//
//	/spotify/api/token, /spotify/v1/...   Spotify accounts and Web API
//	/musicbrainz/ws/2/...                 MusicBrainz
//	/discogs/...                          Discogs
//	/_stats, /_stats/reset, /healthz      simulator endpoints
//
// docs/provider-sim.md describes the behaviour, the flags of cmd/provider-sim and the
// catalog format.
package providersim
