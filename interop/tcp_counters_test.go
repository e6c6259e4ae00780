package interop

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestTCPCountersAsNstat sends the same hostile segments (scapy, one
// connection each) to the kernel's TCP and to glassnet serve on a TUN, in
// this test's namespace: data and a pure ACK acknowledging bytes never
// sent, data with an ACK older than any window, data and a pure ACK with
// an old timestamp, a SYN, then pairs sent at once that the rate limit on
// answers thins (a pair of data segments too, when what they get is a
// challenge ACK). Each counter glassnet ss shows for them (gVisor patch 88)
// must equal the kernel's under the nstat name README gives it, and the
// two glassnet counts Linux keeps only as drop reasons must count what was
// sent.
func TestTCPCountersAsNstat(t *testing.T) {
	needAuditTools(t)
	needProgram(t, "/usr/bin/nstat", "iproute2")
	netnstest.RunTUN(t, func(t *testing.T) {
		// The kernel behind a veth, as TestHostileTCP has it: the peer's
		// address is the veth's other end, which takes nothing for it.
		kernelVeth(t, "gncta0", "gnctb0", "10.221.0.1/24")
		sh(t, "ip", "neigh", "replace", "10.221.0.77", "lladdr", macOf(t, "gnctb0"), "dev", "gncta0", "nud", "permanent")
		kernelEchoDiscard(t, "10.221.0.1")
		const tunDev = "gnct0"
		srv := startServeArgs(t, "serve", "--tun", tunDev, "--addr", "10.222.0.2/24", "--no-offload")

		var wg sync.WaitGroup
		var outs [2]string
		var errs [2]error
		probe := func(i int, args ...string) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, pythonBin, append([]string{"-c", tcpCountersScapy}, args...)...).CombinedOutput()
			outs[i], errs[i] = string(out), err
		}
		wg.Add(2)
		go probe(0, "10.221.0.1", "10.221.0.77", "gncta0", "eth")
		go probe(1, "10.222.0.2", "10.222.0.77", tunDev, "ip")
		wg.Wait()
		for i, name := range []string{"Linux", "glassnet"} {
			t.Logf("%s:\n%s", name, outs[i])
			if errs[i] != nil {
				t.Fatalf("the hostile peer, %s: %v", name, errs[i])
			}
		}

		nstat := nstatCounters(t)
		table := tcpCountersOf(t, srv, tunDev)
		for _, c := range tcpCountersNstat {
			if got, linux := table[c.glassnet], nstat[c.nstat]; got != linux || linux != c.want {
				t.Errorf("glassnet ss %q = %d, Linux's %s = %d; want %d both (%s)", c.glassnet, got, c.nstat, linux, c.want, c.what)
			}
		}
		for _, c := range []struct {
			name string
			want uint64
		}{
			{"tcp drops: ack of data never sent", 4},
			{"tcp drops: ack older than any window", 1},
		} {
			if got := table[c.name]; got != c.want {
				t.Errorf("glassnet ss %q = %d, want %d (Linux counts these only as drop reasons)", c.name, got, c.want)
			}
		}
	})
}

// tcpCountersNstat pairs each glassnet ss counter with the nstat counter
// README names for it, and what the probes make of both.
var tcpCountersNstat = []struct {
	glassnet, nstat string
	want            uint64
	what            string
}{
	{"tcp drops: paws (timestamp too old)", "TcpExtPAWSEstab", 4, "data and a pure ACK with an old timestamp, then two such ACKs at once"},
	{"tcp challenge acks sent", "TcpExtTCPChallengeACK", 6, "data and a pure ACK acknowledging bytes never sent, data with an ACK too old, a SYN, the first of two SYNs, the first of two data segments acknowledging bytes never sent"},
	{"tcp syns challenged", "TcpExtTCPSYNChallenge", 3, "a SYN, then two"},
	{"tcp acks rate limited: out of window", "TcpExtTCPACKSkippedSeq", 1, "the second of two ACKs outside the window"},
	{"tcp acks rate limited: paws", "TcpExtTCPACKSkippedPAWS", 1, "the second of two ACKs with an old timestamp"},
	{"tcp acks rate limited: challenge", "TcpExtTCPACKSkippedChallenge", 2, "the second of two SYNs, the second of two data segments acknowledging bytes never sent (data too: gVisor patch 89)"},
}

