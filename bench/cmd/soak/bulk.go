package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// bulk runs transfers of 256 KiB to 4 MiB until ctx ends, to TCP echo
// (port 7: everything written comes back; SHA-256 compared) or discard
// (port 9: everything written is read to EOF by serve, which then
// closes); one in five from the RST address.
func (e *env) bulk(ctx context.Context, rng *rand.Rand, echo bool) {
	kind, port := kindDiscard, 9
	if echo {
		kind, port = kindBulk, 7
	}
	for ctx.Err() == nil {
		fs := e.phases.current()
		src := fs.addr
		if rng.IntN(5) == 0 {
			src = rstAddr
		}
		size := 256<<10 + rng.IntN(4<<20-256<<10)
		e.transfer(ctx, rng, kind, src, port, size, fs.name)
	}
}

// bulkRate bounds each transfer's writes, in bytes per second.
const bulkRate = 4 << 20

func (e *env) transfer(ctx context.Context, rng *rand.Rand, kind string, src netip.Addr, port, size int, phase string) {
	c, err := dialer(src).DialContext(ctx, "tcp", net.JoinHostPort(stackAddr.String(), strconv.Itoa(port)))
	if err != nil {
		if !stopping(ctx) {
			e.connEnded(kind, src, err, 0, fmt.Sprintf("dial :%d from %v", port, src))
		}
		return
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	detail := fmt.Sprintf("%v -> :%d, %d bytes (faults: %s)", c.LocalAddr(), port, size, phase)
	t := e.stats.track(kind, detail, c.LocalAddr().String())
	defer t.done()
	t.waiting(true)
	c.SetDeadline(time.Now().Add(5 * time.Minute))

	seed1, seed2 := rng.Uint64(), rng.Uint64()
	sent := sha256.New()
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		wrng := rand.New(rand.NewPCG(seed1, seed2))
		buf := make([]byte, 32<<10)
		start := time.Now()
		for left := size; left > 0; {
			// Paced: the machine is shared, and a stall shows at any rate.
			if ahead := time.Duration(float64(size-left)/bulkRate*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
			n := min(len(buf), left)
			fill(wrng, buf[:n])
			sent.Write(buf[:n])
			if _, werr = c.Write(buf[:n]); werr != nil {
				return
			}
			left -= n
			t.progress()
		}
		werr = tc.CloseWrite()
	}()
	got := sha256.New()
	var n int64
	var rerr error
	buf := make([]byte, 64<<10)
	for {
		m, err := c.Read(buf)
		if m > 0 {
			got.Write(buf[:m])
			n += int64(m)
			t.progress()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if rerr != nil {
		c.Close() // ends the writer too
	}
	wg.Wait()
	switch {
	case rerr != nil:
		e.connEnded(kind, src, rerr, 0, detail)
		return
	case werr != nil:
		e.connEnded(kind, src, werr, 0, detail+": write")
		return
	}
	if kind == kindBulk {
		if n != int64(size) {
			e.stats.fail(kind, "wrong length", fmt.Sprintf("%s: %d bytes came back", detail, n))
			return
		}
		if !bytes.Equal(sent.Sum(nil), got.Sum(nil)) {
			e.stats.fail(kind, "corrupt", detail+": SHA-256 of what came back differs")
			return
		}
		e.stats.op(kind, 2*size)
		return
	}
	if n != 0 {
		e.stats.fail(kind, "unexpected data", fmt.Sprintf("%s: discard sent %d bytes", detail, n))
		return
	}
	e.stats.op(kind, size)
}

// udp sends datagrams with a sequence number and a checksum to the UDP
// echo, eight in flight, from the fault set in force (a new socket per
// set). A datagram not back within udpLost is lost; one back twice is
// duplicated. Under a lossy fault set both are accounted for by the
// faults; with none, they are failures. A corrupt datagram always is.
const udpLost = 2 * time.Second

func (e *env) udp(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		fs := e.phases.current()
		e.udpSession(ctx, rng, fs)
	}
}

func (e *env) udpSession(ctx context.Context, rng *rand.Rand, fs faultSet) {
	pc, err := net.DialUDP("udp", &net.UDPAddr{IP: fs.addr.AsSlice()}, &net.UDPAddr{IP: stackAddr.AsSlice(), Port: 8080})
	if err != nil {
		e.stats.fail(kindUDP, "socket", err.Error())
		time.Sleep(time.Second)
		return
	}
	defer pc.Close()
	detail := fmt.Sprintf("%v (faults: %s)", pc.LocalAddr(), fs.name)
	t := e.stats.track(kindUDP, detail)
	defer t.done()
	lost := func(n int) {
		if fs.lossy {
			e.stats.byKind[kindUDP].mu.Lock()
			e.stats.byKind[kindUDP].notes["lost under faults"] += uint64(n)
			e.stats.byKind[kindUDP].mu.Unlock()
		} else {
			for range n {
				e.stats.fail(kindUDP, "lost", detail)
			}
		}
	}
	var (
		mu   sync.Mutex
		out  = map[uint64]time.Time{} // in flight, by sequence number
		done = map[uint64]bool{}
		cond = sync.NewCond(&mu)
	)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := pc.Read(buf)
			if err != nil {
				mu.Lock()
				cond.Broadcast()
				mu.Unlock()
				return
			}
			b := buf[:n]
			if n < msgHeader || crc32.ChecksumIEEE(b[msgHeader:]) != binary.BigEndian.Uint32(b[8:]) {
				e.stats.fail(kindUDP, "corrupt", fmt.Sprintf("%s: %d bytes", detail, n))
				continue
			}
			seq := binary.BigEndian.Uint64(b)
			mu.Lock()
			switch {
			case done[seq] && fs.lossy:
				e.stats.note(kindUDP, "duplicated under faults")
			case done[seq]:
				e.stats.fail(kindUDP, "duplicated", fmt.Sprintf("%s: datagram %d", detail, seq))
			default:
				if _, ok := out[seq]; ok {
					delete(out, seq)
					done[seq] = true
					e.stats.op(kindUDP, n)
					t.progress()
				} else {
					// Already counted as lost: late, not lost.
					done[seq] = true
					e.stats.note(kindUDP, "late (counted lost)")
				}
			}
			cond.Broadcast()
			mu.Unlock()
		}
	}()
	sweep := func(now time.Time) {
		n := 0
		for seq, at := range out {
			if now.Sub(at) > udpLost {
				delete(out, seq)
				done[seq] = true
				n++
			}
		}
		if n > 0 {
			lost(n)
		}
	}
	const window = 8
	t.waiting(true)
	for seq := uint64(0); ctx.Err() == nil && e.phases.current().name == fs.name; seq++ {
		b := make([]byte, msgHeader+rng.IntN(1400-msgHeader))
		binary.BigEndian.PutUint64(b, seq)
		fill(rng, b[msgHeader:])
		binary.BigEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[msgHeader:]))
		mu.Lock()
		for len(out) >= window {
			sweep(time.Now())
			if len(out) >= window {
				waitCond(cond, 100*time.Millisecond)
			}
		}
		out[seq] = time.Now()
		mu.Unlock()
		if _, err := pc.Write(b); err != nil {
			e.stats.fail(kindUDP, "send", detail+": "+err.Error())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The last ones: back, or lost.
	deadline := time.Now().Add(udpLost + 100*time.Millisecond)
	mu.Lock()
	for len(out) > 0 && time.Now().Before(deadline) {
		waitCond(cond, 100*time.Millisecond)
	}
	sweep(time.Now().Add(udpLost + time.Second))
	mu.Unlock()
}

