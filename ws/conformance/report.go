package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GroupCount counts the verdicts of one case group against one target.
type GroupCount struct {
	Group                                string
	Cases, Extra                         int
	OK, NonStrict, Informational, Failed int
	Duration                             time.Duration
}

// Count folds results into one GroupCount per group, in group order.
func Count(results []Result) []GroupCount {
	byGroup := map[string]*GroupCount{}
	var order []string
	for _, r := range results {
		g := r.Case.Group()
		gc := byGroup[g]
		if gc == nil {
			gc = &GroupCount{Group: g}
			byGroup[g] = gc
			order = append(order, g)
		}
		gc.Cases++
		if r.Case.Extra {
			gc.Extra++
		}
		gc.Duration += r.Duration
		switch r.Verdict().Summary() {
		case OK:
			gc.OK++
		case NonStrict:
			gc.NonStrict++
		case Informational:
			gc.Informational++
		default:
			gc.Failed++
		}
	}
	slices.SortStableFunc(order, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	out := make([]GroupCount, 0, len(order))
	for _, g := range order {
		out = append(out, *byGroup[g])
	}
	return out
}

// Table formats the counts of one target as a compact table, with a total
// line.
func Table(target string, results []Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", target)
	fmt.Fprintf(&b, "  %-3s %-20s %5s %5s %4s %10s %4s %6s\n", "grp", "", "cases", "extra", "OK", "NON-STRICT", "INFO", "FAILED")
	var total GroupCount
	for _, gc := range Count(results) {
		fmt.Fprintf(&b, "  %-3s %-20s %5d %5d %4d %10d %4d %6d\n", gc.Group, GroupNames[gc.Group], gc.Cases, gc.Extra, gc.OK, gc.NonStrict, gc.Informational, gc.Failed)
		total.Cases += gc.Cases
		total.Extra += gc.Extra
		total.OK += gc.OK
		total.NonStrict += gc.NonStrict
		total.Informational += gc.Informational
		total.Failed += gc.Failed
	}
	fmt.Fprintf(&b, "  %-3s %-20s %5d %5d %4d %10d %4d %6d\n", "all", "", total.Cases, total.Extra, total.OK, total.NonStrict, total.Informational, total.Failed)
	return b.String()
}
