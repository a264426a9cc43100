package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText writes one URL's result for people: one line for a URL that matched, and one line
// per differing probe below it otherwise, with both values of every undocumented difference.
func WriteText(w io.Writer, r URLResult) error {
	label := map[Result]string{Matched: "ok  ", Documented: "doc ", Undocumented: "DIFF"}[r.Result]
	if _, err := fmt.Fprintf(w, "%s %s\n", label, r.Target); err != nil {
		return err
	}
	// One line per documented difference, naming the probes it explains.
	var ids []string
	kinds := map[string][]string{}
	for _, p := range r.Probes {
		if p.Result == Documented {
			if kinds[p.Difference] == nil {
				ids = append(ids, p.Difference)
			}
			kinds[p.Difference] = append(kinds[p.Difference], p.Kind)
		}
	}
	for _, id := range ids {
		d, _ := Lookup(id)
		if _, err := fmt.Fprintf(w, "       %s: documented difference %q (%s: index_cluster.php %s, ezdfsd %s)\n",
			strings.Join(kinds[id], ", "), d.ID, d.Request, d.Legacy, d.Ezdfsd); err != nil {
			return err
		}
	}
	for _, p := range r.Probes {
		if p.Result != Undocumented {
			continue
		}
		for _, f := range p.Fields {
			if _, err := fmt.Fprintf(w, "       %s: undocumented difference in %s: reference %q, candidate %q\n",
				p.Kind, f.Field, f.Reference, f.Candidate); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteJSON writes one URL's result as one JSON object on one line.
func WriteJSON(w io.Writer, r URLResult) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteSummary writes the counts of a run: URLs by result, probe results per kind, and each
// documented difference seen.
func WriteSummary(w io.Writer, s Summary) error {
	total := s.URLs[Matched] + s.URLs[Documented] + s.URLs[Undocumented]
	fmt.Fprintf(w, "\ncompared %d URLs: %d matched, %d with documented differences only, %d with undocumented differences\n",
		total, s.URLs[Matched], s.URLs[Documented], s.URLs[Undocumented])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "probe\tmatched\tdocumented\tundocumented\t")
	for _, k := range Kinds {
		if c := s.Kinds[k]; c != nil {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", k, c[Matched], c[Documented], c[Undocumented])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ids := make([]string, 0, len(s.Differences))
	for id := range s.Differences {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		fmt.Fprintln(w, "documented differences seen (probes):")
	}
	for _, id := range ids {
		d, _ := Lookup(id)
		fmt.Fprintf(w, "  %s: %d (%s: index_cluster.php %s, ezdfsd %s)\n", id, s.Differences[id], d.Request, d.Legacy, d.Ezdfsd)
	}
	var err error
	if s.Clean() {
		_, err = fmt.Fprintln(w, "result: no undocumented difference")
	} else {
		_, err = fmt.Fprintf(w, "result: %d URLs with undocumented differences\n", s.URLs[Undocumented])
	}
	return err
}
