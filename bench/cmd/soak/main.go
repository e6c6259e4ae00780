// Command soak runs `glassnet serve` on a TUN in a network namespace of its
// own and drives a mix of traffic at it from the kernel's side for a given
// time, under faults that change every phase: WebSocket echo with
// sequence numbers and checksums, /chat fan-out with one deliberately slow
// member, bulk TCP echo and discard with hashes, UDP echo, and connection
// churn with clean and abrupt closes. It checks, while it runs and at the
// end, that no message is lost, duplicated or reordered at the
// application, that no connection goes without progress for longer than
// the stall limit, that serve's memory, goroutines and sockets come back
// near their baseline, and that serve never panics. It prints a summary
// table and exits 1 when a check fails, naming it.
//
//	bench/soak.sh 60s
//	go run ./cmd/soak -glassnet /tmp/glassnet -duration 15m   (from bench/, as root)
//
// Nothing is configured in the namespace soak is started from: the
// process re-executes itself with CLONE_NEWNET and everything (the TUN,
// its addresses, serve and the traffic) lives in that namespace, which
// goes away with the process.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// envChild marks the process running inside the fresh namespace.
const envChild = "GLASSNET_SOAK_CHILD"

type config struct {
	glassnet string        // the glassnet binary to run serve from
	duration time.Duration // how long the traffic runs
	phase    time.Duration // how long one fault set stays
	stall    time.Duration // the longest a connection may go without progress
	settle   time.Duration // the longest to wait for serve to come back to its baseline
	seed     uint64
	logDir   string // serve's output is kept here
	verbose  bool
	faults   []faultSet // the fault sets the phases rotate through
	// idleTimeout is serve's --idle-timeout, 0 when serve has none. A
	// reset lost to a fault leaves a half-open connection on serve's side
	// that only the idle timeout ends.
	idleTimeout time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.glassnet, "glassnet", "", "path of the glassnet binary to soak (required; bench/soak.sh builds it)")
	flag.DurationVar(&cfg.duration, "duration", time.Minute, "how long the traffic runs")
	flag.DurationVar(&cfg.phase, "phase", 12*time.Second, "how long each fault set stays before the next")
	flag.DurationVar(&cfg.stall, "stall", 10*time.Second, "a connection without progress for longer than this is a failure")
	flag.DurationVar(&cfg.settle, "settle", 150*time.Second, "how long to wait after the load for serve's heap, goroutines and sockets to come back")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the traffic's sizes, contents and choices")
	flag.StringVar(&cfg.logDir, "log-dir", os.TempDir(), "directory for serve's output (soak-serve-PID.log)")
	flag.BoolVar(&cfg.verbose, "v", false, "print every failure as it happens and every phase change")
	faults := flag.String("faults", "", "comma-separated words: rotate only through the fault sets whose names contain one (default all)")
	flag.Parse()
	var err error
	if cfg.faults, err = selectFaults(*faults); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if cfg.glassnet == "" || cfg.duration <= 0 || cfg.phase <= 0 || cfg.stall <= 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: soak -glassnet BINARY [-duration D] [-phase D] [-stall D] [-seed N] [-faults WORDS]")
		os.Exit(2)
	}
	if os.Getenv(envChild) != "" {
		os.Exit(child(cfg))
	}
	os.Exit(parent())
}

// parent re-executes soak in a new network namespace and returns its exit
// code.
func parent() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "soak: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create a network namespace and a TUN")
		return 2
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		fmt.Fprintln(os.Stderr, "soak: no /dev/net/tun:", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), envChild+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	return 0
}
