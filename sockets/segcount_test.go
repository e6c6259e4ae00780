package sockets_test

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/internal/stacktest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// rowOf is fd's row in a snapshot of s.
func rowOf(t *testing.T, s *sockets.Sockets, fd int) sockets.SocketInfo {
	t.Helper()
	for _, r := range s.Snapshot() {
		if r.FD == fd && r.TCP != nil {
			return r
		}
	}
	t.Fatalf("no TCP row for fd %d", fd)
	return sockets.SocketInfo{}
}

// TestStacksSegmentCounts checks segs_out and segs_in over a link with
// segmentation offloads (glassnet patch 26 in third_party/gvisor): a
// super-packet counts the segments it stands for, as Linux's tcp_info
// counts them, and not as one.
func TestStacksSegmentCounts(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{Offload: true})
	ctx := stacksContext(t)
	cfd, sfd := p.connect(t)
	data := p.sendAll(t, ctx, cfd, sfd, 1<<20)
	st := p.server.Stats()
	if st.GSOIn == 0 || st.GSOSegmentsIn < 2*st.GSOIn {
		t.Fatalf("the server received %d super-packets carrying %d segments: the test needs them", st.GSOIn, st.GSOSegmentsIn)
	}
	srv, cli := rowOf(t, p.ss, sfd), rowOf(t, p.cs, cfd)
	// Every byte came in segments of at most one MSS.
	least := uint64(len(data) / srv.TCP.MSS)
	if srv.TCP.SegsIn < least {
		t.Errorf("the server's segs_in is %d for %d bytes at MSS %d: at least %d (super-packets counted as one)", srv.TCP.SegsIn, len(data), srv.TCP.MSS, least)
	}
	if cli.TCP.SegsOut < least {
		t.Errorf("the client's segs_out is %d for %d bytes at MSS %d: at least %d (super-packets counted as one)", cli.TCP.SegsOut, len(data), cli.TCP.MSS, least)
	}
	// And not more than a few beyond the data segments: the handshake,
	// the FIN, window updates.
	if most := least + 64; srv.TCP.SegsIn > most || cli.TCP.SegsOut > most {
		t.Errorf("segs_in %d, segs_out %d for %d data segments", srv.TCP.SegsIn, cli.TCP.SegsOut, least)
	}
}

// TestRetransmittedInFlight checks the two numbers of ss's retrans:N/M:
// the segments sent again and still unacknowledged (Linux's tcpi_retrans)
// and all sent again (tcpi_total_retrans). The client's data is dropped
// on its way out until the client has sent it again twice; then the
// drop stops, and the next copy is acknowledged.
func TestRetransmittedInFlight(t *testing.T) {
	t.Parallel()
	var blackhole atomic.Bool
	drops := hook.PacketFunc(func(pk *hook.Packet) hook.Verdict {
		if h := pk.Headers(); blackhole.Load() && h.Proto == 6 && h.Payload > 0 {
			return hook.Verdict{Action: hook.Drop, Reason: "blackhole"}
		}
		return hook.Verdict{}
	})
	cdev, sdev := tun.Pipe(tun.PipeOptions{})
	server, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{stacktest.ServerPrefix}})
	check(t, err)
	t.Cleanup(func() { server.Close() })
	client, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{stacktest.ClientPrefix}, Egress: hook.NewChain(drops)})
	check(t, err)
	t.Cleanup(func() { client.Close() })
	p := &stackPair{client: client, server: server,
		cs: sockets.New(client.Stack(), sockets.Options{}), ss: sockets.New(server.Stack(), sockets.Options{})}
	ctx := stacksContext(t)
	cfd, sfd := p.connect(t)

	blackhole.Store(true)
	if _, err := p.cs.Send(ctx, cfd, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the client sending its data again twice", func() bool {
		return rowOf(t, p.cs, cfd).TCP.Retrans >= 2
	})
	r := rowOf(t, p.cs, cfd)
	if r.TCP.RetransOut != 1 {
		t.Errorf("one segment, sent again and unacknowledged: retrans %d/%d, want 1/%d", r.TCP.RetransOut, r.TCP.Retrans, r.TCP.Retrans)
	}
	line := ctl.InfoLine(r)
	if want := "retrans:1/"; !strings.Contains(line, want) {
		t.Errorf("ss -i line %q, want %q in it", line, want)
	}
	blackhole.Store(false)
	buf := make([]byte, 5)
	if n, err := p.ss.Recv(ctx, sfd, buf, sockets.MSG_WAITALL); n != 5 || err != nil {
		t.Fatalf("Recv = %d, %v", n, err)
	}
	waitUntil(t, "the data acknowledged", func() bool {
		return rowOf(t, p.cs, cfd).TCP.RetransOut == 0
	})
	if r := rowOf(t, p.cs, cfd); r.TCP.Retrans < 2 || r.TCP.Unacked != 0 {
		t.Errorf("after the ACK: %d sent again in all, %d unacknowledged", r.TCP.Retrans, r.TCP.Unacked)
	}
}
