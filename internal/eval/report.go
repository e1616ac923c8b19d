package eval

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes precision and recall per provider and overall, ours
// beside the first-hit baseline.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%s: %d cases, threshold %.2f, margin %.2f; %d provider calls, %d HTTP requests; %s\n",
		r.Name, r.Cases, r.Config.Threshold, r.Config.Margin, r.Calls, r.Requests, r.Elapsed.Round(100_000_000))
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
		c, ok := r.Groups[g]
		if !ok {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t\n", g, c.Precision(), c.Recall(), c.TP, c.FP, c.FN, c.TN)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nTP expected id matched; FP an id that is not the expected one; FN expected id not matched"+
		" (a wrong id counts as FP and FN); TN nothing expected, nothing matched.")
}

// WriteSideBySide writes precision and recall per provider for each set
// side by side, the first-hit baseline beside each, and the set's files
// separately when it has several (the tuning set: the first 610 lines and
// the lines added for issue 16).
func WriteSideBySide(w io.Writer, reps []*Report) {
	type col struct {
		name     string
		ours     func(p string) Counts
		baseline func(p string) Counts
	}
	var cols []col
	for _, r := range reps {
		cols = append(cols, col{fmt.Sprintf("%s (%d)", r.Name, r.Cases), func(p string) Counts { return r.count(r.Ours, p) },
			func(p string) Counts { return r.count(r.Baseline, p) }})
		if len(r.Files) > 1 {
			for _, f := range sortedKeys(r.Files) {
				cols = append(cols, col{fmt.Sprintf("  %s (%d)", f, r.FileCases[f]), func(p string) Counts { return r.count(r.Files[f], p) }, nil})
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "provider\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c.name)
	}
	fmt.Fprintln(tw)
	for _, p := range append(append([]string{}, Providers...), "overall") {
		fmt.Fprintf(tw, "%s\t", p)
		for _, c := range cols {
			o := c.ours(p)
			if c.baseline == nil {
				fmt.Fprintf(tw, "%.3f / %.3f\t", o.Precision(), o.Recall())
				continue
			}
			b := c.baseline(p)
			fmt.Fprintf(tw, "%.3f / %.3f (first hit %.3f / %.3f)\t", o.Precision(), o.Recall(), b.Precision(), b.Recall())
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "precision / recall; the first-hit baseline stores the provider's first search candidate")
}

// count is one provider's counts in m, or the sum over the providers for
// "overall".
func (r *Report) count(m map[string]Counts, p string) Counts {
	if p == "overall" {
		return r.Overall(m)
	}
	return m[p]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteMisses lists the matcher's wrong answers with the engine's scores;
// for a sealed set only how many there are, per provider and kind.
func (r *Report) WriteMisses(w io.Writer) {
	if r.HideMisses {
		byKind := map[string]int{}
		for _, m := range r.Misses {
			byKind[m.Provider+" "+m.Kind]++
		}
		fmt.Fprintf(w, "\n%s: %d misses (ours), not listed: the set is sealed (docs/matching.md)", r.Name, len(r.Misses))
		for _, k := range sortedKeys(byKind) {
			fmt.Fprintf(w, "; %s %d", k, byKind[k])
		}
		fmt.Fprintln(w)
		return
	}
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
