package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"syscall"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

const envTUNChild = "GLASSBENCH_TUN_CHILD"

// tunResult is what the child process in its own network namespace reports
// for one MTU with offloads on or off: bytes per second of each round.
// Offloads names the offloads the TUN agreed with the kernel ("off"
// without). KernelEcho and KernelDiscard are kernel loopback in the same
// namespace, measured between the TUN transfers of each round, so that the
// ratio compares runs made under the same load.
type tunResult struct {
	MTU           int
	Offloads      string
	Echo          []float64
	Discard       []float64
	KernelEcho    []float64
	KernelDiscard []float64
	Tally         tally // the glassnet transfers (echo and discard)
	Err           string
}

// envTUNOffload chooses the TUN rows: "off", "on", or both (the default),
// each MTU without offloads first.
const envTUNOffload = "GLASSBENCH_TUN_OFFLOAD"

func tunOffloadModes() []bool {
	switch os.Getenv(envTUNOffload) {
	case "off":
		return []bool{true}
	case "on":
		return []bool{false}
	}
	return []bool{true, false}
}

// runTUN measures kernel client -> TUN -> glassnet in a child process in a
// fresh network namespace, so that the TUN, its addresses and routes exist
// only there. It returns a reason instead when that is not possible.
func runTUN(mtus []int, rounds int, total int64) ([]tunResult, string) {
	return runTUNChild(mtus, rounds, total, false)
}

// envTUNEchoOnly makes the child run only glassnet echo transfers (the
// stall count), without the kernel baseline and discard.
const envTUNEchoOnly = "GLASSBENCH_ECHO_ONLY"

// runTUNEcho runs n echo transfers of total bytes through the TUN per
// MTU and offload mode, for the stall count.
func runTUNEcho(mtus []int, n int, total int64) ([]tunResult, string) {
	return runTUNChild(mtus, n, total, true)
}

func runTUNChild(mtus []int, rounds int, total int64, echoOnly bool) ([]tunResult, string) {
	if os.Geteuid() != 0 {
		return nil, "skipped: needs root (CAP_NET_ADMIN) to create a network namespace and a TUN"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, "skipped: no /dev/net/tun"
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, "skipped: " + err.Error()
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envTUNChild+"=1",
		"GLASSBENCH_MTUS="+fmt.Sprint(mtus), "GLASSBENCH_ROUNDS="+strconv.Itoa(rounds),
		"GLASSBENCH_BYTES="+strconv.FormatInt(total, 10))
	if echoOnly {
		cmd.Env = append(cmd.Env, envTUNEchoOnly+"=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, "failed: " + err.Error()
	}
	var res []tunResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, "failed: child output: " + err.Error()
	}
	return res, ""
}

// tunChild runs in the child namespace and writes []tunResult as JSON.
func tunChild() {
	var mtus []int
	for _, f := range bytes.Fields(bytes.Trim([]byte(os.Getenv("GLASSBENCH_MTUS")), "[]")) {
		m, _ := strconv.Atoi(string(f))
		mtus = append(mtus, m)
	}
	rounds, _ := strconv.Atoi(os.Getenv("GLASSBENCH_ROUNDS"))
	total, _ := strconv.ParseInt(os.Getenv("GLASSBENCH_BYTES"), 10, 64)
	echoOnly := os.Getenv(envTUNEchoOnly) == "1"
	// The kernel loopback baseline runs here too: a new namespace's lo
	// is down.
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "glassbench: ip link set lo up: %v %s\n", err, out)
		os.Exit(1)
	}
	var kt *tcpTarget
	var err error
	labeled("kernel", func() { kt, err = kernelTCP() })
	if err != nil {
		fmt.Fprintln(os.Stderr, "glassbench:", err)
		os.Exit(1)
	}
	defer kt.close()
	if stop, err := startCPUProfile(); err != nil {
		fmt.Fprintln(os.Stderr, "glassbench:", err)
		os.Exit(1)
	} else {
		defer stop()
	}
	var res []tunResult
	for _, mtu := range mtus {
		for _, noOffload := range tunOffloadModes() {
			r := tunResult{MTU: mtu, Offloads: "off"}
			labeled("tun", func() {
				if err := tunOne(kt, mtu, noOffload, echoOnly, rounds, total, &r); err != nil {
					r.Err = err.Error()
				}
			})
			res = append(res, r)
		}
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// envCPUProfile names a file for a CPU profile of the TUN child: the
// whole run in its namespace, kernel loopback transfers included (they
// show as time in syscalls of kernelTCP's goroutines).
const envCPUProfile = "GLASSBENCH_CPUPROFILE"

// labeled runs f with the profile label path=name, which every goroutine
// f starts inherits (the servers, the stack's), so that a profile tells
// the kernel baseline's CPU from glassnet's: go tool pprof -tagfocus
// path=tun. The caller's goroutine has no label after it.
func labeled(name string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("path", name), func(context.Context) { f() })
}

