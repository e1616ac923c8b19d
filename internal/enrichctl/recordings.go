package enrichctl

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/store"
)

func init() { register(newRecordingsCmd) }

func newRecordingsCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "recordings",
		Short: "Show the rows that are the same recording, or regroup them now",
		Long: "recordings reads track_recordings: tracks rows that share an ISRC, a Spotify id or a MusicBrainz\n" +
			"recording id (transitively) are one recording, with one recording id that stays the same across\n" +
			"refreshes. The workers' coverage refresher regroups the rows once per COVERAGE_REFRESH_INTERVAL;\n" +
			"refresh does it now (docs/curation.md).",
	})
	cmd.AddCommand(newRecordingsShowCmd(a), newRecordingsRefreshCmd(a))
	return cmd
}

// recordingReport is what recordings show reports; -o json prints it.
type recordingReport struct {
	TrackID string `json:"track_id"`
	Grouped bool   `json:"grouped"`
	// Reason says why a track is not grouped.
	Reason      string                  `json:"reason,omitempty"`
	RecordingID int64                   `json:"recording_id,omitempty"`
	RefreshedAt *time.Time              `json:"refreshed_at,omitempty"`
	Members     []store.RecordingMember `json:"members,omitempty"`
	Conflicts   []recordingConflict     `json:"conflicts,omitempty"`
}

// recordingConflict is one field on which the members disagree.
type recordingConflict struct {
	Field  string           `json:"field"`
	Values []conflictValues `json:"values"`
}

type conflictValues struct {
	Value    string   `json:"value"`
	TrackIDs []string `json:"track_ids"`
}

// Why a track has no recording id.
const (
	reasonNoIDs        = "no ISRC or provider id"
	reasonNotRefreshed = "it has an ISRC or provider id, but the recordings were not refreshed since (run enrichctl recordings refresh)"
)

func newRecordingsShowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show TRACK_ID",
		Short: "List the rows that are the same recording as TRACK_ID, and where they disagree",
		Long: "show prints TRACK_ID's recording id, every row of that recording (as scraped, with its ids,\n" +
			"duration, label and release date), and the fields on which those rows disagree, with the rows\n" +
			"holding each value (nothing is merged: each row keeps its own values). A track with no ISRC and\n" +
			"no provider id is not grouped (exit 0); an unknown track id is an error (exit 1).",
		Example: "  enrichctl recordings show set01-t03\n  enrichctl recordings show set01-t03 -o json",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("%s takes one track id, got %d argument(s)", cmd.CommandPath(), len(args))
			}
			return nil
		},
	}
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		rep, err := collectRecording(a, st, args[0])
		if err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.env.Stdout, rep)
		}
		return writeRecordingTable(a.env.Stdout, rep)
	}
	return cmd
}

func collectRecording(a *app, st *store.Store, id string) (recordingReport, error) {
	rep := recordingReport{TrackID: id}
	tr, err := st.RecordingOf(a.ctx, id)
	if err != nil {
		return rep, err
	}
	last, ok, err := st.LastRecordingsRefresh(a.ctx)
	if err != nil {
		return rep, err
	}
	if ok {
		at := last.RefreshedAt.UTC()
		rep.RefreshedAt = &at
	}
	switch {
	case tr.RecordingID == 0 && !tr.HasIDs:
		rep.Reason = reasonNoIDs
		return rep, nil
	case tr.RecordingID == 0:
		rep.Reason = reasonNotRefreshed
		return rep, nil
	}
	rep.Grouped, rep.RecordingID = true, tr.RecordingID
	if rep.Members, err = st.RecordingMembers(a.ctx, tr.RecordingID); err != nil {
		return rep, err
	}
	cs, err := st.RecordingConflicts(a.ctx, tr.RecordingID)
	if err != nil {
		return rep, err
	}
	for _, c := range cs {
		if n := len(rep.Conflicts); n == 0 || rep.Conflicts[n-1].Field != c.Field {
			rep.Conflicts = append(rep.Conflicts, recordingConflict{Field: c.Field})
		}
		last := &rep.Conflicts[len(rep.Conflicts)-1]
		last.Values = append(last.Values, conflictValues{Value: c.Value, TrackIDs: c.TrackIDs})
	}
	return rep, nil
}

