package hook

import (
	"sync"
	"testing"
)

// The zero Counter counts from many goroutines, and Counts is a copy.
func TestCounter(t *testing.T) {
	t.Parallel()
	var c Counter
	loss := VerdictKey{Point: LinkEgress, Action: Drop, Reason: "loss"}
	ping := VerdictKey{Point: "in", Unit: "ping", Action: Delay, Reason: "slow"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Add(loss)
			}
			c.Add(ping)
		})
	}
	wg.Wait()
	got := c.Counts()
	if len(got) != 2 || got[loss] != 800 || got[ping] != 8 {
		t.Fatalf("counts %v", got)
	}
	got[loss] = 0
	if c.Counts()[loss] != 800 {
		t.Fatal("Counts shares its map with the counter")
	}
	if s := loss.String(); s != "link-egress drop loss" {
		t.Errorf("String %q", s)
	}
	if s := ping.String(); s != "in ping delay slow" {
		t.Errorf("String %q", s)
	}
}
