package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestUIExpertNotesAsTshark: the notes the page puts on TCP packets
// ("TCP Dup ACK #11#2", "TCP Previous segment not captured", "TCP
// ZeroWindow"...) are the ones tshark's Info column gives the same packets,
// capture point by capture point: the demo writes its trace and its
// pcapng in one run, each stack's packets are split into a capture of
// their own, and for every packet tshark's bracketed notes and the page's
// must be the same. The runs lose, duplicate and reorder packets, and shut
// the client's window.
func TestUIExpertNotesAsTshark(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, "/usr/bin/tshark", "tshark")
	seen := map[string]int{}
	for _, rules := range [][]string{
		{"--egress", "tcp and len > 60 : loss 30%"},
		{"--ingress", "tcp and len > 60 : loss 40% seed 3"},
		{"--egress", "duplicate 30%"},
		{"--egress", "reorder 40% gap 5ms"},
		{"--egress", "tcp and len < 60 and not syn : window 0"},
	} {
		t.Run(strings.Join(rules, " "), func(t *testing.T) {
			dir := t.TempDir()
			trace, pcap := filepath.Join(dir, "demo.jsonl"), filepath.Join(dir, "demo.pcapng")
			run(t, 2*time.Minute, glassnetBin, append([]string{"demo", "--trace", trace, "--pcap", pcap}, rules...)...)
			p, got := compareNotes(t, trace, pcap, seen)
			if rules[1] == "tcp and len > 60 : loss 30%" {
				pageShowsNotes(t, p, got)
			}
		})
	}
	t.Logf("notes compared: %v", seen)
	for _, kind := range []string{"TCP Retransmission", "TCP Dup ACK", "TCP Previous segment not captured", "TCP ZeroWindow"} {
		if seen[kind] == 0 {
			t.Errorf("no run gave a %q note: the comparison does not cover it", kind)
		}
	}
}

// TestUIExpertNotesServe is TestUIExpertNotesAsTshark for serve on a TUN
// with the kernel as the peer, which reads its echo slowly through a small
// receive buffer: the kernel's own ACKs, SACKs and window updates, its
// window filled, shut and probed, and losses both ways.
func TestUIExpertNotesServe(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, "/usr/bin/tshark", "tshark")
	netnstest.RunTUN(t, func(t *testing.T) {
		seen := map[string]int{}
		s := startServe(t, "--ui", "127.0.0.1:0",
			"--egress", "tcp and greater 1000 : loss 2% seed 7", "--ingress", "tcp and greater 1000 : loss 2% seed 8")
		r := serveUI(t, s)
		if err := slowEcho(net.JoinHostPort(stackAddr, "7"), 1<<20); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// serve's own --pcap is a classic pcap, without the packet ids
		// the view's export writes in its comments
		pcap := filepath.Join(t.TempDir(), "serve.pcapng")
		r.exportTo(t, ctx, "pcapng", pcap)
		p := openUI(t, ctx, r)
		notesOfPage(t, p, pcap, seen)
		t.Logf("notes compared: %v", seen)
		for _, kind := range []string{"TCP Retransmission", "TCP Dup ACK", "TCP Window Full", "TCP ZeroWindow"} {
			if seen[kind] == 0 {
				t.Errorf("the run gave no %q note: the comparison does not cover it", kind)
			}
		}
	})
}

// compareNotes opens the run's trace in the view and holds the page's notes
// to tshark's for the capture the same run wrote; it counts the notes by
// kind in seen and returns the page and its notes by packet id.
func compareNotes(t *testing.T, trace, pcap string, seen map[string]int) (*uiPage, map[string][]string) {
	t.Helper()
	r := startUI(t, "view", "--ui", "127.0.0.1:0", trace)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	p := openUI(t, ctx, r)
	return p, notesOfPage(t, p, pcap, seen)
}

// notesOfPage holds the notes of the page p to tshark's for pcap, the
// capture of the run it shows, once the page has every event of it.
func notesOfPage(t *testing.T, p *uiPage, pcap string, seen map[string]int) map[string][]string {
	t.Helper()
	want, last := tsharkNotes(t, pcap)
	p.wait("the capture's packets in the page", fmt.Sprintf(`window.glassnet && glassnet.timing.draws > 0 && glassnet.store.events.length > 0 && glassnet.store.events[glassnet.store.events.length - 1].id >= %d && "loaded"`, last))
	var got map[string][]string
	if err := json.Unmarshal([]byte(p.eval(`JSON.stringify(Object.fromEntries([...glassnet.store.notes].map(([id, ns]) => [id, ns.map((n) => n.text).sort()])))`)), &got); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		for _, n := range w {
			seen[strings.SplitN(n, " #", 2)[0]]++
		}
		if g := got[strconv.Itoa(id)]; !slices.Equal(g, w) {
			t.Errorf("packet #%d: the page's notes %q, tshark's %q", id, g, w)
		}
	}
	for id, g := range got {
		n, _ := strconv.Atoi(id)
		if _, ok := want[n]; !ok && n <= last { // a live run goes on after its capture
			t.Errorf("packet #%d: the page's notes %q, tshark has none", n, g)
		}
	}
	return got
}

