package main

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// A chat session: chatSenders members send numbered lines, one more
// member only listens, and one slow member, with a small receive buffer,
// stops reading until env.slowBacklog bytes have been sent to it and then
// reads at full speed for slowRead, over and over. The senders go fast
// until the server drops the slow member (its bounded queue overflows),
// then send a few more lines and an end line. Every member but the slow
// one must receive every line of every sender once, in each sender's
// order; the slow one must receive an unbroken prefix of each sender's
// lines and then be closed by serve.
//
// How the slow member is closed: serve's close frame (1008) goes after the
// write under way when the queue overflows, and that write is given the
// close timeout (5 s) to finish. A reader that resumes in time sees the
// lines, then 1008; one that has not read meanwhile cannot take that write,
// and sees the TCP connection end after the lines instead (1006, or a reset
// when serve closes with the member's pongs unread). A member paused past
// serve's keepalive is dropped by it first (1011). All are serve's drop; the
// summary counts each.
const (
	chatSenders   = 3
	chatListeners = 1
	chatLineSize  = 2 << 10
	// The fan-out rate stays well below what one connection carries under
	// the slowest fault set (delay 20 ms ± 10 ms reorders, and serve's Reno
	// then keeps about 10 segments in flight: about 280 KB/s), so that
	// only the slow member's queue overflows.
	chatFastPace     = 40 * time.Millisecond
	chatAfterDrop    = 20 // lines each sender sends after the slow member left
	slowBacklogStart = 2560 << 10
	slowMaxPause     = 40 * time.Second
	slowRead         = 2 * time.Second
	slowRcvBuf       = 64 << 10
	slowDropLimit    = 60 * time.Second // the slow member must be dropped within this
)

type chatSession struct {
	e        *env
	src      netip.Addr
	phase    string
	senders  map[string]bool // addresses of the senders as the server names them
	slowAddr atomic.Value    // string: the slow member's address, once it has one
	slowLeft chan struct{}
	leftOnce sync.Once
	closing  atomic.Bool   // soak is closing the session's connections itself
	stop     chan struct{} // closed with closing
	sent     atomic.Int64  // bytes of lines broadcast so far
}

type chatMember struct {
	s        *chatSession
	c        *websocket.Conn
	addr     string
	t        *tracker
	joined   chan struct{}
	finished chan struct{} // every sender's end line arrived (or the member failed)
	done     chan struct{} // the reader has ended
	// closeSent: soak has sent its close frame; the reader then expects
	// serve's 1000. Until then the reader goes on reading, so that serve's
	// keepalive pings are answered.
	closeSent atomic.Bool
	failed    atomic.Bool
	expect    map[string]uint64
	ended     map[string]bool
}

func (e *env) chat(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		fs := e.phases.current()
		s := &chatSession{e: e, src: fs.addr, phase: fs.name, senders: map[string]bool{}, slowLeft: make(chan struct{}), stop: make(chan struct{})}
		s.run(ctx, rng)
	}
}

func (s *chatSession) dial(ctx context.Context, slow bool) (*websocket.Conn, error) {
	d := wsDialer(s.src, false)
	if slow {
		nd := dialer(s.src)
		nd.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, slowRcvBuf)
			})
			return serr
		}
		d.NetDialContext = nd.DialContext
	}
	c, _, err := d.DialContext(ctx, wsURL+"/chat", nil)
	return c, err
}

func (s *chatSession) join(ctx context.Context) (*chatMember, bool) {
	c, err := s.dial(ctx, false)
	if err != nil {
		if !stopping(ctx) {
			s.e.connEnded(kindChat, s.src, err, 0, "dial /chat from "+s.src.String())
		}
		return nil, false
	}
	m := &chatMember{s: s, c: c, addr: c.LocalAddr().String(), joined: make(chan struct{}), finished: make(chan struct{}), done: make(chan struct{}),
		expect: map[string]uint64{}, ended: map[string]bool{}}
	m.t = s.e.stats.track(kindChat, fmt.Sprintf("/chat member %s (faults: %s)", m.addr, s.phase), m.addr)
	m.t.waiting(true)
	go m.read()
	return m, true
}

