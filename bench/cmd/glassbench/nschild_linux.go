package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// The many and scale sections run in a network namespace of their own: a
// child process (this executable again, with CLONE_NEWNET) sets up the
// devices, runs the client, and starts every server as a process of its
// own in the same namespace, so that each server's CPU time and system
// calls are counted apart from the client's. The child writes its result
// as JSON on stdout.
const (
	envNSChild  = "GLASSBENCH_NS_CHILD"  // the section the child runs
	envNSParams = "GLASSBENCH_NS_PARAMS" // its parameters, JSON
	envNSParent = "GLASSBENCH_NS_PARENT" // the parent's network namespace
	envServer   = "GLASSBENCH_SERVER"    // a server process's serverSpec, JSON
	// envProfile names a directory: each server process writes its CPU
	// profile there as NET-APP.pprof when it exits, and its allocations
	// as NET-APP.allocs (go tool pprof -sample_index=alloc_space).
	envProfile = "GLASSBENCH_SERVER_PROFILE"
	// envServerTrace names a directory: each server process writes an
	// execution trace there as NET-APP.trace (go tool trace -pprof=sched:
	// how long its goroutines waited for a CPU).
	envServerTrace = "GLASSBENCH_SERVER_TRACE"
)

// nsSections are the sections that run in a namespace child.
var nsSections = map[string]func(params []byte) (any, error){
	"many":  manyChild,
	"scale": scaleChild,
	"serve": serveChild,
}