// nstatCounters reads this namespace's counters, absolute (the namespace
// is the test's own, so they count from its start), without touching the
// history nstat keeps per user.
func nstatCounters(t *testing.T) map[string]uint64 {
	t.Helper()
	out := run(t, 20*time.Second, "/usr/bin/nstat", "-asz")
	m := map[string]uint64{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

// tcpCountersOf reads the counters glassnet ss prints under its table.
func tcpCountersOf(t *testing.T, s *server, dev string) map[string]uint64 {
	t.Helper()
	out := run(t, 20*time.Second, glassnetBin, "ss", ssName(t, s, dev))
	m := map[string]uint64{}
	_, counters, ok := strings.Cut(out, "\nCounters:\n")
	if !ok {
		t.Fatalf("glassnet ss printed no counters:\n%s", out)
	}
	for line := range strings.Lines(counters) {
		line = strings.TrimSpace(line)
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseUint(line[i+1:], 10, 64); err == nil {
			m[strings.TrimSpace(line[:i])] = v
		}
	}
	return m
}

// tcpCountersScapy connects to the echo port of dst from src and sends the
// probes, each single one once the answer to the one before has come and
// the rate limit on answers (Linux's tcp_invalid_ratelimit and gVisor's,
// 500 ms) has passed, and each pair in one write. The answers are caught
// on iface (link "ip" for a TUN, "eth" for Ethernet); it prints what came.
const tcpCountersScapy = `
import sys, socket, struct, threading, time, random, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, TCP, Ether, Raw
from scapy.all import conf
conf.verb = 0

dst, src, iface, link = sys.argv[1:5]
out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
cap.bind((iface, 0))
lock = threading.Condition()
got = []
sport = 43000

def capture():
    while True:
        b, _ = cap.recvfrom(65536)
        if link == "eth":
            e = Ether(b)
            if IP not in e:
                continue
            p = e[IP]
        else:
            if not b or b[0] >> 4 != 4:
                continue
            p = IP(b)
        if p.src == dst and p.dst == src and TCP in p and p[TCP].dport == sport:
            with lock:
                got.append(p)
                lock.notify_all()

threading.Thread(target=capture, daemon=True).start()
time.sleep(0.2)

def take(n, timeout=3.0):
    """Waits for n answers (at most timeout), then a little for any more."""
    end = time.monotonic() + timeout
    with lock:
        while len(got) < n and time.monotonic() < end:
            lock.wait(end - time.monotonic())
    time.sleep(0.6)  # past the rate limit, and any extra answer is in
    with lock:
        r = list(got)
        got.clear()
    return r

iss = random.getrandbits(32)
tsval = 100000
tsecr = 0
def seg(flags, seq, ack, data=b"", ts=None):
    global tsval
    tsval += 1
    o = [("NOP", None), ("NOP", None), ("Timestamp", (tsval if ts is None else ts, tsecr))]
    return bytes(IP(src=src, dst=dst)/TCP(sport=sport, dport=7, flags=flags, seq=seq, ack=ack, window=65535, options=o)/data)

def send(*ps):
    for p in ps:
        out.sendto(p, (dst, 0))

syn = IP(src=src, dst=dst)/TCP(sport=sport, dport=7, flags="S", seq=iss, window=65535,
    options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (tsval, 0)), ("WScale", 7)])
send(bytes(syn))
sa = [p for p in take(1) if p[TCP].flags & 0x12 == 0x12]
if not sa:
    sys.exit("no SYN-ACK")
una = sa[0][TCP].seq + 1
tsecr = [v for k, v in sa[0][TCP].options if k == "Timestamp"][0][0]
nxt = iss + 1
send(seg("A", nxt, una))
time.sleep(0.6)

old = 1000
probes = [
    ("data acknowledging bytes never sent", 1, [seg("PA", nxt, (una + 100000) % 2**32, b"INJECT")]),
    ("data with an ACK older than any window", 1, [seg("PA", nxt, (una - 2**30) % 2**32, b"INJECT")]),
    ("data with an old timestamp", 1, [seg("PA", nxt, una, b"BBBB", ts=old)]),
    ("a pure ACK with an old timestamp", 1, [seg("A", nxt + 1, una, ts=old)]),
    ("a SYN", 1, [seg("S", nxt, 0)]),
    ("a pure ACK acknowledging bytes never sent", 1, [seg("A", nxt, (una + 100000) % 2**32)]),
    ("two pure ACKs with an old timestamp", 1, [seg("A", nxt + 1, una, ts=old)] * 2),
    ("two SYNs", 1, [seg("S", nxt, 0)] * 2),
    ("two ACKs outside the window", 1, [seg("A", nxt + (1 << 20), una)] * 2),
    ("two data segments acknowledging bytes never sent", 1, [seg("PA", nxt, (una + 100000) % 2**32, b"INJECT")] * 2),
]
for what, n, ps in probes:
    send(*ps)
    r = take(n)
    print("%s: %s" % (what, [p[TCP].sprintf("%flags% ack=%ack%") for p in r]))
`
