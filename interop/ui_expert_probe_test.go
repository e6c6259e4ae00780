package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
)

// TestUIExpertNotesWindowProbe is TestUIExpertNotesAsTshark for the notes
// of a window shut, probed and opened again, which neither gVisor nor
// Linux makes on its own: both probe a shut window with a segment one
// below the next sequence number, which Wireshark calls a keep-alive.
// serve on a TUN says its window is shut (the rule `window 0` on its
// pure ACKs); its peer, scapy, probes it as FreeBSD, macOS and Windows do
// (RFC 9293 3.8.6.1), with the next byte of its stream: tshark's [TCP
// ZeroWindowProbe]. serve takes the byte and answers, still shut, with
// an ACK one more, which tshark 4.0 does not call [TCP
// ZeroWindowProbeAck] (the page and the Go rules did); the probe sent
// again takes nothing, and that answer is one. The rule is then removed
// from the browser view's API and the peer probes once more: serve's
// answer carries its own window, tshark's [TCP Window Update]. For every
// packet tshark's notes, the page's and the Go rules' (the breakpoints
// "analysis NAME") must be the same, and each of the three must be seen.
func TestUIExpertNotesWindowProbe(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, "/usr/bin/tshark", "tshark")
	needProgram(t, pythonBin, "python3")
	if out, err := exec.Command(pythonBin, "-c", "import scapy.all").CombinedOutput(); err != nil {
		netnstest.SkipOrFail(t, "%s cannot import scapy (apt-get install python3-scapy): %v: %s", pythonBin, err, out)
	}
	netnstest.RunTUN(t, func(t *testing.T) {
		const dev, addr, peer = "gnzw0", "10.223.0.2", "10.223.0.77"
		s := startServeArgs(t, "serve", "--tun", dev, "--addr", addr+"/24", "--no-offload", "--ui", "127.0.0.1:0",
			"--egress", "tcp and src port 9 and not syn and len < 60 : window 0")
		r := serveUI(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		cmd := exec.CommandContext(ctx, pythonBin, "-c", windowProbePeer, addr, peer, dev)
		toPeer, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		said := bufio.NewScanner(out)
		expect := func(want string) {
			t.Helper()
			for said.Scan() {
				t.Logf("peer: %s", said.Text())
				if said.Text() == want {
					return
				}
				if strings.HasPrefix(said.Text(), "error") {
					break
				}
			}
			t.Fatalf("the peer did not say %q\nstderr:\n%s", want, stderr.String())
		}
		expect("probed")
		// the window opens: the rule goes
		var rs struct {
			Rules []struct {
				ID   uint64
				Rule string
			}
		}
		if err := r.api(ctx, "GET", "/api/rules", nil, &rs); err != nil || len(rs.Rules) != 1 {
			t.Fatalf("serve's rules: %+v, %v", rs.Rules, err)
		}
		if err := r.api(ctx, "DELETE", fmt.Sprintf("/api/rules/%d", rs.Rules[0].ID), nil, nil); err != nil {
			t.Fatal(err)
		}
		io.WriteString(toPeer, "open\n")
		expect("done")

		dir := t.TempDir()
		pcap, jsonl := filepath.Join(dir, "serve.pcapng"), filepath.Join(dir, "serve.jsonl")
		r.exportTo(t, ctx, "pcapng", pcap)
		r.exportTo(t, ctx, "jsonl", jsonl)
		seen := map[string]int{}
		p := openUI(t, ctx, r)
		notesOfPage(t, p, pcap, seen)
		goNotesAsTshark(t, jsonl, pcap)
		t.Logf("notes compared: %v", seen)
		for _, kind := range []string{"TCP ZeroWindowProbe", "TCP ZeroWindowProbeAck", "TCP Window Update", "TCP ZeroWindow"} {
			if seen[kind] == 0 {
				t.Errorf("the run gave no %q note: the comparison does not cover it", kind)
			}
		}
		p.noProblems("the notes of a probed window")
	})
}