// childMain runs this process as a namespace child or a server process
// when the environment says it is one, and exits; otherwise it returns.
func childMain() {
	if spec, ok := os.LookupEnv(envServer); ok {
		if err := serverMain([]byte(spec), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "glassbench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	name, ok := os.LookupEnv(envNSChild)
	if !ok {
		return
	}
	fn := nsSections[name]
	if fn == nil {
		fmt.Fprintf(os.Stderr, "glassbench: unknown namespace child %q\n", name)
		os.Exit(1)
	}
	res, err := fn([]byte(os.Getenv(envNSParams)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "glassbench %s: %v\n", name, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// runNSChild runs section in a child process in a fresh network namespace
// with params and decodes its result into res. It returns a reason instead
// when that is not possible, or when the child fails.
func runNSChild(section string, params, res any) string {
	if os.Geteuid() != 0 {
		return "skipped: needs root (CAP_NET_ADMIN) to create a network namespace"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "skipped: no /dev/net/tun"
	}
	exe, err := os.Executable()
	if err != nil {
		return "skipped: " + err.Error()
	}
	p, err := json.Marshal(params)
	if err != nil {
		return "failed: " + err.Error()
	}
	cmd := exec.Command(exe)
	ns, err := netnsID()
	if err != nil {
		return "skipped: " + err.Error()
	}
	cmd.Env = append(os.Environ(), envNSChild+"="+section, envNSParams+"="+string(p), envNSParent+"="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "failed: " + err.Error()
	}
	if err := json.Unmarshal(out.Bytes(), res); err != nil {
		return "failed: child output: " + err.Error()
	}
	return ""
}

// nsSetup prepares the child's namespace: loopback up, a port range wide
// enough for many short connections, and reuse of the client's TIME_WAIT
// ports for new connections (the client closes first, so they pile up
// there). It refuses to run in the namespace it was started from.
func nsSetup() error {
	if id, err := netnsID(); err != nil || id == os.Getenv(envNSParent) {
		return fmt.Errorf("not in a network namespace of its own (%v); refusing to configure interfaces", err)
	}
	if err := ipCmd("link", "set", "lo", "up"); err != nil {
		return err
	}
	for k, v := range map[string]string{
		"net/ipv4/ip_local_port_range": "1024 65535",
		"net/ipv4/tcp_tw_reuse":        "1",
	} {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s: %w", k, err)
		}
	}
	return nil
}

// netnsID identifies the network namespace of this process.
func netnsID() (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return "", err
	}
	return strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10), nil
}

func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Addresses in the child's namespace.
var (
	tunStackAddr    = netip.MustParsePrefix("10.201.0.2/24") // on the TUN gbt0
	packetStackAddr = netip.MustParsePrefix("10.202.0.2/24") // glassnet behind veth gbv1
	packetHostAddr  = netip.MustParsePrefix("10.202.0.1/24") // the kernel's veth end, gbv0
)

const (
	tunName        = "gbt0"
	vethHost       = "gbv0"
	vethStack      = "gbv1"
	stackPort      = 8080
	stackEchoPort  = 7
	serverReadyMsg = "ready"
)

// addVeth creates the veth pair: the kernel's end with packetHostAddr,
// the stack's end with no address and IPv6 off, both up.
func addVeth() error {
	if err := ipCmd("link", "add", vethHost, "type", "veth", "peer", "name", vethStack); err != nil {
		return err
	}
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+vethStack+"/disable_ipv6", []byte("1"), 0); err != nil {
		return fmt.Errorf("disable IPv6 on %s: %w", vethStack, err)
	}
	if err := ipCmd("addr", "add", packetHostAddr.String(), "dev", vethHost); err != nil {
		return err
	}
	for _, n := range []string{vethHost, vethStack} {
		if err := ipCmd("link", "set", n, "up"); err != nil {
			return err
		}
	}
	return nil
}

// serverMain is a server process: it listens as spec says, prints
// "ready ADDR", and answers commands on in, one per line, until in ends:
// "cpu" is answered with the process's CPU time (user+system) in
// nanoseconds; "stats" with the stack's counters (JSON, "{}" without a
// stack); "link" with its link counters (a linkCounts, JSON); "tcp" with the stack's TCP retransmission counters (a
// retransCounts, JSON, zero without a stack); "relayed", on the relay's
// network, with the bytes it has carried towards the server.
func serverMain(spec []byte, in io.Reader, out io.Writer) error {
	var s serverSpec
	if err := json.Unmarshal(spec, &s); err != nil {
		return fmt.Errorf("bad %s: %w", envServer, err)
	}
	var (
		l  net.Listener
		st *netstack.Stack
		rl *relay
	)
	switch s.Net {
	case "kernel":
		kernelCC = os.Getenv(envTCPCC) // the serve section's -tun-cc
		lc := net.ListenConfig{Control: setKernelCC}
		kl, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		l = kl
	case "relay":
		// A kernel server behind two TUNs and a relay (relay_linux.go).
		kernelCC = os.Getenv(envTCPCC)
		var (
			kl  net.Listener
			err error
		)
		if s.Relay < 0 || s.Relay >= len(relayNets) {
			return fmt.Errorf("relay network %d: there are %d", s.Relay, len(relayNets))
		}
		rn := relayNets[s.Relay]
		rl, err = startRelay(rn, 1500, false, func() (func(), error) {
			lc := net.ListenConfig{Control: setKernelCC}
			var err error
			port := stackPort
			if s.App == "tcp-echo" {
				port = stackEchoPort
			}
			kl, err = lc.Listen(context.Background(), "tcp", fmt.Sprintf("%s:%d", rn.server.Addr(), port))
			if err != nil {
				return nil, err
			}
			return func() { kl.Close() }, nil
		})
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		defer rl.close()
		l = kl
	case "tun", "packet":
		var (
			dev  tun.Device
			addr netip.Prefix
			err  error
		)
		if s.Net == "tun" {
			addr = tunStackAddr
			dev, err = tun.Open(tun.Config{Name: tunName, MTU: 1500, HostAddr: tun.HostAddrFor(addr)})
		} else {
			addr = packetStackAddr
			dev, err = tun.OpenPacketSocket(tun.PacketSocketConfig{Name: vethStack})
		}
		if err != nil {
			return err
		}
		st, err = netstack.New(netstack.Options{Device: dev, Addrs: []netip.Prefix{addr}, Node: "glassnet"})
		if err != nil {
			return err
		}
		defer st.Close()
		port := stackPort
		if s.App == "tcp-echo" {
			port = stackEchoPort
		}
		sl, err := sockets.New(st.Stack(), sockets.Options{Node: "glassnet"}).Listener("tcp4", fmt.Sprintf("%s:%d", addr.Addr(), port))
		if err != nil {
			return err
		}
		l = sl
	default:
		return fmt.Errorf("unknown network %q", s.Net)
	}
	defer l.Close()
	switch s.App {
	case "glassnet-ws":
		defer serveHTTP(l, glassnetHandler)()
	case "gorilla-ws":
		defer serveHTTP(l, gorillaHandler)()
	case "tcp-echo":
		go serveTCP(l, true)
	case "tcp-discard":
		go serveTCP(l, false)
	case "copy-echo":
		go serveCopy(l, true)
	case "copy-discard":
		go serveCopy(l, false)
	default:
		return fmt.Errorf("unknown server %q", s.App)
	}
	var cpuFile, traceFile string
	if dir := os.Getenv(envProfile); dir != "" {
		cpuFile = filepath.Join(dir, s.Net+"-"+s.App+".pprof")
	}
	if dir := os.Getenv(envServerTrace); dir != "" {
		traceFile = filepath.Join(dir, s.Net+"-"+s.App+".trace")
	}
	stop, err := startDiagnostics(cpuFile, traceFile)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintln(out, serverReadyMsg, l.Addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "cpu":
			fmt.Fprintln(out, int64(selfCPU()))
		case "tcp":
			var r retransCounts
			if st != nil {
				gs := st.Stack().Stats()
				t := gs.TCP
				r = retransCounts{Stack: t.Retransmits.Value(), Recoveries: t.SACKRecovery.Value(), Spurious: t.SpuriousRecovery.Value(), RTO: t.Timeouts.Value(),
					TLP: t.TailLossProbes.Value(), StackDrops: st.Stats().Dropped(), GVisorDrops: gs.DroppedPackets.Value(), QueueDrops: t.SegmentQueueDropped.Value()}
			}
			b, _ := json.Marshal(r)
			fmt.Fprintf(out, "%s\n", b)
		case "link":
			var l linkCounts
			if st != nil {
				s := st.Stats()
				l = linkCounts{PacketsIn: s.PacketsIn, BytesIn: s.BytesIn, GSOIn: s.GSOIn, GSOSegsIn: s.GSOSegmentsIn,
					PacketsOut: s.PacketsOut, BytesOut: s.BytesOut, GSOOut: s.GSOOut, GSOSegsOut: s.GSOSegmentsOut, Writes: s.DeviceWrites}
			}
			b, _ := json.Marshal(l)
			fmt.Fprintf(out, "%s\n", b)
		case "relayed":
			if rl == nil {
				fmt.Fprintln(out, "unknown command")
				continue
			}
			fmt.Fprintln(out, rl.toServer.Load())
		case "stats":
			var b []byte
			if st != nil {
				b, _ = json.Marshal(st.Stats())
			} else {
				b = []byte("{}")
			}
			fmt.Fprintf(out, "%s\n", b)
		default:
			fmt.Fprintln(out, "unknown command")
		}
	}
	return sc.Err()
}

