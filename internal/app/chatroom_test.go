package app

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/ws"
)

// smallSendBuf wraps a listener so that every accepted TCP connection has
// a small send buffer: what a member does not read stays in the room
// rather than in the kernel.
type smallSendBuf struct{ net.Listener }

func (l smallSendBuf) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestChatRoomSharesLines: a line is kept once for every member. Forty
// members that read nothing fall behind together while one member talks;
// the room holds less than the limit and a line, the process's heap grows
// by about that much (not by forty times it, as one copy per member
// would), and every silent member is dropped with 1008 once it is the
// limit behind, while the talker hears every line.
func TestChatRoomSharesLines(t *testing.T) {
	const (
		limit  = 512 << 10
		line   = 16 << 10
		silent = 40
	)
	h := &Handlers{ChatQueueLimit: limit}
	ctx, dial := serveChat(t, h, func(l net.Listener) net.Listener { return smallSendBuf{l} })
	talker := dial(1 << 20)
	// The server joins a member to the room after its 101: the talker
	// is in the room before the others come, and hears their joins.
	for h.room.size() < 1 {
		time.Sleep(time.Millisecond)
	}
	var quiet []*ws.Conn
	for range silent {
		quiet = append(quiet, dial(4096))
	}
	for h.room.size() < silent+1 {
		time.Sleep(time.Millisecond)
	}
	// The joins are lines too: the talker reads them all.
	for joins := 0; joins < silent; {
		if _, p, err := talker.ReadMessage(ctx); err != nil {
			t.Fatal(err)
		} else if strings.HasPrefix(string(p), "* ") {
			joins++
		}
	}

	var before, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pad := strings.Repeat("x", line)
	maxHeld := 0
	for sent := 0; h.room.size() > 1; sent++ {
		if sent == 2000 {
			t.Fatalf("%d members still in the chat after %d lines", h.room.size(), sent)
		}
		msg := fmt.Sprintf("%d %s", sent, pad)
		say(t, ctx, talker, msg)
		held := h.room.heldBytes()
		if held >= limit+len(msg)+64 {
			t.Fatalf("the room holds %d bytes of lines, limit %d and a line", held, limit)
		}
		if held > maxHeld && held > limit-2*line {
			// The silent members are as far behind as they get: the
			// heap now holds what they have yet to be sent.
			maxHeld = held
			runtime.GC()
			runtime.ReadMemStats(&peak)
		}
	}
	if maxHeld == 0 {
		t.Fatalf("the silent members were dropped before they were %d bytes behind", limit-2*line)
	}
	grew := int64(peak.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("room held %d bytes; heap grew by %d bytes for %d silent members", maxHeld, grew, silent)
	if grew > 3*limit {
		t.Errorf("the heap grew by %d bytes with %d bytes of lines held: lines are copied per member", grew, maxHeld)
	}
	for i, c := range quiet {
		for {
			_, _, err := c.ReadMessage(ctx)
			if err == nil {
				continue
			}
			if ws.CloseStatus(err) != ws.StatusPolicyViolation {
				t.Fatalf("silent member %d: %v, want close 1008", i, err)
			}
			break
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := map[string]uint64{}
		h.ends.counters(m)
		if m[endBehind] == silent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ends counted %v, want %d of %q", m, silent, endBehind)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A member with exactly limit bytes of lines unsent is dropped when the
// next line comes, and one a byte short of it is not; the lines only the
// dropped member needed are let go.
func TestChatRoomLimitEdge(t *testing.T) {
	t.Parallel()
	r := &chatRoom{limit: 100, members: map[*ws.Conn]*chatMember{}}
	c := new(ws.Conn) // never written to: its writer counts as running
	m := &chatMember{c: c, writing: true}
	r.members[c] = m
	for _, n := range []int{60, 39, 1} {
		if failed := r.broadcast(make([]byte, n)); len(failed) != 0 {
			t.Fatalf("dropped at %d bytes behind, under the limit of %d", r.end-int64(n), r.limit)
		}
	}
	if held := r.heldBytes(); held != 100 {
		t.Fatalf("the room holds %d bytes, want 100", held)
	}
	failed := r.broadcast(make([]byte, 5))
	if len(failed) != 1 || failed[0] != m || !m.gone || r.size() != 0 {
		t.Fatalf("at the limit: failed %v, member gone %v, %d members; want it dropped", failed, m.gone, r.size())
	}
	if held := r.heldBytes(); held != 0 {
		t.Errorf("the room holds %d bytes with no member left", held)
	}
}

// gatedListener hands out connections whose writes can be stopped at a
// gate, and counts them.
type gatedListener struct {
	net.Listener
	conns chan *gatedConn
}

func (l gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g := &gatedConn{Conn: c, open: make(chan struct{})}
	l.conns <- g
	return g, nil
}

type gatedConn struct {
	net.Conn
	shut    atomic.Bool // writes wait for open
	waiting atomic.Bool // a write waits
	open    chan struct{}
	writes  atomic.Int64
}

func (g *gatedConn) Write(p []byte) (int, error) {
	if g.shut.Load() {
		g.waiting.Store(true)
		<-g.open
	}
	g.writes.Add(1)
	return g.Conn.Write(p)
}

// TestChatRoomCatchesUp: a member whose writer was held up while 200
// lines came is sent them in a few writes, not one per line, in order.
func TestChatRoomCatchesUp(t *testing.T) {
	t.Parallel()
	h := &Handlers{}
	conns := make(chan *gatedConn, 4)
	ctx, dial := serveChat(t, h, func(l net.Listener) net.Listener { return gatedListener{l, conns} })
	talker := dial(0)
	<-conns
	for h.room.size() < 1 {
		time.Sleep(time.Millisecond)
	}
	slow := dial(0)
	gate := <-conns
	if _, p, err := slow.ReadMessage(ctx); err != nil || !strings.HasSuffix(string(p), " joined") {
		t.Fatalf("the member's first line: %q, %v; want its join", p, err)
	}
	gate.shut.Store(true)
	say := func(i int) string {
		msg := fmt.Sprint("line ", i)
		if err := talker.WriteMessage(ctx, ws.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		return msg
	}
	var said []string
	said = append(said, say(0))
	for !gate.waiting.Load() {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < 200; i++ {
		said = append(said, say(i))
	}
	// The talker hears every line back: all 200 are in the room.
	for heard := 0; heard < len(said); {
		if _, p, err := talker.ReadMessage(ctx); err != nil {
			t.Fatal(err)
		} else if strings.Contains(string(p), ": line ") {
			heard++
		}
	}
	before := gate.writes.Load()
	close(gate.open)
	for i, want := range said {
		_, p, err := slow.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, got, _ := strings.Cut(string(p), ": "); got != want {
			t.Fatalf("line %d: %q, want %q", i, p, want)
		}
	}
	if n := gate.writes.Load() - before; n > 4 {
		t.Errorf("%d writes for 200 lines that waited, want at most 4 (the one held, then batches)", n)
	}
}

// say sends msg to the chat from talker and waits until the room sends it
// back ("NAME: msg"), so that every member has been handed it.
func say(t testing.TB, ctx context.Context, talker *ws.Conn, msg string) {
	t.Helper()
	if err := talker.WriteMessage(ctx, ws.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	for {
		_, p, err := talker.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("the talker after %.20q: %v", msg, err)
		}
		if _, got, _ := strings.Cut(string(p), ": "); got == msg {
			return
		}
	}
}