// waitCond waits on c (its lock held) for at most d.
func waitCond(c *sync.Cond, d time.Duration) {
	t := time.AfterFunc(d, func() {
		c.L.Lock()
		c.Broadcast()
		c.L.Unlock()
	})
	c.Wait()
	t.Stop()
}

// churn opens short connections until ctx ends: a few WebSocket echoes
// closed cleanly, or abruptly with a RST or a FIN without a close frame; a
// few bytes of TCP echo closed or reset; a GET /. One in eight from the
// RST address.
func (e *env) churn(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		fs := e.phases.current()
		src := fs.addr
		if rng.IntN(8) == 0 {
			src = rstAddr
		}
		v := rng.IntN(6)
		if (v == 1 || v == 4) && fs.lossy && !e.idle && src != rstAddr {
			// A reset lost to the faults would leave serve a half-open
			// connection that nothing ends.
			src = hostAddr
		}
		detail := fmt.Sprintf("from %v (faults: %s)", src, fs.name)
		switch v {
		case 0, 1, 2:
			e.churnWS(ctx, rng, src, v, detail)
		case 3, 4:
			e.churnTCP(ctx, rng, src, v == 4, detail)
		case 5:
			e.churnGET(ctx, src, detail)
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	}
}

// churnWS: end 0 closes with the handshake, 1 resets (SO_LINGER 0), 2
// closes TCP without a close frame.
func (e *env) churnWS(ctx context.Context, rng *rand.Rand, src netip.Addr, end int, detail string) {
	c, _, err := wsDialer(src, rng.IntN(2) == 0).DialContext(ctx, wsURL+"/echo", nil)
	if err != nil {
		if !stopping(ctx) {
			e.connEnded(kindChurn, src, err, 0, "ws dial "+detail)
		}
		return
	}
	defer c.Close()
	t := e.stats.track(kindChurn, "ws "+c.LocalAddr().String()+" "+detail, c.LocalAddr().String())
	defer t.done()
	t.waiting(true)
	for seq := range uint64(1 + rng.IntN(5)) {
		m := makeMsg(rng, seq, false, rng.IntN(2000))
		c.SetWriteDeadline(time.Now().Add(e.ioWait))
		c.SetReadDeadline(time.Now().Add(e.ioWait))
		if err := c.WriteMessage(websocket.BinaryMessage, m); err != nil {
			e.connEnded(kindChurn, src, err, 1, "ws write "+detail)
			return
		}
		_, b, err := c.ReadMessage()
		if err != nil {
			e.connEnded(kindChurn, src, err, 1, "ws read "+detail)
			return
		}
		if got, cerr := checkMsg(b, false); cerr != nil || got != seq || len(b) != len(m) {
			e.stats.fail(kindChurn, "corrupt or reordered", fmt.Sprintf("ws %s: message %d: got %d, %v", detail, seq, got, cerr))
			return
		}
		e.stats.op(kindChurn, len(b))
		t.progress()
	}
	switch end {
	case 0:
		e.closeHandshake(kindChurn, c, src, t, "ws "+detail)
	case 1:
		e.stats.note(kindChurn, "reset by soak")
		c.UnderlyingConn().(*net.TCPConn).SetLinger(0)
	case 2:
		e.stats.note(kindChurn, "FIN without close frame")
	}
}

