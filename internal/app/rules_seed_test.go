package app

import (
	"testing"

	"github.com/glassnet/glassnet/hook"
)

// TestRulesEachWayDrawApart: `--egress 'loss 50%' --ingress 'loss 50%'`
// loses packets each way apart, as netem on two interfaces would, not the
// nth packet of each direction in step.
func TestRulesEachWayDrawApart(t *testing.T) {
	egress, ingress, err := Rules{Egress: []string{"loss 50%"}, Ingress: []string{"loss 50%"}}.chains()
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	same := 0
	for range n {
		if egress.Decide(&hook.Packet{Data: make([]byte, 40)}).Action == ingress.Decide(&hook.Packet{Data: make([]byte, 40)}).Action {
			same++
		}
	}
	// independent: they agree about half the time (n/2 ± 5σ, σ = 32)
	if same < n/2-160 || same > n/2+160 {
		t.Errorf("egress and ingress agreed on %d of %d packets, want about half: they draw in step", same, n)
	}
}
