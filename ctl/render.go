package ctl

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/glassnet/glassnet/sockets"
)

// RenderOptions controls Render. The zero value prints the table only.
type RenderOptions struct {
	// Info adds a line of TCP details under each TCP connection, as ss -i
	// does.
	Info bool
}

// Render prints rows the way ss -tuan prints the kernel's sockets (with
// Info, ss -tuani):
//
//	Netid State    Recv-Q Send-Q Local Address:Port Peer Address:Port FD
//	tcp   LISTEN   1      8      10.0.0.2:80        0.0.0.0:*         3
//	tcp   ESTAB    0      0      10.0.0.2:80        10.0.0.1:40312    4
//		 cubic wscale:7,7 rto:201 rtt:0.512/0.256 mss:1460 cwnd:10 ...
//	tcp   ESTAB    0      0      10.0.0.2:80        10.0.0.1:40314    - accept-queue
//	tcp   TIME-WAIT 0     0      10.0.0.2:80        10.0.0.1:40310    -
//
// For a listener Recv-Q is the number of connections waiting in its accept
// queue and Send-Q its backlog, as in ss; for a connection they are the
// bytes not yet read and not yet acknowledged. States use ss's names
// (ESTAB, SYN-RECV, FIN-WAIT-1, UNCONN...). FD is the descriptor, or "-"
// for a connection no descriptor refers to, marked accept-queue when it
// waits in a listener's queue, and for TIME-WAIT, as ss lists it. A TCP
// socket with no connection left is not in rows (Snapshot leaves it out,
// as ss -ta does).
func Render(w io.Writer, rows []sockets.SocketInfo, opts RenderOptions) error {
	table := [][]string{{"Netid", "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "FD"}}
	for _, r := range rows {
		recvQ, sendQ := r.RecvQ, r.SendQ
		state := r.SSState()
		if state == "LISTEN" {
			recvQ, sendQ = r.AcceptQ, r.Backlog
		}
		fd := "-"
		if r.FD >= 0 {
			fd = strconv.Itoa(r.FD)
		} else if r.Queued {
			fd = "- accept-queue"
		}
		// ss names the protocol only: "tcp" for IPv4 and IPv6 alike
		netid := strings.TrimSuffix(r.Network(), "6")
		table = append(table, []string{netid, state, strconv.Itoa(recvQ), strconv.Itoa(sendQ),
			addrString(r.Local, r.Domain), addrString(r.Peer, r.Domain), fd})
	}
	// Columns are as wide as their widest cell, so that the info lines
	// between rows do not break the alignment.
	width := make([]int, len(table[0]))
	for _, row := range table {
		for i, cell := range row {
			width[i] = max(width[i], len(cell))
		}
	}
	var b strings.Builder
	for i, row := range table {
		for j, cell := range row {
			if j == len(row)-1 {
				b.WriteString(cell)
				break
			}
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", width[j]-len(cell)+1))
		}
		b.WriteByte('\n')
		if i > 0 && opts.Info && rows[i-1].TCP != nil && rows[i-1].State != "LISTEN" {
			b.WriteString("\t " + InfoLine(rows[i-1]) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// addrString prints an address as ss does: "0.0.0.0:*" or "[::]:*" for
// no peer.
func addrString(ap netip.AddrPort, domain int) string {
	if ap.IsValid() && ap.Port() != 0 {
		return ap.String()
	}
	a := ap.Addr()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
		if domain == sockets.AF_INET6 {
			a = netip.IPv6Unspecified()
		}
	}
	if a.Is6() {
		return "[" + a.String() + "]:*"
	}
	return a.String() + ":*"
}

// InfoLine is the ss -i line for a TCP row: the options agreed (ts,
// sack), congestion control, window scales, rto and rtt in milliseconds,
// mss, cwnd, ssthresh, bytes and segments, unacknowledged segments,
// retransmissions, and the send and receive windows.
func InfoLine(r sockets.SocketInfo) string {
	t := r.TCP
	if t == nil {
		return ""
	}
	var b strings.Builder
	add := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, format, args...)
	}
	if t.TS {
		add("ts")
	}
	if t.SACK {
		add("sack")
	}
	if t.CC != "" {
		add("%s", t.CC)
	}
	if t.Windows {
		add("wscale:%d,%d", t.SndWScale, t.RcvWScale)
	}
	if t.RTO > 0 {
		add("rto:%s", ms(t.RTO))
	}
	if t.RTT > 0 {
		add("rtt:%s/%s", ms(t.RTT), ms(t.RTTVar))
	}
	if t.Windows {
		add("mss:%d", t.MSS)
	}
	if t.Cwnd > 0 {
		add("cwnd:%d", t.Cwnd)
	}
	if t.Ssthresh > 0 && t.Ssthresh < 1<<30 {
		add("ssthresh:%d", t.Ssthresh)
	}
	if t.BytesSent > 0 {
		add("bytes_sent:%d", t.BytesSent)
	}
	if t.BytesReceived > 0 {
		add("bytes_received:%d", t.BytesReceived)
	}
	add("segs_out:%d segs_in:%d", t.SegsOut, t.SegsIn)
	if t.Windows && t.Unacked > 0 {
		add("unacked:%d", t.Unacked)
	}
	if t.RetransOut > 0 || t.Retrans > 0 {
		add("retrans:%d/%d", t.RetransOut, t.Retrans)
	}
	if t.Timeouts > 0 {
		add("timeouts:%d", t.Timeouts)
	}
	if t.CAState != "" && t.CAState != "Open" {
		add("ca_state:%s", t.CAState)
	}
	if t.Windows {
		add("snd_wnd:%d rcv_wnd:%d", t.SndWnd, t.RcvWnd)
	}
	return b.String()
}

// ms prints a duration in milliseconds the way ss does: up to three
// decimals, trailing zeros dropped.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Round(time.Microsecond))/float64(time.Millisecond), 'f', -1, 64)
}

// RenderCounters writes a stack's counters under the table, one per line
// in name order, leaving out zeros; nothing when all are zero.
func RenderCounters(w io.Writer, counters map[string]uint64) error {
	names := make([]string, 0, len(counters))
	for k, v := range counters {
		if v != 0 {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("\nCounters:\n")
	for _, k := range names {
		fmt.Fprintf(&b, "  %-48s %d\n", k, counters[k])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