func (s *chatSession) run(ctx context.Context, rng *rand.Rand) {
	var members []*chatMember
	defer func() {
		if !s.closing.Load() {
			s.closing.Store(true)
			close(s.stop)
		}
		for _, m := range members {
			m.c.Close()
			<-m.done
			m.t.done()
		}
	}()
	for i := 0; i < chatSenders+chatListeners; i++ {
		m, ok := s.join(ctx)
		if !ok {
			return
		}
		members = append(members, m)
		if i < chatSenders {
			s.senders[m.addr] = true
		}
	}
	for _, m := range members {
		select {
		case <-m.joined:
		case <-m.finished:
			return
		case <-ctx.Done():
			return
		}
	}

	// The slow member joins once every other member is in.
	slow, err := s.dial(ctx, true)
	if err != nil {
		if !stopping(ctx) {
			s.e.connEnded(kindSlow, s.src, err, 0, "dial /chat from "+s.src.String())
		}
		return
	}
	slowJoined := make(chan struct{})
	slowDone := make(chan struct{})
	defer func() {
		s.closing.Store(true)
		close(s.stop)
		slow.Close()
		<-slowDone
	}()
	s.slowAddr.Store(slow.LocalAddr().String())
	go s.readSlow(slow, slowJoined, slowDone)
	select {
	case <-slowJoined:
	case <-slowDone:
		return
	case <-ctx.Done():
		return
	}

	// The senders.
	var wg sync.WaitGroup
	deadline := time.Now().Add(slowDropLimit)
	for i := 0; i < chatSenders; i++ {
		m := members[i]
		pad := make([]byte, chatLineSize)
		for j := range pad {
			pad[j] = 'a' + byte(rng.IntN(26))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.send(ctx, pad, deadline)
		}()
	}
	wg.Wait()
	select {
	case <-s.slowLeft:
	default:
		if !stopping(ctx) {
			s.e.stats.fail(kindSlow, "not dropped", fmt.Sprintf("slow member %s still a member after %v of fan-out (faults: %s)", s.slowAddr.Load(), slowDropLimit, s.phase))
		}
	}
	for _, m := range members {
		select {
		case <-m.finished:
		case <-ctx.Done():
			return
		}
	}
	select {
	case <-slowDone:
	case <-time.After(time.Minute):
		s.e.stats.fail(kindSlow, "stalled", fmt.Sprintf("slow member %s: no close within a minute of its drop", s.slowAddr.Load()))
	}
	for _, m := range members {
		if m.failed.Load() {
			continue
		}
		m.t.waiting(true)
		m.closeSent.Store(true)
		if err := m.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(10*time.Second)); err != nil {
			s.e.connEnded(kindChat, s.src, err, 0, "/chat member "+m.addr+": close")
		}
	}
	for _, m := range members {
		<-m.done
	}
}

// send sends numbered lines, fast until the slow member has left (or the
// deadline), then chatAfterDrop more, then the end line.
func (m *chatMember) send(ctx context.Context, pad []byte, deadline time.Time) {
	var seq uint64
	after := -1
	tick := time.NewTicker(chatFastPace)
	defer tick.Stop()
	for after < chatAfterDrop {
		select {
		case <-ctx.Done():
			return
		case <-m.finished:
			return
		case <-tick.C:
		}
		if after < 0 {
			select {
			case <-m.s.slowLeft:
				after = 0
			default:
				if time.Now().After(deadline) {
					after = 0
				}
			}
		} else {
			after++
		}
		p := pad[:len(pad)/2+int(seq%uint64(len(pad)/2))]
		line := fmt.Sprintf("soak %d %08x %s", seq, crc32.ChecksumIEEE(p), p)
		m.c.SetWriteDeadline(time.Now().Add(m.s.e.ioWait))
		if err := m.c.WriteMessage(websocket.TextMessage, []byte(line)); err != nil {
			m.s.e.connEnded(kindChat, m.s.src, err, 0, "/chat sender "+m.addr)
			return
		}
		seq++
		m.s.sent.Add(int64(len(line) + len(m.addr) + 2))
	}
	m.c.WriteMessage(websocket.TextMessage, []byte("soak end "+strconv.FormatUint(seq, 10)))
}

