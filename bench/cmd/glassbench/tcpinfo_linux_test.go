package main

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestSenderTCPInfo: a discard transfer over loopback reports the client
// socket's round trips; a connection that is not a kernel socket reports
// nothing.
func TestSenderTCPInfo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		c.Write(b[:])
	}()
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", l.Addr().String())
	}
	var info senderInfo
	if _, err := bulkInfo(dial, 8<<20, false, &info); err != nil {
		t.Fatal(err)
	}
	if !info.OK || info.MinRTT <= 0 || info.SRTT <= 0 || info.MinRTT > time.Second || info.SRTT > time.Second {
		t.Errorf("senderInfo %+v: want a lowest and a smoothed round trip between zero and a second", info)
	}
	if info.RwndLimited < 0 || info.RwndLimited > 1 {
		t.Errorf("receive-window-limited share %v, want 0 to 1", info.RwndLimited)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := senderTCPInfo(a); got.OK {
		t.Errorf("senderTCPInfo(net.Pipe) = %+v, want nothing", got)
	}
}

// TestSpreadMedians: the medians are over the transfers that reported.
func TestSpreadMedians(t *testing.T) {
	v := []senderInfo{
		{OK: true, MinRTT: 10 * time.Microsecond, SRTT: 300 * time.Microsecond, RwndLimited: 0.1},
		{},
		{OK: true, MinRTT: 30 * time.Microsecond, SRTT: 100 * time.Microsecond, RwndLimited: 0.5},
		{OK: true, MinRTT: 20 * time.Microsecond, SRTT: 200 * time.Microsecond, RwndLimited: 0.2},
	}
	m := spreadOf(v)
	if m.N != 3 || m.MinRTT != 20*time.Microsecond || m.SRTT != 200*time.Microsecond || m.RwndLimited != 0.2 {
		t.Errorf("spreadOf = %+v; want 20 µs / 200 µs, 0.2, from 3 reports", m)
	}
	if got := m.windowString(); got != "20 µs / 200 µs, 20%" {
		t.Errorf("windowString() = %q", got)
	}
	if n := spreadOf([]senderInfo{{}}).N; n != 0 {
		t.Errorf("spreadOf of no reports counted %d", n)
	}
	if got := spreadOf(nil).windowString(); got != "-" {
		t.Errorf("windowString() of no reports = %q, want -", got)
	}
}

func TestSpreadOf(t *testing.T) {
	var v []senderInfo
	for i := 1; i <= 200; i++ {
		v = append(v, senderInfo{OK: true, MinRTT: time.Duration(i) * time.Microsecond, SRTT: time.Duration(10*i) * time.Microsecond})
	}
	v = append(v, senderInfo{}) // a socket that did not report
	r := spreadOf(v)
	if r.N != 200 || r.MinRTT != 100500*time.Nanosecond || r.SRTT != 1005*time.Microsecond || r.SRTT99 != 1990*time.Microsecond {
		t.Errorf("spreadOf = %+v; want 200 reports, medians 100.5 µs and 1005 µs, 99th percentile 1990 µs", r)
	}
	if got := r.String(); got != "100 µs / 1.0 ms, p99 2.0 ms" {
		t.Errorf("String() = %q", got)
	}
	if r := spreadOf(nil); r.N != 0 || r.String() != "-" {
		t.Errorf("spreadOf(nil) = %+v, %q", r, r.String())
	}
}
