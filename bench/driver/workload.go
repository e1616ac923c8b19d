package driver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Request is one distinct enrichment request (artist and title as scraped,
// with the id hints a scraper sometimes has).
type Request struct {
	Artist string
	Title  string
	Hints  map[string]any // spotify_id, isrc, musicbrainz_id, duration_ms
	Known  bool           // from the catalog's world (sample, eval set, catalog), not synthetic
}

// Task is one message: a track id and its request.
type Task struct {
	TrackID string
	Req     int // index into the pool
}

// Workload is the pool of distinct requests and the task sequences built
// from it. Everything is deterministic (fixed seeds), so every scenario and
// every run sees the same tasks.
type Workload struct {
	Pool []Request
}

// synthWords make tracks no provider knows (unreleased IDs, bootlegs): they
// cost a search at every provider and end not_found.
var synthWords = strings.Fields(`Midnight Static Velvet Orbit Solace Parallax Ember Tidal Neon Hollow
Drift Lumen Cascade Fable Quartz Vapour Meridian Pulse Cinder Harbour Mirage Echo Prism Nomad
Aurora Kinetic Obsidian Reverie Tundra Zephyr Mosaic Lantern Silt Canopy Gossamer Vertigo`)

var synthSuffix = []string{"", "", " (Extended Mix)", " (Original Mix)", " (Dub)", " (Radio Edit)"}

// LoadWorkload reads the sample DJ sets, the evaluation set and the
// catalog's recordings (deduplicated by artist and title) and adds synth
// requests nobody knows, shuffled with a fixed seed so that every prefix of
// the pool has the same mix.
func LoadWorkload(root string, synth int) (*Workload, error) {
	seen := map[string]bool{}
	var pool []Request
	add := func(r Request) {
		k := strings.ToLower(r.Artist) + "\x00" + strings.ToLower(r.Title)
		if r.Artist == "" || r.Title == "" || seen[k] {
			return
		}
		seen[k] = true
		pool = append(pool, r)
	}
	for _, f := range []string{"testdata/sample/tracks.jsonl", "testdata/eval/cases.jsonl"} {
		fh, err := os.Open(filepath.Join(root, f))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				fh.Close()
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			r := Request{Known: true, Hints: map[string]any{}}
			r.Artist, _ = m["artist"].(string)
			r.Title, _ = m["title"].(string)
			for _, h := range []string{"spotify_id", "isrc", "musicbrainz_id", "duration_ms"} {
				if v, ok := m[h]; ok {
					r.Hints[h] = v
				}
			}
			add(r)
		}
		fh.Close()
	}
	var cat struct {
		Artists []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"artists"`
		Recordings []struct {
			Title   string `json:"title"`
			Artists []struct {
				Artist string `json:"artist"`
				Join   string `json:"join"`
			} `json:"artists"`
		} `json:"recordings"`
	}
	b, err := os.ReadFile(filepath.Join(root, "testdata/catalog/catalog.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &cat); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	names := map[string]string{}
	for _, a := range cat.Artists {
		names[a.ID] = a.Name
	}
	for _, r := range cat.Recordings {
		var sb strings.Builder
		for _, a := range r.Artists {
			sb.WriteString(names[a.Artist])
			sb.WriteString(a.Join)
		}
		add(Request{Artist: sb.String(), Title: r.Title, Known: true})
	}
	rng := rand.New(rand.NewPCG(7, 11))
	known := len(pool)
	for tries := 0; len(pool) < known+synth && tries < 100*synth; tries++ {
		a := cat.Artists[rng.IntN(len(cat.Artists))].Name
		t := synthWords[rng.IntN(len(synthWords))] + " " + synthWords[rng.IntN(len(synthWords))] + synthSuffix[rng.IntN(len(synthSuffix))]
		add(Request{Artist: a, Title: t})
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return &Workload{Pool: pool}, nil
}

// Tasks returns n tasks: each is, with probability repeat, a repeat of an
// earlier task (same track id, same request: a scraper sending a track
// again), else a new track id with the next request of the pool's first
// pool requests (0: all), cycling.
func (w *Workload) Tasks(n int, repeat float64, seed uint64, pool int) []Task {
	if pool <= 0 || pool > len(w.Pool) {
		pool = len(w.Pool)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]Task, 0, n)
	next := 0
	for len(out) < n {
		if len(out) > 0 && rng.Float64() < repeat {
			out = append(out, out[rng.IntN(len(out))])
			continue
		}
		out = append(out, Task{TrackID: fmt.Sprintf("trk-%07d", next), Req: next % pool})
		next++
	}
	return out
}

// Distinct returns one task per request of the pool's first n requests.
func (w *Workload) Distinct(n int, prefix string) []Task {
	n = min(n, len(w.Pool))
	out := make([]Task, n)
	for i := range n {
		out[i] = Task{TrackID: fmt.Sprintf("%s-%07d", prefix, i), Req: i}
	}
	return out
}

// Zipf returns n tasks, each a new track id, whose requests follow a Zipf
// law over the pool (a few tracks in many DJ sets, a long tail once).
func (w *Workload) Zipf(n int, s float64, seed uint64) []Task {
	rng := rand.New(rand.NewPCG(seed, 5))
	z := rand.NewZipf(rng, s, 1, uint64(len(w.Pool)-1))
	out := make([]Task, n)
	for i := range n {
		out[i] = Task{TrackID: fmt.Sprintf("zipf-%07d", i), Req: int(z.Uint64())}
	}
	return out
}

// DistinctReqs counts the distinct requests of tasks.
func DistinctReqs(ts []Task) int {
	seen := map[int]bool{}
	for _, t := range ts {
		seen[t.Req] = true
	}
	return len(seen)
}

// Bodies encodes tasks as contract messages; tag makes the correlation ids
// unique per run (the worker logs them, which gives each task's latency).
func (w *Workload) Bodies(ts []Task, tag string) [][]byte {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		r := w.Pool[t.Req]
		m := map[string]any{"track_id": t.TrackID, "artist": r.Artist, "title": r.Title,
			"source": "bench", "correlation_id": fmt.Sprintf("%s-%d", tag, i)}
		for k, v := range r.Hints {
			m[k] = v
		}
		out[i], _ = json.Marshal(m)
	}
	return out
}