// parseLine splits a broadcast line "FROM: soak SEQ CRC PAD" or
// "FROM: soak end N"; control lines ("* ...") give ok false.
func parseLine(b []byte) (from string, seq uint64, end bool, err error, ok bool) {
	line := string(b)
	if strings.HasPrefix(line, "* ") {
		return "", 0, false, nil, false
	}
	from, rest, found := strings.Cut(line, ": ")
	if !found || !strings.HasPrefix(rest, "soak ") {
		return from, 0, false, fmt.Errorf("malformed line %.40q", line), true
	}
	rest = rest[len("soak "):]
	if n, found := strings.CutPrefix(rest, "end "); found {
		seq, perr := strconv.ParseUint(n, 10, 64)
		return from, seq, true, perr, true
	}
	f := strings.SplitN(rest, " ", 3)
	if len(f) != 3 {
		return from, 0, false, fmt.Errorf("malformed line %.40q", line), true
	}
	seq, perr := strconv.ParseUint(f[0], 10, 64)
	crc, cerr := strconv.ParseUint(f[1], 16, 32)
	if perr != nil || cerr != nil {
		return from, seq, false, fmt.Errorf("malformed line %.40q", line), true
	}
	if crc32.ChecksumIEEE([]byte(f[2])) != uint32(crc) {
		return from, seq, false, fmt.Errorf("checksum mismatch in line %d from %s", seq, from), true
	}
	return from, seq, false, nil, true
}

func (m *chatMember) read() {
	defer close(m.done)
	finished := false
	finish := func() {
		if !finished {
			finished = true
			close(m.finished)
		}
	}
	defer finish()
	joined := false
	for {
		m.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		_, b, err := m.c.ReadMessage()
		if err != nil {
			m.t.waiting(false)
			switch {
			case m.closeSent.Load() && websocket.IsCloseError(err, websocket.CloseNormalClosure):
			case m.s.closing.Load():
			default:
				m.failed.Store(true)
				m.s.e.connEnded(kindChat, m.s.src, err, 0, "/chat member "+m.addr)
			}
			return
		}
		m.t.progress()
		from, seq, end, perr, ok := parseLine(b)
		if !ok {
			line := string(b)
			if line == "* "+m.addr+" joined" && !joined {
				joined = true
				close(m.joined)
			}
			if sa, _ := m.s.slowAddr.Load().(string); sa != "" && line == "* "+sa+" left" {
				m.s.leftOnce.Do(func() { close(m.s.slowLeft) })
			}
			continue
		}
		detail := fmt.Sprintf("/chat member %s, from %s (faults: %s)", m.addr, from, m.s.phase)
		switch {
		case perr != nil:
			m.s.e.stats.fail(kindChat, "corrupt", detail+": "+perr.Error())
		case !m.s.senders[from]:
			m.s.e.stats.fail(kindChat, "unknown sender", detail)
		case m.ended[from]:
			m.s.e.stats.fail(kindChat, "after the end line", fmt.Sprintf("%s: line %d", detail, seq))
		case end:
			if m.expect[from] != seq {
				m.s.e.stats.fail(kindChat, "lost", fmt.Sprintf("%s: %d lines of %d arrived", detail, m.expect[from], seq))
			}
			m.ended[from] = true
		case seq < m.expect[from]:
			m.s.e.stats.fail(kindChat, "duplicated", fmt.Sprintf("%s: line %d again, wanted %d", detail, seq, m.expect[from]))
		case seq > m.expect[from]:
			m.s.e.stats.fail(kindChat, "lost or reordered", fmt.Sprintf("%s: line %d, wanted %d", detail, seq, m.expect[from]))
			m.expect[from] = seq + 1
		default:
			m.expect[from]++
			m.s.e.stats.op(kindChat, len(b))
		}
		if len(m.ended) == chatSenders && !finished {
			m.t.waiting(false)
			finish()
		}
	}
}

