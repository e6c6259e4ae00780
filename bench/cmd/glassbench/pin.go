package main

import "fmt"

// wsPlacement is where -ws-cpus puts the ws section's server processes
// and its client (this process): the CPU each runs on, or ok false to
// leave them to the scheduler.
type wsPlacement struct {
	server, client int
	ok             bool
}

// placeWS chooses the CPUs for -ws-cpus mode ("apart": the servers on
// the second CPU this process may use, the client on the first; "same":
// both on the first; "": none).
func placeWS(mode string) (wsPlacement, error) {
	if mode == "" {
		return wsPlacement{}, nil
	}
	if mode != "apart" && mode != "same" {
		return wsPlacement{}, fmt.Errorf("-ws-cpus %q: want apart or same", mode)
	}
	cpus, err := allowedCPUs()
	if err != nil {
		return wsPlacement{}, fmt.Errorf("-ws-cpus: %w", err)
	}
	need := 1
	if mode == "apart" {
		need = 2
	}
	if len(cpus) < need {
		return wsPlacement{}, fmt.Errorf("-ws-cpus %s: this process may run on %d CPU, it needs %d", mode, len(cpus), need)
	}
	return wsPlacement{server: cpus[need-1], client: cpus[0], ok: true}, nil
}