func (e *env) churnTCP(ctx context.Context, rng *rand.Rand, src netip.Addr, reset bool, detail string) {
	c, err := dialer(src).DialContext(ctx, "tcp", net.JoinHostPort(stackAddr.String(), "7"))
	if err != nil {
		if !stopping(ctx) {
			e.connEnded(kindChurn, src, err, 0, "tcp dial "+detail)
		}
		return
	}
	defer c.Close()
	t := e.stats.track(kindChurn, "tcp "+c.LocalAddr().String()+" "+detail, c.LocalAddr().String())
	defer t.done()
	t.waiting(true)
	c.SetDeadline(time.Now().Add(e.ioWait))
	p := make([]byte, 1+rng.IntN(4000))
	fill(rng, p)
	if _, err := c.Write(p); err != nil {
		e.connEnded(kindChurn, src, err, 0, "tcp write "+detail)
		return
	}
	if reset {
		e.stats.note(kindChurn, "reset by soak")
		c.(*net.TCPConn).SetLinger(0)
		return
	}
	got := make([]byte, len(p))
	if _, err := io.ReadFull(c, got); err != nil {
		e.connEnded(kindChurn, src, err, 0, "tcp read "+detail)
		return
	}
	if !bytes.Equal(got, p) {
		e.stats.fail(kindChurn, "corrupt", "tcp echo "+detail)
		return
	}
	e.stats.op(kindChurn, len(p))
}

func (e *env) churnGET(ctx context.Context, src netip.Addr, detail string) {
	tr := &http.Transport{DialContext: dialer(src).DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: e.ioWait}
	req, _ := http.NewRequestWithContext(ctx, "GET", httpURL+"/", nil)
	resp, err := cl.Do(req)
	if err != nil {
		if !stopping(ctx) {
			var ue interface{ Unwrap() error }
			if errors.As(err, &ue) {
				err = ue.Unwrap()
			}
			e.connEnded(kindChurn, src, err, 0, "GET / "+detail)
		}
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.connEnded(kindChurn, src, err, 0, "GET / body "+detail)
		return
	}
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<")) {
		e.stats.fail(kindChurn, "GET /: "+resp.Status, detail)
		return
	}
	e.stats.op(kindChurn, len(body))
}