// readSlow reads the slow member's lines, one per slowPace until the
// server has dropped it, and checks what it got and how it ended.
func (s *chatSession) readSlow(c *websocket.Conn, joined, done chan struct{}) {
	defer close(done)
	slowAddr := c.LocalAddr().String()
	expect := map[string]uint64{}
	isJoined := false
	lines := 0
	readUntil := time.Now().Add(slowRead)
	paused := false
	var piled int64 // what was sent to it in its last pause
	for {
		c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		_, b, err := c.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				s.e.stats.op(kindSlow, 0)
				s.e.stats.note(kindSlow, "closed 1008 (queue full)")
				return
			}
			if s.closing.Load() {
				return
			}
			// The other members see it leave when serve is done with it.
			select {
			case <-s.slowLeft:
				if websocket.IsCloseError(err, websocket.CloseAbnormalClosure) || errors.Is(err, syscall.ECONNRESET) {
					// Resumed too late: pause less next time.
					// serve's close is a reset when the
					// member's pongs were still unread.
					s.e.pauseLess()
					s.e.stats.op(kindSlow, 0)
					s.e.stats.note(kindSlow, "dropped, TCP closed before 1008 could be written (1006 or reset)")
					return
				}
				if websocket.IsCloseError(err, websocket.CloseInternalServerErr) && strings.Contains(err.Error(), "keepalive") {
					// Paused past serve's keepalive: its
					// pong was behind the unread lines.
					s.e.pauseLess()
					s.e.stats.op(kindSlow, 0)
					s.e.stats.note(kindSlow, "dropped by serve's keepalive first (1011)")
					return
				}
			case <-time.After(10 * time.Second):
			}
			s.e.stats.fail(kindSlow, "ended without 1008", fmt.Sprintf("slow member %s after %d lines (faults: %s): %v", slowAddr, lines, s.phase, err))
			return
		}
		from, seq, end, perr, ok := parseLine(b)
		if !ok {
			if string(b) == "* "+slowAddr+" joined" && !isJoined {
				isJoined = true
				close(joined)
			}
		} else {
			detail := fmt.Sprintf("slow member %s, from %s (faults: %s)", slowAddr, from, s.phase)
			switch {
			case perr != nil:
				s.e.stats.fail(kindSlow, "corrupt", detail+": "+perr.Error())
			case end:
				s.e.stats.fail(kindSlow, "not dropped", detail+": the end line arrived")
			case seq != expect[from]:
				s.e.stats.fail(kindSlow, "lost or reordered", fmt.Sprintf("%s: line %d, wanted %d", detail, seq, expect[from]))
				expect[from] = seq + 1
			default:
				expect[from]++
				lines++
				s.e.stats.addBytes(kindSlow, len(b))
			}
		}
		if time.Now().After(readUntil) {
			if paused {
				// Read it all without being dropped: let more pile up.
				s.e.slowKept = max(s.e.slowKept, piled)
				s.e.slowBacklog += s.e.slowBacklog / 10
			}
			paused = true
			start, deadline := s.sent.Load(), time.Now().Add(slowMaxPause)
			for s.sent.Load()-start < s.e.slowBacklog && time.Now().Before(deadline) {
				select {
				case <-time.After(50 * time.Millisecond):
				case <-s.slowLeft:
					// Dropped: read what is left, then the close.
					deadline = time.Now()
				case <-s.stop:
					return
				}
			}
			piled = s.sent.Load() - start
			readUntil = time.Now().Add(slowRead)
		}
	}
}

// pauseLess shortens the slow member's pauses after one that it resumed
// from too late to read serve's 1008, but never to slowKept, which served
// no drop.
func (e *env) pauseLess() {
	e.slowBacklog = max(e.slowBacklog-e.slowBacklog/10, e.slowKept+e.slowKept/10)
}
