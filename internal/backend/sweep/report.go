package sweep

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the findings as a table, then one summary line per engine listing and a verdict.
func (r *Report) WriteTable(w io.Writer) error {
	fs := append([]Finding(nil), r.Findings...)
	sortFindings(fs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tENGINE\tRECORD\tEXTERNAL ID\tSTATUS\tPROBLEM\tACTION\tRESULT\tDETAIL")
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Kind, dash(f.Engine), dash(f.RecordID), dash(f.ExternalID),
			dash(statusOf(f)), f.Problem, dash(f.Action), result(f, r.Applied), f.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var listed []string
	for k, n := range r.Listed {
		listed = append(listed, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(listed)
	fmt.Fprintf(w, "\nlisted: %s; non-terminal sandbox records: %d creating, %d active, %d error\n",
		orNone(strings.Join(listed, ", ")), r.Records["creating"], r.Records["active"], r.Records["error"])
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	actionable := len(r.Actionable())
	switch {
	case r.Err() != nil:
		fmt.Fprintf(w, "errors:\n  %s\n", strings.ReplaceAll(r.Err().Error(), "\n", "\n  "))
	case actionable == 0:
		fmt.Fprintln(w, "clean: nothing to sweep")
	case r.Applied:
		fmt.Fprintf(w, "swept: %d finding(s) removed\n", actionable)
	default:
		fmt.Fprintf(w, "dry run: %d finding(s) to remove; nothing was changed (run again with -apply to remove them)\n", actionable)
	}
	_, err := fmt.Fprint(w, "")
	return err
}

func statusOf(f Finding) string {
	if f.Status == "" && f.RecordID != "" && f.Problem == ProblemNoRecord {
		return "(missing)"
	}
	return f.Status
}

func result(f Finding, applied bool) string {
	switch {
	case f.Err != nil:
		return "FAILED: " + oneLine(f.Err.Error())
	case f.Action == "":
		return "left alone"
	case f.Applied:
		return "done"
	case applied:
		return "skipped"
	}
	return "dry run"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}
