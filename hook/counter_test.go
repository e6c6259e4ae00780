package hook

import (
	"encoding/json"
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

// Verdict counts encode as JSON, keyed by the key's String form.
func TestVerdictCountsJSON(t *testing.T) {
	t.Parallel()
	m := map[VerdictKey]uint64{
		{Point: LinkEgress, Action: Drop, Reason: "loss"}:          3,
		{Point: "in", Unit: "ping", Action: Delay, Reason: "slow"}: 1,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]uint64
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"link-egress drop loss": 3, "in ping delay slow": 1}
	if len(got) != len(want) {
		t.Fatalf("JSON %s, want the keys of %v", b, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("JSON %s: %q = %d, want %d", b, k, got[k], n)
		}
	}
}
