package ui

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// TestConnsSSState: GET /api/conns gives each socket's state as glassnet
// ss names it (ss_state, sockets.SSState) beside the socket table's own
// (state): a fresh TCP socket, a bound one, a listener and a bound UDP
// socket, which the socket table calls INITIAL, BOUND, LISTEN and BOUND.
func TestConnsSSState(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{})
	t.Cleanup(func() { db.Close() })
	st, err := netstack.New(netstack.Options{Device: da, Node: "solo", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	socks := sockets.New(st.Stack(), sockets.Options{})
	var fds [4]int // fresh, bound, listening, UDP
	for i := range fds {
		typ := sockets.SOCK_STREAM
		if i == 3 {
			typ = sockets.SOCK_DGRAM
		}
		fd, err := socks.Socket(sockets.AF_INET, typ)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { socks.Close(fd) })
		fds[i] = fd
		if i > 0 {
			if err := socks.Bind(fd, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(80+i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := socks.Listen(fds[2], 4); err != nil {
		t.Fatal(err)
	}
	s, _ := New(Options{Live: true, Run: true})
	s.AddNode(Node{Name: "solo", Stack: st, Sockets: socks})
	base := startServer(t, s)
	var got struct{ Conns []Conn }
	if code := api(t, s, "GET", base+"/api/conns", "", &got); code != http.StatusOK {
		t.Fatalf("GET /api/conns: %d", code)
	}
	want := map[int]sockets.SocketInfo{}
	for _, r := range socks.Table() {
		want[r.FD] = r
	}
	seen := map[string]bool{}
	for _, c := range got.Conns {
		r, ok := want[c.FD]
		if !ok {
			continue
		}
		seen[r.State] = true
		if c.State != r.State || c.SSState != r.SSState() {
			t.Errorf("fd %d: state %q, ss_state %q; want %q and %q as glassnet ss names it", c.FD, c.State, c.SSState, r.State, r.SSState())
		}
		if c.SSState == "INITIAL" || c.SSState == "BOUND" {
			t.Errorf("fd %d: ss_state %q, a name glassnet ss does not use", c.FD, c.SSState)
		}
	}
	if len(seen) < 3 {
		t.Errorf("the table had states %v, want a fresh, a bound and a listening socket", seen)
	}
}

// TestStatesJS: the page's states.js maps every TCP state the trace or
// the socket table can name to glassnet ss's name for it.
func TestStatesJS(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{})
	base := startServer(t, s)
	resp, b := request(t, s, "GET", base+"/static/states.js", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("GET /static/states.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m := regexp.MustCompile(`export const SS_STATE = (\{[^}]*\});`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no SS_STATE in %s", b)
	}
	var names map[string]string
	if err := json.Unmarshal(m[1], &names); err != nil {
		t.Fatal(err)
	}
	for st := tcp.StateEstablished; st <= tcp.StateError; st++ {
		for _, n := range []string{st.String(), netstack.TCPStateName(st)} {
			if want := sockets.SSState(sockets.SOCK_STREAM, n); names[n] != want {
				t.Errorf("states.js names %s %q, glassnet ss %q", n, names[n], want)
			}
		}
	}
}
