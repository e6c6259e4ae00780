package main

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
)

func TestEchoMessageRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, text := range []bool{false, true} {
		for _, size := range []int{0, 1, 125, 126, 70000} {
			m := makeMsg(rng, 42, text, size)
			seq, err := checkMsg(m, text)
			if err != nil || seq != 42 {
				t.Fatalf("text %v size %d: seq %d, %v", text, size, seq, err)
			}
			if len(m) > msgHeader+1 {
				bad := append([]byte(nil), m...)
				bad[len(bad)-1] ^= 0x20
				if _, err := checkMsg(bad, text); err == nil {
					t.Errorf("text %v size %d: a flipped bit passed the check", text, size)
				}
			}
		}
	}
	if _, err := checkMsg([]byte("short"), false); err == nil {
		t.Error("a short binary message passed")
	}
	if _, err := checkMsg([]byte("no numbers here"), true); err == nil {
		t.Error("a malformed text message passed")
	}
}

func TestParseChatLine(t *testing.T) {
	pad := "abcdef"
	good := fmt.Sprintf("10.203.0.11:4000: soak 7 %08x %s", crc32.ChecksumIEEE([]byte(pad)), pad)
	for _, c := range []struct {
		line    string
		from    string
		seq     uint64
		end, ok bool
		bad     bool
	}{
		{line: good, from: "10.203.0.11:4000", seq: 7, ok: true},
		{line: "10.203.0.11:4000: soak end 12", from: "10.203.0.11:4000", seq: 12, end: true, ok: true},
		{line: "* 10.203.0.11:4000 joined"},
		{line: strings.Replace(good, "abcdef", "abcdeg", 1), from: "10.203.0.11:4000", seq: 7, ok: true, bad: true},
		{line: "10.203.0.11:4000: hello", from: "10.203.0.11:4000", ok: true, bad: true},
		{line: "10.203.0.11:4000: soak x y", from: "10.203.0.11:4000", ok: true, bad: true},
	} {
		from, seq, end, err, ok := parseLine([]byte(c.line))
		if ok != c.ok || (err != nil) != c.bad || (ok && (from != c.from || end != c.end)) || (ok && !c.bad && seq != c.seq) {
			t.Errorf("%q: from %q seq %d end %v err %v ok %v", c.line, from, seq, end, err, ok)
		}
	}
}

// TestScanServeOutput: the ready line, the live heap from gctrace, and
// every kind of crash line are picked out of serve's output.
func TestScanServeOutput(t *testing.T) {
	out := strings.Join([]string{
		"gc 1 @0.014s 2%: 0.24+2.1+0.006 ms clock, 0.48+0.13/0.45/0.20+0.013 ms cpu, 3->4->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P",
		"glassnet: serving http://10.203.0.2:8080/ on soak1 (kernel side 10.203.0.1/24)",
		"gc 2 @1.5s 3%: 0.030+0.34+0.004 ms clock, 0.061+0.17/0.077/0.24+0.008 ms cpu, 26->27->11 MB, 28 MB goal, 0 MB stacks, 0 MB globals, 2 P",
		"panic: runtime error: index out of range [3] with length 3",
		"fatal error: concurrent map writes",
		"WARNING: DATA RACE",
		"a panic: in the middle is not one",
	}, "\n") + "\n"
	p := &serveProc{ready: make(chan struct{})}
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	p.scan(strings.NewReader(out), logf)
	select {
	case <-p.ready:
	default:
		t.Error("the ready line was not seen")
	}
	if mb, gcs, _ := p.heap(); mb != 11 || gcs != 2 {
		t.Errorf("heap %d MB after %d GCs, want 11 after 2", mb, gcs)
	}
	if got := p.panicLines(); len(got) != 3 {
		t.Errorf("crash lines %q, want the panic, the fatal error and the race", got)
	}
	b, _ := os.ReadFile(logf.Name())
	if string(b) != out {
		t.Error("the log file does not hold serve's output as it came")
	}
}

