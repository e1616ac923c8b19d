package eval

import (
	"context"
	"flag"
	"os"
	"sync"
	"testing"
	"time"
)

// -report (or EVAL_REPORT=1) makes TestEvalReport print the full report:
//
//	go test -run TestEvalReport -v ./internal/eval -args -report
var report = flag.Bool("report", false, "print the evaluation report (make eval)")

const (
	catalogPath = "../../testdata/catalog/catalog.json"
	casesPath   = "../../testdata/eval/cases.jsonl"
)

var (
	once   sync.Once
	result *Report
	runErr error
)

// evaluate runs the labelled set once per test binary.
func evaluate(t *testing.T) *Report {
	t.Helper()
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		result, runErr = Run(ctx, Config{CatalogPath: catalogPath, CasesPath: casesPath})
	})
	if runErr != nil {
		t.Fatalf("eval: %v", runErr)
	}
	return result
}

// TestEvalFloors keeps the acceptance floors: at the default threshold,
// precision ≥ 0.98 and recall ≥ 0.92 for every provider, better than the
// first-hit baseline on both, and no provider request for a placeholder.
func TestEvalFloors(t *testing.T) {
	r := evaluate(t)
	if r.Cases < 300 {
		t.Errorf("%d labelled cases, want at least 300", r.Cases)
	}
	if r.PlaceholderCases == 0 {
		t.Error("no placeholder case in the labelled set")
	}
	if err := r.CheckFloors(); err != nil {
		t.Errorf("%v\n%s", err, r.String())
	}
}

// TestEvalReport prints the report for make eval; it is skipped otherwise.
func TestEvalReport(t *testing.T) {
	if !*report && os.Getenv("EVAL_REPORT") == "" {
		t.Skip("run with -args -report (make eval)")
	}
	r := evaluate(t)
	r.WriteTable(os.Stdout)
	r.WriteMisses(os.Stdout)
}

func TestLoadCases(t *testing.T) {
	cases, err := LoadCases(casesPath)
	if err != nil {
		t.Fatal(err)
	}
	none := 0
	for _, c := range cases {
		for _, p := range Providers {
			if c.Expect[p] == "" {
				none++
				break
			}
		}
		if c.Note == "" {
			t.Errorf("%s: no note naming the trap", c.Task.TrackID)
		}
	}
	share := float64(none) / float64(len(cases))
	if share < 0.15 || share > 0.25 {
		t.Errorf("%.0f%% of cases expect no match for some provider, want a realistic 15-25%%", 100*share)
	}
}

func TestTally(t *testing.T) {
	for _, tt := range []struct {
		want, got, kind string
		c               Counts
	}{
		{"a", "a", "TP", Counts{TP: 1}},
		{"a", "b", "wrong", Counts{FP: 1, FN: 1}},
		{"", "b", "FP", Counts{FP: 1}},
		{"a", "", "FN", Counts{FN: 1}},
		{"", "", "TN", Counts{TN: 1}},
	} {
		c, kind := tally(tt.want, tt.got)
		if c != tt.c || kind != tt.kind {
			t.Errorf("tally(%q, %q) = %+v %s, want %+v %s", tt.want, tt.got, c, kind, tt.c, tt.kind)
		}
	}
	c := Counts{TP: 98, FP: 2, FN: 8}
	if c.Precision() != 0.98 || c.Recall() != float64(98)/106 {
		t.Errorf("precision, recall = %v, %v", c.Precision(), c.Recall())
	}
}
