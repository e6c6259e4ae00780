package ctl_test

import (
	"net/netip"
	"os"
	"time"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/sockets"
)

func ExampleRender() {
	rows := []sockets.SocketInfo{
		{FD: 3, Domain: sockets.AF_INET, Type: sockets.SOCK_STREAM, State: "LISTEN",
			Local: netip.MustParseAddrPort("10.200.0.2:8080"), Backlog: 1024, AcceptQ: 1},
		{FD: 5, Domain: sockets.AF_INET, Type: sockets.SOCK_STREAM, State: "ESTABLISHED",
			Local: netip.MustParseAddrPort("10.200.0.2:8080"), Peer: netip.MustParseAddrPort("10.200.0.1:40312"),
			RecvQ: 0, SendQ: 21,
			TCP: &sockets.TCPInfo{CC: "cubic", RTT: 512 * time.Microsecond, RTTVar: 256 * time.Microsecond,
				RTO: 201 * time.Millisecond, Cwnd: 10, MSS: 1448, SndWnd: 64256, RcvWnd: 65535,
				SndWScale: 7, RcvWScale: 7, Windows: true, TS: true, SACK: true, Unacked: 1, SegsIn: 6, SegsOut: 7,
				BytesSent: 150, BytesReceived: 171}},
		{FD: -1, Domain: sockets.AF_INET, Type: sockets.SOCK_STREAM, State: "ESTABLISHED", Queued: true,
			Local: netip.MustParseAddrPort("10.200.0.2:8080"), Peer: netip.MustParseAddrPort("10.200.0.1:40314")},
		{FD: -1, Domain: sockets.AF_INET, Type: sockets.SOCK_STREAM, State: "TIME-WAIT",
			Local: netip.MustParseAddrPort("10.200.0.2:8080"), Peer: netip.MustParseAddrPort("10.200.0.1:40310")},
	}
	ctl.Render(os.Stdout, rows, ctl.RenderOptions{Info: true})
	// Output:
	// Netid State     Recv-Q Send-Q Local Address:Port Peer Address:Port FD
	// tcp   LISTEN    1      1024   10.200.0.2:8080    0.0.0.0:*         3
	// tcp   ESTAB     0      21     10.200.0.2:8080    10.200.0.1:40312  5
	// 	 ts sack cubic wscale:7,7 rto:201 rtt:0.512/0.256 mss:1448 cwnd:10 bytes_sent:150 bytes_received:171 segs_out:7 segs_in:6 unacked:1 snd_wnd:64256 rcv_wnd:65535
	// tcp   ESTAB     0      0      10.200.0.2:8080    10.200.0.1:40314  - accept-queue
	// tcp   TIME-WAIT 0      0      10.200.0.2:8080    10.200.0.1:40310  -
}
