package eval

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes precision and recall per provider and overall, ours
// beside the first-hit baseline.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%d cases, threshold %.2f, margin %.2f; %d provider calls, %d HTTP requests; %s\n",
		r.Cases, r.Config.Threshold, r.Config.Margin, r.Calls, r.Requests, r.Elapsed.Round(100_000_000))
	fmt.Fprintf(w, "placeholders: %d cases, %d provider calls\n\n", r.PlaceholderCases, r.PlaceholderRequests)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "provider\tprecision\trecall\tTP\tFP\tFN\tTN\t|\tfirst hit: precision\trecall\tTP\tFP\tFN\tTN\t")
	row := func(name string, o, b Counts) {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t|\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t\n", name,
			o.Precision(), o.Recall(), o.TP, o.FP, o.FN, o.TN, b.Precision(), b.Recall(), b.TP, b.FP, b.FN, b.TN)
	}
	for _, p := range Providers {
		row(p, r.Ours[p], r.Baseline[p])
	}
	row("overall", r.Overall(r.Ours), r.Overall(r.Baseline))
	tw.Flush()
	fmt.Fprintln(w, "\nours by part of the set (all providers):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "part\tprecision\trecall\tTP\tFP\tFN\tTN\t")
	for _, g := range GroupNames {
		c := r.Groups[g]
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t\n", g, c.Precision(), c.Recall(), c.TP, c.FP, c.FN, c.TN)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nTP expected id matched; FP an id that is not the expected one; FN expected id not matched"+
		" (a wrong id counts as FP and FN); TN nothing expected, nothing matched.")
}

// WriteMisses lists the matcher's wrong answers with the engine's scores.
func (r *Report) WriteMisses(w io.Writer) {
	fmt.Fprintf(w, "\n%d misses (ours):\n", len(r.Misses))
	for _, m := range r.Misses {
		fmt.Fprintf(w, "\n%s %s %s: %s - %s", m.TrackID, m.Provider, m.Kind, m.Artist, m.Title)
		if m.Hints != "" {
			fmt.Fprintf(w, " [%s]", m.Hints)
		}
		fmt.Fprintf(w, "\n  expected %s, got %s", orNone(m.Expected), orNone(m.Got))
		if m.Note != "" {
			fmt.Fprintf(w, "  (%s)", m.Note)
		}
		fmt.Fprintf(w, "\n  engine: %s\n", m.Detail)
		if len(m.Candidates) > 0 {
			fmt.Fprintln(w, "  search candidates, scored:")
			for _, c := range m.Candidates {
				fmt.Fprintf(w, "    %s\n", c)
			}
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "no match"
	}
	return s
}

// String is the table followed by the misses.
func (r *Report) String() string {
	var b strings.Builder
	r.WriteTable(&b)
	r.WriteMisses(&b)
	return b.String()
}