// goNotesAsTshark holds the notes the Go rules give each packet of a
// trace (the breakpoints "analysis NAME" that match it) to tshark's for
// the capture of the same run.
func goNotesAsTshark(t *testing.T, jsonl, pcap string) {
	t.Helper()
	want, last := tsharkNotes(t, pcap)
	f, err := os.Open(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := trace.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{ // Wireshark's words -> the breakpoint's name
		"TCP Retransmission": "retransmission", "TCP Fast Retransmission": "fast-retransmission",
		"TCP Spurious Retransmission": "spurious-retransmission", "TCP Out-Of-Order": "out-of-order",
		"TCP Previous segment not captured": "lost-segment", "TCP ACKed unseen segment": "ack-lost-segment",
		"TCP Window Update": "window-update", "TCP Window Full": "window-full", "TCP ZeroWindow": "zero-window",
		"TCP ZeroWindowProbe": "zero-window-probe", "TCP ZeroWindowProbeAck": "zero-window-probe-ack",
		"TCP Keep-Alive": "keep-alive", "TCP Keep-Alive ACK": "keep-alive-ack", "TCP Dup ACK": "dup-ack",
	}
	bps := map[string]*ui.Breakpoint{}
	for _, name := range kinds {
		b, err := ui.ParseBreakpoint("analysis " + name)
		if err != nil {
			t.Fatal(err)
		}
		bps[name] = b
	}
	track := ui.NewTracker()
	for i := range evs {
		e := &evs[i]
		track.Note(e)
		if e.Layer != trace.LayerLink || e.Name != "packet" || int(e.ID) > last {
			continue
		}
		var got, w []string
		for _, name := range kinds {
			if bps[name].Match(track, e) {
				got = append(got, name)
			}
		}
		for _, n := range want[int(e.ID)] {
			w = append(w, kinds[strings.SplitN(n, " #", 2)[0]])
		}
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("packet #%d: the Go rules' notes %q, tshark's %q", e.ID, got, w)
		}
	}
}

// windowProbePeer is the peer of TestUIExpertNotesWindowProbe, in scapy.
// Arguments: the stack's address, the peer's (no address of this host's,
// so that the kernel never answers the stack's segments), and the TUN
// the answers are caught on. It connects to the discard port, sends a
// byte and waits for the window to shut; probes it with the next byte,
// and with that byte again; says "probed", waits for "open" on its stdin
// and sends the probe once more; each answer is awaited before the next
// segment goes. It says "done", or "error: ..." and exits.
const windowProbePeer = `
import sys, socket, random, time, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, TCP, conf
conf.verb = 0
dst, src, iface = sys.argv[1:4]
out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
cap.bind((iface, 0))
cap.settimeout(0.2)
sport = random.randint(42000, 43000)
seq = random.getrandbits(32)
rcv = 0
tsval, tsecr = 1000, 0

def say(s):
    print(s, flush=True)

def send(flags, data=b"", at=None):
    global tsval
    tsval += 1
    p = IP(src=src, dst=dst)/TCP(sport=sport, dport=9, flags=flags, seq=seq if at is None else at, ack=rcv,
        window=65535, options=[("NOP", None), ("NOP", None), ("Timestamp", (tsval, tsecr))])/data
    out.sendto(bytes(p), (dst, 0))

def wait(pred, what):
    global tsecr
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            b = cap.recv(65536)
        except socket.timeout:
            continue
        if not b or b[0] >> 4 != 4:
            continue
        p = IP(b)
        if p.src != dst or p.dst != src or TCP not in p or p[TCP].dport != sport:
            continue
        for k, v in p[TCP].options:
            if k == "Timestamp":
                tsecr = v[0]
        if pred(p[TCP]):
            return p[TCP]
    say("error: no " + what)
    sys.exit(1)

send("S")
sa = wait(lambda t: t.flags.S and t.flags.A, "SYN-ACK")
seq += 1
rcv = sa.seq + 1
send("A")
# a byte: the answer shuts the window
send("PA", b"a")
seq += 1
wait(lambda t: t.ack == seq and t.window == 0, "ACK with a shut window")
# the next byte as the probe; the answer, still shut, takes it
send("PA", b"b")
seq += 1
wait(lambda t: t.ack == seq and t.window == 0, "answer to the probe")
# the probe again, as if its answer were lost: the answer takes nothing
send("PA", b"b", at=seq - 1)
wait(lambda t: t.ack == seq and t.window == 0, "answer to the probe sent again")
say("probed")
if sys.stdin.readline().strip() != "open":
    say("error: not told to go on")
    sys.exit(1)
# the probe again: the answer has the window open
send("PA", b"b", at=seq - 1)
wait(lambda t: t.ack == seq and t.window > 0, "answer with the window open")
send("R")
say("done")
`
