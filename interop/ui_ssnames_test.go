package interop

import (
	"context"
	"encoding/json"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ui"
)

// TestUISocketStatesAsSS: the connections table names the states of a
// running stack's sockets as glassnet ss does: a fresh and a bound TCP
// socket and a bound UDP socket UNCONN, not the socket table's INITIAL
// and BOUND, and a listener LISTEN.
func TestUISocketStatesAsSS(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	da, db := tun.Pipe(tun.PipeOptions{})
	defer db.Close()
	st, err := netstack.New(netstack.Options{Device: da, Node: "glassnet", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	socks := sockets.New(st.Stack(), sockets.Options{})
	for i, typ := range []int{sockets.SOCK_STREAM, sockets.SOCK_STREAM, sockets.SOCK_STREAM, sockets.SOCK_DGRAM} {
		fd, err := socks.Socket(sockets.AF_INET, typ)
		if err != nil {
			t.Fatal(err)
		}
		defer socks.Close(fd)
		if i == 0 {
			continue // fresh
		}
		if err := socks.Bind(fd, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(8000+i))); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := socks.Listen(fd, 4); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := ui.New(ui.Options{Live: true, Run: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddNode(ui.Node{Name: "glassnet", Stack: st, Sockets: socks}); err != nil {
		t.Fatal(err)
	}
	r := startInProcessUI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)

	// what glassnet ss would print in its State column, with the
	// protocol in front of a UDP socket's, as the table writes it
	var want []string
	for _, row := range socks.Table() {
		name := row.SSState()
		if row.Type == sockets.SOCK_DGRAM {
			name = "udp " + name
		}
		want = append(want, name)
	}
	sort.Strings(want)
	got := p.wait("the socket table in the page", `(() => { const r = [...document.querySelectorAll('#conns tr[data-node="glassnet"] td.state')].map((td) => td.textContent.replace(/^glassnet/, "")); return r.length >= 4 && JSON.stringify(r.sort()); })()`)
	var rows []string
	json.Unmarshal([]byte(got), &rows)
	if strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("the connections table's states are %q, want %q as glassnet ss names them", rows, want)
	}
	for _, r := range rows {
		if strings.Contains(r, "INITIAL") || strings.Contains(r, "BOUND") {
			t.Errorf("the connections table says %q, a name glassnet ss does not use", r)
		}
	}
	p.shot("ui-socket-states")
	p.noProblems("socket states")
}
