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
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

const envTUNChild = "GLASSBENCH_TUN_CHILD"

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
func runTUN(mtus []int, queues, rounds int, total int64, cc string) ([]tunResult, string) {
	return runTUNChild(mtus, queues, rounds, total, cc, false)
}

// envTUNRows, when set, names the TUN rows to run, comma-separated
// ("IPv4,IPv6"; "io.Copy servers" for the row "IPv4, io.Copy servers";
// "relay" for the relay's), for profiles of one kind of transfer.
const envTUNRows = "GLASSBENCH_TUN_ROWS"

// tunKind is one row of the TUN table while it is measured.
type tunKind struct {
	row           tunRow
	echo, discard func(ctx context.Context) (net.Conn, error)
	kernel        *tcpTarget
	path          string // the profile label of the row's transfers: tun, or relay
}

// envTUNKind, when set to "echo" or "discard", runs only that kind of
// transfer in the TUN rows, for profiles of one kind.
const envTUNKind = "GLASSBENCH_TUN_KIND"

// envTUNQueues is tun.Config.Queues in the child.
const envTUNQueues = "GLASSBENCH_TUN_QUEUES"

// envTUNEchoOnly makes the child run only glassnet echo transfers (the
// stall count), without the kernel baseline and discard.
const envTUNEchoOnly = "GLASSBENCH_ECHO_ONLY"

// runTUNEcho runs n echo transfers of total bytes through the TUN per
// MTU and offload mode, for the stall count.
func runTUNEcho(mtus []int, n int, total int64) ([]tunResult, string) {
	return runTUNChild(mtus, 1, n, total, "", true)
}

func runTUNChild(mtus []int, queues, rounds int, total int64, cc string, echoOnly bool) ([]tunResult, string) {
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
		"GLASSBENCH_BYTES="+strconv.FormatInt(total, 10), envTUNQueues+"="+strconv.Itoa(queues))
	if echoOnly {
		cmd.Env = append(cmd.Env, envTUNEchoOnly+"=1")
	}
	if cc != "" {
		cmd.Env = append(cmd.Env, envTCPCC+"="+cc)
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
	queues, _ := strconv.Atoi(os.Getenv(envTUNQueues))
	// The kernel loopback baseline runs here too: a new namespace's lo
	// is down.
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "glassbench: ip link set lo up: %v %s\n", err, out)
		os.Exit(1)
	}
	kernelCC = os.Getenv(envTCPCC)
	cc, err := ccInUse()
	if err != nil {
		fmt.Fprintln(os.Stderr, "glassbench:", err)
		os.Exit(1)
	}
	var kts kernelTargets
	labeled("kernel", func() { kts, err = startKernelTargets() })
	if err != nil {
		fmt.Fprintln(os.Stderr, "glassbench:", err)
		os.Exit(1)
	}
	defer kts.close()
	if stop, err := startDiagnostics(os.Getenv(envCPUProfile), os.Getenv(envExecTrace)); err != nil {
		fmt.Fprintln(os.Stderr, "glassbench:", err)
		os.Exit(1)
	} else {
		defer stop()
	}
	// System calls and context switches of this process and every
	// thread it starts later; none when perf events are not available.
	ps, perr := openPerf(0)
	if ps != nil {
		defer ps.Close()
	}
	var res []tunResult
	for _, mtu := range mtus {
		for _, noOffload := range tunOffloadModes() {
			r := tunResult{MTU: mtu, Queues: max(queues, 1), Offloads: "off", CC: cc}
			if perr != nil {
				r.PerfErr = perr.Error()
			}
			labeled("tun", func() {
				if err := tunOne(kts, ps, mtu, noOffload, echoOnly, rounds, total, &r); err != nil {
					r.Err = err.Error()
				}
			})
			res = append(res, r)
		}
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// kernelTargets are the kernel loopback servers of the TUN rows: the same
// read/write loop on 127.0.0.1 and on ::1, and io.Copy servers on
// 127.0.0.1.
type kernelTargets struct {
	v4, v6, copy4 *tcpTarget
}

func startKernelTargets() (kernelTargets, error) {
	var k kernelTargets
	var err error
	if k.v4, err = kernelTCPAt("127.0.0.1", serveTCP); err != nil {
		return k, err
	}
	if k.v6, err = kernelTCPAt("[::1]", serveTCP); err != nil {
		k.close()
		return k, err
	}
	if k.copy4, err = kernelTCPAt("127.0.0.1", serveCopy); err != nil {
		k.close()
		return k, err
	}
	return k, nil
}

func (k kernelTargets) close() {
	for _, t := range []*tcpTarget{k.v4, k.v6, k.copy4} {
		if t != nil {
			t.close()
		}
	}
}

// envCPUProfile names a file for a CPU profile of the TUN child: the
// whole run in its namespace, kernel loopback transfers included (they
// show as time in syscalls of kernelTCP's goroutines). Its allocations go
// to a file of the same name with the extension ".allocs".
const envCPUProfile = "GLASSBENCH_CPUPROFILE"

// envExecTrace names a file for an execution trace of the TUN child, as
// envCPUProfile's profile: where its goroutines wait, with go tool trace
// -pprof=sync (or net, syscall, sched).
const envExecTrace = "GLASSBENCH_EXECTRACE"

// labeled runs f with the profile label path=name, which every goroutine
// f starts inherits (the servers, the stack's), so that a profile tells
// the kernel baseline's CPU from glassnet's: go tool pprof -tagfocus
// path=tun. The caller's goroutine has no label after it.
func labeled(name string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("path", name), func(context.Context) { f() })
}

