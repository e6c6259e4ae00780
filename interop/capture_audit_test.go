package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/trace"
)

const tsharkBin = "/usr/bin/tshark"

// TestCaptureAudit reads with tshark what serve --pcap and the browser
// view's pcapng export write of a run on a TUN with packet rules and an
// edit made in the view's hold queue: the kernel's pings (one size dropped
// coming in, the replies' TTL rewritten going out), a UDP echo whose
// replies are duplicated, and a TCP echo whose reply was held and given a
// window of 1000. Neither file has a malformed packet, an expert error or
// a bad checksum; the export's packets are those of --pcap, with their
// times and each with its direction, time order kept; and a packet a
// verdict acted on says, in the export's comment, what it did and by
// which rule.
func TestCaptureAudit(t *testing.T) {
	needProgram(t, tsharkBin, "tshark")
	netnstest.RunTUN(t, func(t *testing.T) {
		dir := t.TempDir()
		pcap, export := filepath.Join(dir, "serve.pcap"), filepath.Join(dir, "export.pcapng")
		s := startServe(t, "--pcap", pcap, "--ui", "127.0.0.1:0",
			"--egress", "udp : duplicate 100%", "--egress", "icmp : ttl 7", "--ingress", "icmp and greater 100 : drop")
		r := serveUI(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		run(t, 20*time.Second, "ping", "-c", "2", "-i", "0.2", stackAddr)
		// Its requests are 128 bytes, over the rule's 100: no answer.
		if out, err := exec.Command("ping", "-c", "1", "-W", "1", "-s", "100", stackAddr).CombinedOutput(); err == nil {
			t.Errorf("a ping the ingress rule drops was answered:\n%s", out)
		}
		u, err := net.Dial("udp", stackAddr+":8080")
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		u.SetDeadline(time.Now().Add(10 * time.Second))
		u.Write([]byte("hello udp"))
		for i := range 2 {
			b := make([]byte, 64)
			if n, err := u.Read(b); err != nil || string(b[:n]) != "hello udp" {
				t.Fatalf("udp echo copy %d: %q, %v", i+1, b[:n], err)
			}
		}

		if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "link-egress", "node": "glassnet", "filter": "tcp and src port 7 and psh"}, nil); err != nil {
			t.Fatal(err)
		}
		c := dialTCP(t, stackAddr+":7")
		c.Write([]byte("abcd"))
		hold, _, _ := heldUnit(t, ctx, r)
		if err := r.api(ctx, "POST", fmt.Sprintf("/api/holds/%d", hold), map[string]any{"action": "release", "edit": map[string]any{"window": 1000}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.api(ctx, "POST", "/api/play", nil, nil); err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(io.LimitReader(c, 4)); err != nil || string(b) != "abcd" {
			t.Fatalf("tcp echo of the held reply: %q, %v", b, err)
		}
		c.Close()

		r.exportTo(t, ctx, "pcapng", export)
		if err := s.interrupt(t); err != nil {
			t.Fatalf("serve: %v\n%s", err, s.out.String())
		}

		for _, f := range []string{pcap, export} {
			// Checksums checked: tshark leaves them unverified by default.
			if bad := tshark(t, f, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
				"-Y", `_ws.malformed || _ws.expert.severity >= 8388608 || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad"`,
				"-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"); bad != "" {
				t.Errorf("%s: malformed packets, expert errors or bad checksums:\n%s", filepath.Base(f), bad)
			}
		}

		// The export's packets, as tshark reads them.
		type row struct {
			number, dir, src, comment, info string
			at                              float64
		}
		var rows []row
		for _, l := range strings.Split(strings.TrimSpace(tshark(t, export, "-T", "fields", "-E", "separator=|",
			"-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.interface_name", "-e", "frame.packet_flags_direction",
			"-e", "ip.src", "-e", "ipv6.src", "-e", "frame.comment", "-e", "_ws.col.Info")), "\n") {
			f := strings.Split(l, "|")
			if len(f) != 8 {
				t.Fatalf("tshark line %q", l)
			}
			at, err := strconv.ParseFloat(f[1], 64)
			if err != nil || f[2] != "glassnet" {
				t.Fatalf("tshark line %q: time %v, interface %q (want glassnet)", l, err, f[2])
			}
			rows = append(rows, row{number: f[0], at: at, dir: f[3], src: f[4] + f[5], comment: f[6], info: f[7]})
		}
		var last float64
		counts := map[string]int{}
		for _, w := range rows {
			want := map[bool]string{true: "0x00000002", false: "0x00000001"}[w.src == stackAddr]
			if w.dir != want {
				t.Errorf("export packet %s from %s: direction %s, want %s: %s", w.number, w.src, w.dir, want, w.info)
			}
			if w.at < last {
				t.Errorf("export packet %s at %.9f, before the one ahead of it (%.9f)", w.number, w.at, last)
			}
			last = w.at
			for _, note := range []string{
				`duplicated at link-egress by rule "udp : duplicate 100%"`,
				`changed at link-egress (rewrite) by rule "icmp : ttl 7"`,
				`dropped at link-ingress by rule "icmp and len >= 100 : drop"`,
				`changed at link-egress (ui-edit: win `,
				`held at link-egress (ui-hold) by rule "ui hold"; changed at link-egress (ui-edit: win `,
			} {
				if strings.Contains(w.comment, note) {
					counts[note]++
				}
			}
		}
		for note, want := range map[string]int{
			`duplicated at link-egress by rule "udp : duplicate 100%"`:                               2, // both copies of the reply
			`changed at link-egress (rewrite) by rule "icmp : ttl 7"`:                                2, // the two echo replies
			`dropped at link-ingress by rule "icmp and len >= 100 : drop"`:                           1, // the large request, as it arrived
			`changed at link-egress (ui-edit: win `:                                                  1, // the held reply
			`held at link-egress (ui-hold) by rule "ui hold"; changed at link-egress (ui-edit: win `: 1,
		} {
			if counts[note] != want {
				t.Errorf("%d packets of the export say %q, want %d", counts[note], note, want)
			}
		}
		if t.Failed() {
			t.Logf("export:\n%s", tshark(t, export, "-T", "fields", "-e", "frame.number", "-e", "frame.packet_flags_direction", "-e", "frame.comment", "-e", "_ws.col.Info"))
		}

		// The same packets as serve's --pcap, at the same times, give or
		// take the moment between the stack's two stamps of each.
		read := func(name string, read func(io.Reader) ([]trace.Event, error)) []trace.Event {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := read(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(name), err)
			}
			return evs
		}
		fromPCAP := read(pcap, func(r io.Reader) ([]trace.Event, error) { return trace.ReadPCAP(r, "glassnet") })
		fromExport := read(export, trace.ReadPCAPNG)
		used := make([]bool, len(fromPCAP))
		for _, e := range fromExport {
			i := 0
			for ; i < len(fromPCAP) && (used[i] || !bytes.Equal(fromPCAP[i].Data, e.Data)); i++ {
			}
			if i == len(fromPCAP) {
				t.Errorf("export packet #%d (%s) is not in --pcap", e.ID, e.Summary)
				continue
			}
			used[i] = true
			at, _ := time.Parse(time.RFC3339Nano, e.Field("time").(string))
			want, _ := time.Parse(time.RFC3339Nano, fromPCAP[i].Field("time").(string))
			if d := at.Sub(want).Abs(); d > 100*time.Millisecond {
				t.Errorf("export packet #%d (%s) at %v, %v from its time in --pcap (%v)", e.ID, e.Summary, at, d, want)
			}
		}
		// What --pcap has from well before the export is all in it.
		var end time.Time
		for _, e := range fromExport {
			end, _ = time.Parse(time.RFC3339Nano, e.Field("time").(string))
		}
		for i, e := range fromPCAP {
			if at, _ := time.Parse(time.RFC3339Nano, e.Field("time").(string)); !used[i] && at.Before(end.Add(-100*time.Millisecond)) {
				t.Errorf("--pcap packet %d (%s), at %v, is not in the export", i+1, e.Summary, at)
			}
		}
	})
}