// writeRecordingTable writes the report for a terminal; everything read
// from the database is escaped.
func writeRecordingTable(w io.Writer, r recordingReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	refreshed := "never refreshed"
	if r.RefreshedAt != nil {
		refreshed = "as refreshed at " + r.RefreshedAt.Format(time.RFC3339)
	}
	if !r.Grouped {
		fmt.Fprintf(tw, "track %q is not grouped: %s (%s)\n", Escape(r.TrackID), r.Reason, refreshed)
		return flushTable(tw)
	}
	fmt.Fprintf(tw, "recording %d: %d row(s) (%s)\n\n", r.RecordingID, len(r.Members), refreshed)
	fmt.Fprintln(tw, "TRACK\tARTIST\tTITLE\tISRC\tSPOTIFY_ID\tMUSICBRAINZ_ID\tDISCOGS_RELEASE_ID\tDURATION\tLABEL\tRELEASE_DATE")
	for _, m := range r.Members {
		discogs := ""
		if m.DiscogsReleaseID != 0 {
			discogs = strconv.FormatInt(m.DiscogsReleaseID, 10)
		}
		duration := ""
		if m.DurationMS > 0 {
			duration = formatDurationMS(m.DurationMS)
		}
		cells := []string{m.TrackID, m.Artist, m.Title, m.ISRC, m.SpotifyID, m.MusicBrainzID, discogs, duration, m.Label, m.ReleaseDate}
		for i, c := range cells {
			cells[i] = orDash(Escape(c))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	fmt.Fprintln(tw)
	if len(r.Conflicts) == 0 {
		fmt.Fprintln(tw, "conflicts: none")
		return flushTable(tw)
	}
	fmt.Fprintln(tw, "conflicts (the rows disagree; each keeps its own value):")
	for _, c := range r.Conflicts {
		for i, v := range c.Values {
			field := ""
			if i == 0 {
				field = c.Field
			}
			value := v.Value
			if c.Field == "duration_ms" {
				if ms, err := strconv.Atoi(value); err == nil {
					value = formatDurationMS(ms)
				}
			}
			ids := make([]string, len(v.TrackIDs))
			for j, id := range v.TrackIDs {
				ids[j] = Escape(id)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", field, Escape(value), strings.Join(ids, ", "))
		}
	}
	return flushTable(tw)
}

func flushTable(tw *tabwriter.Writer) error {
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write the recording: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatDurationMS writes a duration as m:ss.mmm.
func formatDurationMS(ms int) string {
	return fmt.Sprintf("%d:%02d.%03d", ms/60000, ms/1000%60, ms%1000)
}

// recordingsRefreshReport is what recordings refresh reports.
type recordingsRefreshReport struct {
	store.RecordingCounts
	Changed         int64   `json:"changed"`
	DurationSeconds float64 `json:"duration_seconds"`
}

func newRecordingsRefreshCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "refresh",
		Short: "Regroup the rows into recordings now",
		Long: "refresh brings track_recordings up to date now, under the coverage refresher's advisory lock\n" +
			"(it waits for a refresh in progress elsewhere), and prints what it changed.",
		Args: noArgs,
	}
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		c, err := st.RefreshRecordingsNow(a.ctx)
		if err != nil {
			return err
		}
		rep := recordingsRefreshReport{RecordingCounts: c, Changed: c.Changed(), DurationSeconds: c.Duration.Seconds()}
		if out.json() {
			return writeJSON(a.env.Stdout, rep)
		}
		_, err = fmt.Fprintf(a.env.Stdout, "%d row(s) in %d recording(s); %d row(s) changed (%d inserted, %d updated, %d deleted), "+
			"%d new recording id(s); took %s\n", c.Rows, c.Recordings, c.Changed(), c.Inserted, c.Updated, c.Deleted, c.NewIDs,
			c.Duration.Round(time.Millisecond))
		return err
	}
	return cmd
}