// tunAddrs are the stack's addresses on the TUN; the kernel side gets
// the first host address of each prefix.
var (
	tunAddr4 = netip.MustParsePrefix("10.201.0.2/24")
	tunAddr6 = netip.MustParsePrefix("fd00:201::2/64")
)

// tunOne opens the TUN at mtu, starts glassnet on it with an IPv4 and an
// IPv6 address, and runs the rounds: for each kind of row, kernel
// loopback echo, TUN echo, kernel loopback discard, TUN discard. With
// echoOnly only IPv4 echo through the TUN runs (the stall count).
func tunOne(kts kernelTargets, ps *perfSet, mtu int, noOffload, echoOnly bool, rounds int, total int64, r *tunResult) error {
	queues := r.Queues
	if noOffload {
		queues = 1 // several queues need offloads
		r.Queues = 1
	}
	dev, err := tun.Open(tun.Config{Name: "gbench0", MTU: mtu, HostAddr: tun.HostAddrFor(tunAddr4), NoOffload: noOffload, Queues: queues})
	if err != nil {
		return err
	}
	if o := dev.Offloads(); o != 0 {
		r.Offloads = o.String()
	}
	// The kernel's IPv6 address on the TUN, without duplicate address
	// detection so that it is usable at once.
	host6 := tun.HostAddrFor(tunAddr6)
	if out, err := exec.Command("ip", "-6", "addr", "add", host6.String(), "dev", dev.Name(), "nodad").CombinedOutput(); err != nil {
		dev.Close()
		return fmt.Errorf("ip -6 addr add: %v %s", err, out)
	}
	st, err := netstack.New(netstack.Options{Device: dev, Addrs: []netip.Prefix{tunAddr4, tunAddr6}, Node: "glassnet"})
	if err != nil {
		return err
	}
	defer st.Close()
	s := sockets.New(st.Stack(), sockets.Options{Node: "glassnet"})
	type server struct {
		addr  netip.Addr
		port  uint16
		serve func(net.Listener, bool)
		echo  bool
	}
	dialers := map[netip.AddrPort]func(ctx context.Context) (net.Conn, error){}
	d := net.Dialer{Control: setKernelCC}
	a4, a6 := tunAddr4.Addr(), tunAddr6.Addr()
	for _, sv := range []server{
		{a4, 7, serveTCP, true}, {a4, 9, serveTCP, false},
		{a6, 7, serveTCP, true}, {a6, 9, serveTCP, false},
		{a4, 17, serveCopy, true}, {a4, 19, serveCopy, false},
	} {
		ap := netip.AddrPortFrom(sv.addr, sv.port)
		l, err := s.Listener("tcp", ap.String())
		if err != nil {
			return err
		}
		defer l.Close()
		go sv.serve(l, sv.echo)
		dialers[ap] = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", ap.String()) }
	}
	at := func(a netip.Addr, port uint16) func(ctx context.Context) (net.Conn, error) {
		return dialers[netip.AddrPortFrom(a, port)]
	}
	kinds := []tunKind{
		{tunRow{Name: "IPv4"}, at(a4, 7), at(a4, 9), kts.v4, "tun"},
		{tunRow{Name: "IPv6"}, at(a6, 7), at(a6, 9), kts.v6, "tun"},
		{tunRow{Name: "IPv4, io.Copy servers"}, at(a4, 17), at(a4, 19), kts.copy4, "tun"},
	}
	var rl *relay
	only := os.Getenv(envTUNRows)
	if echoOnly {
		kinds = kinds[:1]
	} else if only == "" || tunRowChosen(only, "relay") {
		// The relay's row: the same TUN settings, the kernel's TCP at
		// both ends (relay_linux.go).
		var rt *tcpTarget
		rl, rt, err = relayTCP(mtu, noOffload)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		defer rl.close()
		kinds = append(kinds, tunKind{tunRow{Name: "IPv4", Relay: true}, rt.echo, rt.discard, kts.v4, "relay"})
	}
	if only != "" {
		kinds = slices.DeleteFunc(kinds, func(k tunKind) bool {
			if k.row.Relay {
				return !tunRowChosen(only, "relay")
			}
			return !tunRowChosen(only, k.row.Name)
		})
	}
	// One transfer, with its cost per MB when perf counters are open.
	measure := func(path, row string, dial func(ctx context.Context) (net.Conn, error), echo bool) (v float64, cost perMB, counted bool, info senderInfo, err error) {
		var before perfCounts
		if ps != nil {
			before, _ = ps.Read()
		}
		kind := "discard"
		if echo {
			kind = "echo"
		}
		pprof.Do(context.Background(), pprof.Labels("path", path, "row", row, "kind", kind), func(context.Context) { v, err = bulkInfo(dial, total, echo, &info) })
		if ps != nil && err == nil {
			if after, rerr := ps.Read(); rerr == nil {
				dc := after.Sub(before)
				mb := float64(total) / 1e6
				cost, counted = perMB{Syscalls: float64(dc.Syscalls) / mb, CtxSwitches: float64(dc.CtxSwitches) / mb}, true
			}
		}
		return v, cost, counted, info, err
	}
	// A stalled transfer is counted in the tally and reported with the
	// stack's counters; the other rounds still run.
	var kfailed []string
	echoRound := func(k *tunKind) {
		row := &k.row
		if !echoOnly {
			v, cost, ok, info, err := measure("kernel", row.Name, k.kernel.echo, true)
			if err != nil {
				kfailed = append(kfailed, "kernel loopback echo ("+row.Name+"): "+err.Error())
			} else {
				row.KernelEcho = append(row.KernelEcho, v)
				row.KernelEchoTCP = append(row.KernelEchoTCP, info)
				if ok {
					row.KernelEchoPerMB = append(row.KernelEchoPerMB, cost)
				}
			}
		}
		v, cost, ok, info, err := measure(k.path, row.Name, k.echo, true)
		row.Tally.add(err)
		if err == nil {
			row.Echo = append(row.Echo, v)
			row.TUNEchoTCP = append(row.TUNEchoTCP, info)
			if ok {
				row.TUNEchoPerMB = append(row.TUNEchoPerMB, cost)
			}
		}
	}
	discardRound := func(k *tunKind) {
		row := &k.row
		v, cost, ok, info, err := measure("kernel", row.Name, k.kernel.discard, false)
		if err != nil {
			kfailed = append(kfailed, "kernel loopback discard ("+row.Name+"): "+err.Error())
		} else {
			row.KernelDiscard = append(row.KernelDiscard, v)
			row.KernelDiscTCP = append(row.KernelDiscTCP, info)
			if ok {
				row.KernelDiscPerMB = append(row.KernelDiscPerMB, cost)
			}
		}
		v, cost, ok, info, err = measure(k.path, row.Name, k.discard, false)
		row.Tally.add(err)
		if err == nil {
			row.Discard = append(row.Discard, v)
			row.TUNDiscTCP = append(row.TUNDiscTCP, info)
			if ok {
				row.TUNDiscPerMB = append(row.TUNDiscPerMB, cost)
			}
		}
	}
	kindOnly := os.Getenv(envTUNKind)
	for range rounds {
		for i := range kinds {
			k := &kinds[i]
			if kindOnly != "discard" {
				echoRound(k)
			}
			if !echoOnly && kindOnly != "echo" {
				discardRound(k)
			}
		}
	}
	for _, k := range kinds {
		r.Rows = append(r.Rows, k.row)
		if t := k.row.Tally; t.Stalls+t.Errors > 0 {
			if k.row.Relay {
				fmt.Fprintf(os.Stderr, "glassbench: %s: %d of %d transfers stalled, %d failed, first: %s\n",
					tunRowName(*r, k.row), t.Stalls, t.Transfers, t.Errors, t.First)
				continue
			}
			fmt.Fprintf(os.Stderr, "glassbench: TUN MTU %d, offloads %s, %s: %d of %d transfers stalled, %d failed, first: %s; stack counters: %+v\n",
				mtu, r.Offloads, k.row.Name, t.Stalls, t.Transfers, t.Errors, t.First, st.Stats())
		}
	}
	if len(kfailed) > 0 {
		return fmt.Errorf("%d kernel loopback transfers failed (%s)", len(kfailed), kfailed[0])
	}
	for _, k := range kinds {
		// Every byte the relay's transfers sent went through it: were
		// its server reachable another way (the second namespace not
		// made), the row would measure that way instead.
		if n := len(k.row.Echo) + len(k.row.Discard); k.row.Relay {
			if err := relayedAll(rl.toServer.Load(), int64(n)*total); err != nil {
				return fmt.Errorf("relay: %w", err)
			}
		}
	}
	return nil
}