// serverProc is a running server process.
type serverProc struct {
	*childProc
	spec serverSpec
}

// startServer starts a server process in this namespace and waits until
// it listens.
func startServer(spec serverSpec) (*serverProc, error) {
	b, _ := json.Marshal(spec)
	c, err := startChild(fmt.Sprintf("server %s/%s", spec.Net, spec.App), []string{envServer + "=" + string(b)}, func(cmd *exec.Cmd) {
		cmd.Env = dropEnv(cmd.Env, envNSChild)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}, serverReadyMsg)
	if err != nil {
		return nil, err
	}
	return &serverProc{childProc: c, spec: spec}, nil
}

// dropEnv returns env without the variable name.
func dropEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

// retrans is the server stack's retransmission counters so far (zero
// for a server on the kernel's stack).
func (p *serverProc) retrans() (retransCounts, error) {
	var r retransCounts
	s, err := p.ask("tcp")
	if err == nil {
		err = json.Unmarshal([]byte(s), &r)
	}
	return r, err
}

// kernelRetrans fills in the kernel's counters of r from this network
// namespace's /proc/net/snmp and /proc/net/netstat.
func kernelRetrans(r *retransCounts) error {
	v, err := kernelCounters([]kernelCounter{
		{"snmp", "Tcp", "RetransSegs"},
		{"netstat", "TcpExt", "TCPDSACKOldSent"},
		{"netstat", "TcpExt", "TCPDSACKOfoSent"},
		{"netstat", "TcpExt", "TCPTimeouts"},
		{"netstat", "TcpExt", "TCPLossUndo"},
		{"netstat", "TcpExt", "TCPLossProbes"},
	})
	if err != nil {
		return err
	}
	r.Kernel, r.KernelDup, r.KernelRTO, r.KernelUndo, r.KernelTLP = v[0], v[1]+v[2], v[3], v[4], v[5]
	return nil
}

// linkDrops is the packets dropped by every interface in this network
// namespace so far, received and sent (/proc/net/dev follows the reading
// process's namespace; /sys/class/net would show the host's).
func linkDrops() (rx, tx uint64, err error) {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return 0, 0, err
	}
	return devDrops(b)
}

// link is the server stack's link counters so far (a linkCounts without
// the kernel's; zero without a stack).
func (p *serverProc) link() (linkCounts, error) {
	var l linkCounts
	s, err := p.ask("link")
	if err == nil {
		err = json.Unmarshal([]byte(s), &l)
	}
	return l, err
}

// stats is the server's stack counters as JSON ("{}" without a stack).
func (p *serverProc) stats() string {
	s, err := p.ask("stats")
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// relayed is the bytes a relay server process has carried towards its
// server.
func (p *serverProc) relayed() (int64, error) { return p.askInt("relayed") }

// stop ends the server process (its stdin closes) and waits for it.
func (p *serverProc) stop() error { return p.childProc.stop(10 * time.Second) }
