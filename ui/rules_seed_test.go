package ui

import (
	"testing"

	"github.com/glassnet/glassnet/hook"
)

// TestLiveRulesDrawApart: the same random rule added twice from the page
// (on one node's two directions, or twice on one) draws numbers of its
// own each time, as the command line's rules do, instead of losing the
// same packets in step.
func TestLiveRulesDrawApart(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	defer s.Close()
	if err := s.AddNode(Node{Name: "client"}); err != nil {
		t.Fatal(err)
	}
	var hooks []hook.PacketHook
	for _, point := range []string{"egress", "ingress", "egress"} {
		id, err := s.AddRule("client", point, "loss 50%")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Rules().Rules {
			if r.ID == id {
				hooks = append(hooks, r.packet)
			}
		}
	}
	if len(hooks) != 3 {
		t.Fatalf("%d rules found, want 3", len(hooks))
	}
	const n = 4000
	same := [3]int{}
	for range n {
		var v [3]hook.Action
		for i, h := range hooks {
			v[i] = h.Decide(&hook.Packet{Data: make([]byte, 40)}).Action
		}
		for i := range 3 {
			if v[i] == v[(i+1)%3] {
				same[i]++
			}
		}
	}
	// independent: each pair agrees about half the time (n/2 ± 5σ, σ = 32)
	for i, k := range same {
		if k < n/2-160 || k > n/2+160 {
			t.Errorf("rules %d and %d agreed on %d of %d packets, want about half: they draw in step", i+1, (i+1)%3+1, k, n)
		}
	}
}
