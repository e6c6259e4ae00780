package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
			want := tsharkNotes(t, pcap)
			r := startUI(t, "view", "--ui", "127.0.0.1:0", trace)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p := openUI(t, ctx, r)
			p.wait("the recording in the page", `window.glassnet && glassnet.store.events.length > 0 && glassnet.timing.draws > 0 && "loaded"`)
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
			if rules[1] == "tcp and len > 60 : loss 30%" {
				pageShowsNotes(t, p, got)
			}
			for id, g := range got {
				n, _ := strconv.Atoi(id)
				if _, ok := want[n]; !ok {
					t.Errorf("packet #%d: the page's notes %q, tshark has none", n, g)
				}
			}
		})
	}
	t.Logf("notes compared: %v", seen)
	for _, kind := range []string{"TCP Retransmission", "TCP Dup ACK", "TCP Previous segment not captured", "TCP ZeroWindow", "TCP Out-Of-Order", "TCP ZeroWindow"} {
		if seen[kind] == 0 {
			t.Errorf("no run gave a %q note: the comparison does not cover it", kind)
		}
	}
}

// tsharkNotes splits the demo's pcapng into one capture per stack (its
// interfaces) and returns, for each packet id (the "packet #N" of its
// comment), the notes tshark's Info column writes in brackets, sorted; a
// duplicate ACK's frame number is written as the id of that frame's
// packet, as the page names it.
func tsharkNotes(t *testing.T, pcap string) map[int][]string {
	t.Helper()
	notes := map[int][]string{}
	bracket := regexp.MustCompile(`\[(TCP [^\]]*)\]`)
	dupack := regexp.MustCompile(`^TCP Dup ACK (\d+)#(\d+)$`)
	for iface := 0; iface < 2; iface++ {
		part := filepath.Join(filepath.Dir(pcap), fmt.Sprintf("if%d.pcapng", iface))
		run(t, time.Minute, "/usr/bin/tshark", "-r", pcap, "-Y", fmt.Sprintf("frame.interface_id == %d", iface), "-w", part)
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
			rows = append(rows, row{id, f[2]})
		}
		if len(rows) == 0 {
			t.Fatalf("tshark read no packets on interface %d", iface)
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
	return notes
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
	p.shot("expert-dup-ack")
}