// startCPUProfile starts the CPU profile envCPUProfile asks for, if any,
// and returns what stops it.
func startCPUProfile() (func(), error) {
	name := os.Getenv(envCPUProfile)
	if name == "" {
		return func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func tunOne(kt *tcpTarget, mtu int, noOffload, echoOnly bool, rounds int, total int64, r *tunResult) error {
	stackAddr := netip.MustParsePrefix("10.201.0.2/24")
	dev, err := tun.Open(tun.Config{Name: "gbench0", MTU: mtu, HostAddr: tun.HostAddrFor(stackAddr), NoOffload: noOffload})
	if err != nil {
		return err
	}
	if o := dev.Offloads(); o != 0 {
		r.Offloads = o.String()
	}
	st, err := netstack.New(netstack.Options{Device: dev, Addrs: []netip.Prefix{stackAddr}, Node: "glassnet"})
	if err != nil {
		return err
	}
	defer st.Close()
	s := sockets.New(st.Stack(), sockets.Options{Node: "glassnet"})
	le, err := s.Listener("tcp4", ":7")
	if err != nil {
		return err
	}
	defer le.Close()
	ld, err := s.Listener("tcp4", ":9")
	if err != nil {
		return err
	}
	defer ld.Close()
	go serveTCP(le, true)
	go serveTCP(ld, false)
	var d net.Dialer
	echo := func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", "10.201.0.2:7") }
	discard := func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", "10.201.0.2:9") }
	// A stalled transfer is counted in the tally and reported with the
	// stack's counters; the other rounds still run. With echoOnly the
	// kernel baseline and discard are left out.
	var kfailed []string
	var v float64
	for range rounds {
		if !echoOnly {
			labeled("kernel", func() { v, err = bulk(kt.echo, total, true) })
			if err != nil {
				kfailed = append(kfailed, "kernel loopback echo: "+err.Error())
			} else {
				r.KernelEcho = append(r.KernelEcho, v)
			}
		}
		labeled("tun", func() { v, err = bulk(echo, total, true) })
		r.Tally.add(err)
		if err == nil {
			r.Echo = append(r.Echo, v)
		}
		if echoOnly {
			continue
		}
		labeled("kernel", func() { v, err = bulk(kt.discard, total, false) })
		if err != nil {
			kfailed = append(kfailed, "kernel loopback discard: "+err.Error())
		} else {
			r.KernelDiscard = append(r.KernelDiscard, v)
		}
		labeled("tun", func() { v, err = bulk(discard, total, false) })
		r.Tally.add(err)
		if err == nil {
			r.Discard = append(r.Discard, v)
		}
	}
	if t := r.Tally; t.Stalls+t.Errors > 0 {
		fmt.Fprintf(os.Stderr, "glassbench: TUN MTU %d, offloads %s: %d of %d transfers stalled, %d failed, first: %s; stack counters: %+v\n",
			mtu, r.Offloads, t.Stalls, t.Transfers, t.Errors, t.First, st.Stats())
	}
	if len(kfailed) > 0 {
		return fmt.Errorf("%d kernel loopback transfers failed (%s)", len(kfailed), kfailed[0])
	}
	return nil
}