// TestCaptureAuditNIC reads with tshark what serve --nic --pcap and the
// browser view's pcapng export write of a run on one end of a veth pair:
// both are Ethernet (LINKTYPE_ETHERNET) with the two ends' real MACs, ARP
// and neighbor discovery included, and nothing malformed; the export's one
// interface is named and described as the stack on its AF_PACKET socket;
// and the export holds the frames --pcap holds, byte for byte.
func TestCaptureAuditNIC(t *testing.T) {
	needProgram(t, tsharkBin, "tshark")
	netnstest.Run(t, func(t *testing.T) {
		const kernelEnd, stackEnd, addr4, addr6 = "gncak0", "gncas0", "10.213.0.2", "fd00:213::2"
		kernelVeth(t, kernelEnd, stackEnd, "10.213.0.1/24", "fd00:213::1/64")
		netnstest.WaitOperUp(t, kernelEnd)
		mac := func(dev string) string {
			// "N: dev@peer: <...> ... link/ether MAC brd ..."
			f := strings.Fields(run(t, 10*time.Second, "ip", "-o", "link", "show", "dev", dev))
			if i := slices.Index(f, "link/ether"); i >= 0 && i+1 < len(f) {
				return f[i+1]
			}
			t.Fatalf("ip link show %s: no MAC in %q", dev, f)
			return ""
		}
		kernelMAC, stackMAC := mac(kernelEnd), mac(stackEnd)

		dir := t.TempDir()
		pcap, export := filepath.Join(dir, "serve.pcap"), filepath.Join(dir, "export.pcapng")
		s := startServeArgs(t, "serve", "--nic", stackEnd, "--addr", addr4+"/24,"+addr6+"/64", "--pcap", pcap, "--ui", "127.0.0.1:0")
		r := serveUI(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		run(t, 20*time.Second, "ping", "-c", "2", "-i", "0.2", addr4)
		run(t, 20*time.Second, "ping", "-c", "2", "-i", "0.2", addr6)
		c := dialTCP(t, addr4+":7")
		c.Write([]byte("abcd"))
		if b, err := io.ReadAll(io.LimitReader(c, 4)); err != nil || string(b) != "abcd" {
			t.Fatalf("tcp echo: %q, %v", b, err)
		}
		c.Close()
		r.exportTo(t, ctx, "pcapng", export)
		if err := s.interrupt(t); err != nil {
			t.Fatalf("serve: %v\n%s", err, s.out.String())
		}

		for _, f := range []string{pcap, export} {
			name := filepath.Base(f)
			if bad := tshark(t, f, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
				"-Y", `_ws.malformed || _ws.expert.severity >= 8388608 || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || icmp.checksum.status == "Bad"`,
				"-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"); bad != "" {
				t.Errorf("%s: malformed packets, expert errors or bad checksums:\n%s", name, bad)
			}
			if encap := tshark(t, f, "-T", "fields", "-e", "frame.encap_type"); strings.Trim(strings.ReplaceAll(encap, "\n", ""), "1") != "" {
				t.Errorf("%s: encapsulations %q, want Ethernet (1) alone", name, strings.Fields(encap))
			}
			pairs := map[string]int{}
			for _, l := range strings.Split(strings.TrimSpace(tshark(t, f, "-T", "fields", "-E", "separator=|", "-e", "eth.src", "-e", "eth.dst", "-e", "_ws.col.Protocol")), "\n") {
				pairs[l]++
			}
			for _, want := range []string{
				kernelMAC + "|ff:ff:ff:ff:ff:ff|ARP", // the kernel asks who has the stack's address
				stackMAC + "|" + kernelMAC + "|ARP",  // and the stack answers
				kernelMAC + "|" + stackMAC + "|ICMP", stackMAC + "|" + kernelMAC + "|ICMP",
				stackMAC + "|" + kernelMAC + "|ICMPv6", kernelMAC + "|" + stackMAC + "|TCP", stackMAC + "|" + kernelMAC + "|TCP",
			} {
				if pairs[want] == 0 {
					t.Errorf("%s: no frame eth.src|eth.dst|protocol %s; it has %v", name, want, pairs)
				}
			}
		}
		ifc := strings.TrimSpace(tshark(t, export, "-c", "1", "-T", "fields", "-E", "separator=|", "-e", "frame.interface_name", "-e", "frame.interface_description"))
		if name, desc, _ := strings.Cut(ifc, "|"); name != "glassnet" || !strings.Contains(desc, "AF_PACKET") || !strings.Contains(desc, "Ethernet") {
			t.Errorf("the export's interface: name %q, description %q; want glassnet, on its AF_PACKET socket, Ethernet", name, desc)
		}

		// The export's frames are --pcap's (which goes on after the
		// export: serve's close, the kernel's last segments).
		frames := func(f string) []string {
			return strings.Split(strings.TrimRight(tshark(t, f, "-T", "fields", "-e", "frame.len", "-e", "eth.src", "-e", "eth.dst",
				"-e", "frame.protocols", "-e", "ip.id", "-e", "tcp.seq_raw", "-e", "icmp.seq", "-e", "icmpv6.echo.sequence_number"), "\n"), "\n")
		}
		want := frames(pcap)
		slices.Sort(want)
		for _, g := range frames(export) {
			if i, ok := slices.BinarySearch(want, g); ok {
				want = slices.Delete(want, i, i+1)
			} else {
				t.Errorf("export frame %q is not in --pcap", g)
			}
		}
		if t.Failed() {
			t.Logf("--pcap:\n%s\nexport:\n%s", tshark(t, pcap, "-T", "fields", "-e", "frame.len", "-e", "eth.src", "-e", "eth.dst", "-e", "_ws.col.Info"),
				tshark(t, export, "-T", "fields", "-e", "frame.len", "-e", "eth.src", "-e", "eth.dst", "-e", "_ws.col.Info"))
		}
	})
}

// tshark runs tshark -r file with args and returns its standard output.
func tshark(t *testing.T, file string, args ...string) string {
	t.Helper()
	return run(t, time.Minute, tsharkBin, append([]string{"-r", file}, args...)...)
}