// TestServeRules: every rule soak gives serve parses, so a change in the
// rule syntax fails here rather than as a serve that does not start.
func TestServeRules(t *testing.T) {
	args := serveRules()
	if len(args)%2 != 0 {
		t.Fatalf("odd argument list %q", args)
	}
	for i := 0; i < len(args); i += 2 {
		if args[i] != "--ingress" && args[i] != "--egress" {
			t.Fatalf("argument %q is not a rule flag", args[i])
		}
		if _, err := hook.ParseRules([]string{args[i+1]}); err != nil {
			t.Errorf("%s %q: %v", args[i], args[i+1], err)
		}
	}
}

// TestStallOrBackoff: a connection past the stall limit is a stall unless
// a side is in retransmission backoff; then it is a stall only past the
// backoff limit, and progress starts it over.
func TestStallOrBackoff(t *testing.T) {
	for _, backoff := range []bool{false, true} {
		s := newStats(false)
		s.backoffLimit = time.Minute
		s.backoff = func(*tracker) (bool, string) { return backoff, "test" }
		tr := s.track(kindBulk, "test conn")
		tr.waiting(true)
		start := time.Unix(0, tr.last.Load())
		s.judge(tr, start.Add(5*time.Second), 10*time.Second, false)
		if s.stalls.Load() != 0 {
			t.Fatalf("backoff %v: a stall before the limit", backoff)
		}
		s.judge(tr, start.Add(11*time.Second), 10*time.Second, false)
		if got, want := s.stalls.Load(), map[bool]uint64{false: 1, true: 0}[backoff]; got != want {
			t.Fatalf("backoff %v: %d stalls just past the limit, want %d", backoff, got, want)
		}
		if !backoff {
			continue
		}
		s.judge(tr, start.Add(30*time.Second), 10*time.Second, false)
		if s.stalls.Load() != 0 {
			t.Fatal("a connection in backoff failed before the backoff limit")
		}
		tr.progress() // it moved: a new wait starts from here
		s.judge(tr, time.Unix(0, tr.last.Load()).Add(11*time.Second), 10*time.Second, false)
		s.judge(tr, time.Unix(0, tr.last.Load()).Add(61*time.Second), 10*time.Second, false)
		if s.stalls.Load() != 1 {
			t.Fatalf("%d stalls after 61 s in backoff without progress, want 1", s.stalls.Load())
		}
	}
}

// TestBackoffIn reads real ss lines: serve's side backing off (RTO 6.4 s,
// a segment unacknowledged), and one with nothing unacknowledged.
func TestBackoffIn(t *testing.T) {
	serveBackoff := []string{"tcp   LAST-ACK  0      0      10.203.0.2:7       10.203.0.15:45079 -",
		"\t reno wscale:10,7 rto:6400 rtt:1.448/1.852 mss:1420 cwnd:1 ssthresh:2 segs_out:725 segs_in:2455 unacked:1 retrans:1/60 timeouts:6 ca_state:Loss snd_wnd:1189888 rcv_wnd:524288"}
	serveIdle := []string{"tcp   ESTAB      0      0      10.203.0.2:8080    10.203.0.15:59193 10",
		"\t reno wscale:10,7 rto:200 rtt:8.585/15.408 mss:1420 cwnd:10 ssthresh:2 bytes_sent:2034708 bytes_received:2036281 segs_out:876 segs_in:1978 retrans:0/48 timeouts:7 snd_wnd:932864 rcv_wnd:2097152"}
	kernel := "ESTAB 0 0 10.203.0.15:59193 10.203.0.2:8080 timer:(keepalive,2.232ms,0)\n\t ts sack bbr wscale:7,10 rto:232 rtt:29.866/41.788 ato:40 mss:1448\n"
	kernelBackoff := "ESTAB 0 0 10.203.0.15:1 10.203.0.2:8080 timer:(on,5.1sec,4)\n\t ts sack cubic rto:3200 rtt:0.3/0.1 mss:1448 unacked:3 retrans:1/9\n"
	for _, c := range []struct {
		kernel string
		rows   []string
		want   bool
	}{
		{kernel, serveBackoff, true},
		{kernel, serveIdle, false},
		{kernelBackoff, serveIdle, true},
		{"", nil, false},
	} {
		if got, why := backoffIn(c.kernel, c.rows); got != c.want {
			t.Errorf("backoffIn(%q, %q) = %v (%s), want %v", c.kernel, c.rows, got, why, c.want)
		}
	}
}