// tunRowChosen reports whether envTUNRows's list chooses the row name: a
// name in it, or the part of a name after its last comma.
func tunRowChosen(list, name string) bool {
	for _, it := range strings.Split(list, ",") {
		it = strings.TrimSpace(it)
		if it == name || (it != "" && strings.HasSuffix(name, ", "+it)) {
			return true
		}
	}
	return false
}

// envTCPCC carries -tun-cc to the TUN child.
const envTCPCC = "GLASSBENCH_TCP_CC"

// kernelCC is the congestion control the TUN child sets on the kernel's
// TCP sockets (TCP_CONGESTION); "" leaves the namespace's default, which
// a new namespace takes from the host.
var kernelCC string

// setKernelCC is a net.Dialer and net.ListenConfig Control that sets
// kernelCC; a listener's connections take it from the listener.
func setKernelCC(_, _ string, c syscall.RawConn) error {
	if kernelCC == "" {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, kernelCC)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("-tun-cc %q: %w (the kernel's choices are in /proc/sys/net/ipv4/tcp_available_congestion_control; a module such as tcp_cubic may need loading)", kernelCC, serr)
	}
	return nil
}

// ccInUse is the congestion control the kernel's sockets use: kernelCC,
// or the namespace's default.
func ccInUse() (string, error) {
	if kernelCC != "" {
		return kernelCC, nil
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
