package app

import (
	"fmt"
	"sort"
	"strings"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
)

// Rules are the --egress and --ingress rules of a command, as written
// (hook.Rule has the syntax).
type Rules struct {
	Egress  []string `json:",omitempty"`
	Ingress []string `json:",omitempty"`
}

// chains parses the rules into the chains for the link hook points.
func (r Rules) chains() (egress, ingress *hook.Chain, err error) {
	if egress, err = hook.ParseRules(r.Egress); err != nil {
		return nil, nil, fmt.Errorf("--egress: %w", err)
	}
	if ingress, err = hook.ParseRules(r.Ingress); err != nil {
		return nil, nil, fmt.Errorf("--ingress: %w", err)
	}
	return egress, ingress, nil
}

// Check parses the rules and reports the first that does not parse.
func (r Rules) Check() error {
	_, _, err := r.chains()
	return err
}

// verdictSummary says what the hooks decided: "link-egress drop loss 12,
// link-egress delay delay 830", or "" when they decided nothing.
func verdictSummary(s netstack.Stats) string {
	var parts []string
	for k, n := range s.Verdicts {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
