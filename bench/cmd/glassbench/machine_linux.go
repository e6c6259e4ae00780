package main

import (
	"fmt"
	"os"
	"strings"
)

// machineNotes describes what of the machine moves the rows between runs
// and machines: the load when the run starts, and how an idle CPU waits.
// In a virtual machine whose idle CPUs halt at once (cpuidle driver
// haltpoll with guest_halt_poll_ns 0), every wake-up of a sleeping CPU
// leaves the guest, and a ping-pong over one connection runs at a third
// of the rate it has when idle CPUs poll first.
func machineNotes() []string {
	var notes []string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			notes = append(notes, "load average "+f[0])
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if d := read("/sys/devices/system/cpu/cpuidle/current_driver"); d != "" {
		s := "cpuidle " + d
		if ns := read("/sys/module/haltpoll/parameters/guest_halt_poll_ns"); d == "haltpoll" && ns != "" {
			s += fmt.Sprintf(" (guest_halt_poll_ns %s)", ns)
		}
		notes = append(notes, s)
	}
	return notes
}
