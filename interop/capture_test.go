package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const tcpdumpBin = "/usr/bin/tcpdump"

// TestUICapture opens in the browser view a capture that tcpdump took of
// Debian's python3-websockets talking to itself on the host's loopback
// (text, a 100,000-byte binary message, a fragmented message, ping and
// close; once plain and once with permessage-deflate), and checks the
// frames the view reads out of its TCP streams against tshark's: the same
// frames (opcode and length), each ending in the packet tshark puts it
// in. The page shows them: the 100,000-byte frame, selected by its
// address, is drawn in the ladder with the packets that carried it.
func TestUICapture(t *testing.T) {
	needPythonWebsockets(t)
	needProgram(t, tcpdumpBin, "tcpdump")
	needProgram(t, "/usr/bin/tshark", "tshark")
	needProgram(t, chromiumBin, "chromium")
	port := freeLoopbackPort(t)
	file := filepath.Join(t.TempDir(), "ws.pcap")

	// Capture the conversation on loopback, and only it.
	dump := exec.Command(tcpdumpBin, "-i", "lo", "--immediate-mode", "-U", "-n", "-B", "32768", "-w", file, "tcp port "+strconv.Itoa(port))
	var dumpOut syncBuffer
	dump.Stderr = &dumpOut
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(dumpOut.String(), "listening on"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			dump.Process.Kill()
			t.Fatalf("tcpdump did not start listening in 10 s: %s", dumpOut.String())
		}
	}
	out := run(t, time.Minute, pythonBin, "testdata/wscapture.py", strconv.Itoa(port))
	// tcpdump stops at SIGINT without reading what the kernel still holds
	// for it: wait until the file has stopped growing.
	for size, still, deadline := int64(-1), 0, time.Now().Add(10*time.Second); still < 3 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		fi, err := os.Stat(file)
		if err == nil && fi.Size() == size {
			still++
		} else if err == nil {
			size, still = fi.Size(), 0
		}
	}
	dump.Process.Signal(syscall.SIGINT)
	dump.Wait()
	t.Logf("tcpdump: %s", strings.Join(strings.Fields(dumpOut.String()), " "))
	if strings.TrimSpace(out) != "done" {
		t.Fatalf("python: %s", out)
	}

	// tshark's frames: the packet each ends in, its opcode and length.
	fields := run(t, time.Minute, "/usr/bin/tshark", "-r", file, "-d", "tcp.port=="+strconv.Itoa(port)+",http", "-Y", "websocket",
		"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;", "-e", "frame.number", "-e", "websocket.opcode",
		"-e", "websocket.payload_length", "-e", "websocket.payload_length_ext_16", "-e", "websocket.payload_length_ext_64")
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		f := strings.Split(line, "\t")
		for len(f) < 5 {
			f = append(f, "") // the empty fields at the end of the output
		}
		if len(f) != 5 {
			t.Fatalf("tshark line %q", line)
		}
		// The 7-bit length, unless it announces a 16- or 64-bit one.
		ops, lens := strings.Split(f[1], ";"), strings.Split(f[2], ";")
		ext16, ext64 := strings.Split(f[3], ";"), strings.Split(f[4], ";")
		for i := range ops {
			n := lens[i]
			switch {
			case n == "126" && len(ext16) > 0 && ext16[0] != "":
				n, ext16 = ext16[0], ext16[1:]
			case n == "127" && len(ext64) > 0 && ext64[0] != "":
				n, ext64 = ext64[0], ext64[1:]
			}
			want = append(want, f[0]+" "+ops[i]+" "+n)
		}
	}
	slices.Sort(want)
	if len(want) < 16 {
		t.Fatalf("tshark finds %d WebSocket frames in the capture:\n%s", len(want), fields)
	}

	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var page struct{ Events []map[string]any }
	if err := r.api(ctx, "GET", "/api/events?from=1&to=100000", nil, &page); err != nil {
		t.Fatal(err)
	}
	number := map[float64]float64{} // event ID -> number in the capture
	for _, e := range page.Events {
		if e["event"] == "packet" {
			number[e["id"].(float64)], _ = e["pcap_number"].(float64)
		}
	}
	opcodes := map[string]int{"continuation": 0, "text": 1, "binary": 2, "close": 8, "ping": 9, "pong": 10}
	var got []string
	big := 0.0
	for _, e := range page.Events {
		if e["event"] != "frame" {
			continue
		}
		last := 0.0
		for _, p := range e["packets"].([]any) {
			last = max(last, number[p.(float64)])
		}
		got = append(got, fmt.Sprintf("%v %d %v", last, opcodes[e["opcode"].(string)], e["len"]))
		if e["len"].(float64) == 100000 {
			big = e["id"].(float64)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("frames (packet opcode length) in the view:\n%s\ntshark:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if big == 0 {
		t.Fatal("no 100,000-byte frame in the view")
	}

	p := openUI(t, ctx, r)
	p.eval(fmt.Sprintf(`location.hash = "#event=%v"; "ok"`, big))
	lit := p.wait("the 100,000-byte frame drawn with its packets", fmt.Sprintf(`(() => {
		const f = document.querySelector('#ladder [data-event-id="%v"]');
		const pk = document.querySelectorAll('#ladder [data-hl]').length;
		return f && pk > 1 ? "frame and " + pk + " lit" : "";
	})()`, big))
	t.Logf("selected frame #%v: %s", big, lit)
	p.shot("ui-capture")
	p.noProblems("a tcpdump capture")
}

// freeLoopbackPort returns a TCP port free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