// tsharkNotes splits a pcapng of the demo's into one capture per stack (its
// interfaces) and returns, for each packet id (the "packet #N" of its
// comment), the notes tshark's Info column writes in brackets, sorted; a
// duplicate ACK's frame number is written as the id of that frame's
// packet, as the page names it. It also returns the last packet id.
func tsharkNotes(t *testing.T, pcap string) (notes map[int][]string, last int) {
	t.Helper()
	notes = map[int][]string{}
	bracket := regexp.MustCompile(`\[(TCP [^\]]*)\]`)
	dupack := regexp.MustCompile(`^TCP Dup ACK (\d+)#(\d+)$`)
	var ifaces []string
	for line := range strings.SplitSeq(strings.TrimSpace(run(t, time.Minute, "/usr/bin/tshark", "-r", pcap, "-T", "fields", "-e", "frame.interface_id")), "\n") {
		if !slices.Contains(ifaces, line) {
			ifaces = append(ifaces, line)
		}
	}
	for _, iface := range ifaces {
		part := pcap // a capture of one interface is one capture point
		if len(ifaces) > 1 {
			part = filepath.Join(filepath.Dir(pcap), "if"+iface+".pcapng")
			run(t, time.Minute, "/usr/bin/tshark", "-r", pcap, "-Y", "frame.interface_id == "+iface, "-w", part)
		}
		ids := map[string]int{} // frame number in the part -> packet id
		type row struct {
			id   int
			info string
		}
		var rows []row
		for line := range strings.SplitSeq(strings.TrimSpace(run(t, time.Minute, "/usr/bin/tshark", "-r", part, "-T", "fields", "-E", "separator=/t", "-e", "frame.number", "-e", "frame.comment", "-e", "_ws.col.Info")), "\n") {
			f := strings.SplitN(line, "\t", 3)
			if len(f) < 3 {
				continue
			}
			var id int
			if _, err := fmt.Sscanf(f[1], "packet #%d", &id); err != nil {
				t.Fatalf("tshark: frame %s has no packet id in its comment %q", f[0], f[1])
			}
			ids[f[0]] = id
			last = max(last, id)
			rows = append(rows, row{id, f[2]})
		}
		if len(rows) == 0 {
			t.Fatalf("tshark read no packets on interface %s", iface)
		}
		for _, r := range rows {
			for _, m := range bracket.FindAllStringSubmatch(r.info, -1) {
				n := m[1]
				if d := dupack.FindStringSubmatch(n); d != nil {
					n = fmt.Sprintf("TCP Dup ACK #%d#%s", ids[d[1]], d[2])
				}
				if n == "TCP segment of a reassembled PDU" {
					continue // not an analysis note: the dissector's reassembly
				}
				notes[r.id] = append(notes[r.id], n)
			}
		}
	}
	for _, n := range notes {
		slices.Sort(n)
	}
	return notes, last
}

// pageShowsNotes: a packet with notes has them in its ladder label, in
// Wireshark's words ("[Dup ACK #2]"), and in the inspector when selected,
// with what each means.
func pageShowsNotes(t *testing.T, p *uiPage, notes map[string][]string) {
	t.Helper()
	var id string
	for i, ns := range notes {
		if slices.ContainsFunc(ns, func(n string) bool { return strings.HasPrefix(n, "TCP Dup ACK") }) && (id == "" || i < id) {
			id = i
		}
	}
	if id == "" {
		t.Fatal("no duplicate ACK in the run: nothing to look at")
	}
	p.eval(fmt.Sprintf(`glassnet.select(%s, "test"); "ok"`, id))
	// the ladder draws a pair once, as its sender's packet: the label is
	// found by either copy's id
	label := p.wait("the duplicate ACK's label", fmt.Sprintf(`(() => { const g = document.querySelector('#ladder g.pkt[data-event-id="%[1]s"], #ladder g.pkt[data-twin="%[1]s"]'); if (!g || !/dup-ack/.test(g.dataset.notes || "")) return ""; const l = document.querySelector('#ladder g.pkt-label[data-event-id="' + g.dataset.eventId + '"]'); return l ? l.textContent : ""; })()`, id))
	if !regexp.MustCompile(`\[Dup ACK #\d+\]`).MatchString(label) {
		t.Errorf("the ladder's label of duplicate ACK #%s reads %q, without [Dup ACK #N]", id, label)
	}
	ins := p.wait("the inspector's note", `(() => { const n = document.querySelector('#inspector [data-note="dup-ack"]'); return n ? n.textContent : ""; })()`)
	if !strings.Contains(ins, "[TCP Dup ACK #") || !strings.Contains(ins, "repeats the last ACK") {
		t.Errorf("the inspector says of duplicate ACK #%s %q", id, ins)
	}
	row := p.wait("the duplicate ACK's line in the event list", fmt.Sprintf(`(() => { const r = document.querySelector('#events [data-event-id="%s"]'); return r ? r.textContent : ""; })()`, id))
	if !regexp.MustCompile(`\[Dup ACK #\d+\]`).MatchString(row) {
		t.Errorf("the event list's line of duplicate ACK #%s reads %q, without [Dup ACK #N]", id, row)
	}
	p.shot("expert-dup-ack")
}

// slowEcho sends size bytes to the echo at addr through a socket with a
// small receive buffer and reads the echo back slowly, so that its window
// fills and shuts now and then; it returns once all came back.
func slowEcho(addr string, size int) error {
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, size))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		sent <- err
	}()
	buf := make([]byte, 4<<10)
	got := 0
	for got < size {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			return fmt.Errorf("read %d of %d bytes of the echo: %w", got, size, err)
		}
		time.Sleep(time.Millisecond) // a slow reader: the window shuts
	}
	return <-sent
}
