package conformance

import (
	"strings"
	"time"
)

// Role is the side of the implementation under test.
type Role int

const (
	// Both marks a case that runs against servers and clients alike.
	Both Role = iota
	// Server is a server under test: the harness plays the client.
	Server
	// Client is a client under test: the harness plays the server.
	Client
)

func (r Role) String() string {
	switch r {
	case Server:
		return "server"
	case Client:
		return "client"
	}
	return "both"
}

// Verdict is a case outcome, named as Autobahn's reports name them.
type Verdict string

const (
	OK            Verdict = "OK"
	NonStrict     Verdict = "NON-STRICT"
	Informational Verdict = "INFORMATIONAL"
	Failed        Verdict = "FAILED"
	// Close verdicts besides OK, FAILED and INFORMATIONAL.
	WrongCode      Verdict = "WRONG CODE"
	Unclean        Verdict = "UNCLEAN"
	FailedByClient Verdict = "FAILED BY CLIENT"
	NoClose        Verdict = "NO CLOSE"
)

// rank orders verdicts from best to worst.
func (v Verdict) rank() int {
	switch v {
	case OK, "":
		return 0
	case Informational:
		return 1
	case NonStrict:
		return 2
	}
	return 3
}

// Summary folds v into one of OK, NON-STRICT, INFORMATIONAL and FAILED.
func (v Verdict) Summary() Verdict {
	switch v.rank() {
	case 0:
		return OK
	case 1:
		return Informational
	case 2:
		return NonStrict
	}
	return Failed
}

// CloseExpect says how a case's connection should end.
type CloseExpect struct {
	// ByPeer: the peer must close first, failing the connection with a
	// close frame (Autobahn's closedByMe false). Otherwise the harness
	// closes once the expected events have arrived, unless the case
	// already sent a close frame.
	ByPeer bool
	// Codes are the codes that make the peer's close frame OK; empty
	// means 1000.
	Codes []int
	// NonStrictCodes are codes that are acceptable but not strict.
	NonStrictCodes []int
	// NoCode allows a close frame without a code in reply to the
	// harness's empty close frame (RFC 6455 §7.1.5).
	NoCode bool
}

// Case is one test: a script of what the harness sends, the events it
// expects back and how the connection must end.
type Case struct {
	ID          string // "1.1.1"; Autobahn's numbering where it has the case
	Description string
	Expectation string
	// For restricts the case to servers or clients under test.
	For Role
	// Extra marks a case that Autobahn does not have.
	Extra bool
	// Heavy cases move megabytes; they run one at a time.
	Heavy bool
	// Informational cases are reported, never failed (Autobahn 7.1.6,
	// 7.13.x: the RFC leaves the outcome open).
	Informational bool
	// Expect maps OK and NON-STRICT to the events that earn them.
	Expect map[Verdict][]Event
	Close  CloseExpect
	// Timeout bounds waiting for the expected events; 0 means
	// Options.FailTimeout.
	Timeout time.Duration

	// Run sends what the case sends, after the opening handshake.
	Run func(t *Exchange)
	// Handshake, when set, replaces the opening handshake and Run: the
	// case talks HTTP itself and returns its verdict.
	Handshake func(h *HandshakeExchange) (Verdict, string)
	// Subprotocols are offered by a client under test (handshake cases).
	Subprotocols []string
	// Deflate, when set, is offered by the harness as a client, which
	// then compresses what it sends and inflates what it receives
	// (groups 12 and 13).
	Deflate *Deflate
}

// Group returns the first number of the ID: "6" for "6.4.1".
func (c *Case) Group() string {
	g, _, _ := strings.Cut(c.ID, ".")
	return g
}

// appliesTo reports whether the case runs against role.
func (c *Case) appliesTo(r Role) bool { return c.For == Both || c.For == r }

// GroupNames are the case groups, as Autobahn names them; group 0 holds the
// opening handshake cases Autobahn lacks.
var GroupNames = map[string]string{
	"0":  "Opening handshake",
	"1":  "Framing",
	"2":  "Pings/Pongs",
	"3":  "Reserved bits",
	"4":  "Opcodes",
	"5":  "Fragmentation",
	"6":  "UTF-8 handling",
	"7":  "Close handling",
	"9":  "Limits/performance",
	"10": "Misc",
	"12": "WebSocket compression (different payloads)",
	"13": "WebSocket compression (different parameters)",
}

// Exchange is what a case's Run uses to talk to the peer.
type Exchange struct {
	s      *session
	opts   *Options
	expect map[Verdict][]Event
}

// Expect sets the events that earn verdict v (OK or NON-STRICT) for this
// run, replacing Case.Expect's entry; cases whose payloads are large build
// them in Run and say what they expect here.
func (t *Exchange) Expect(v Verdict, events ...Event) { t.expect[v] = events }

// Client reports whether the harness plays the client (the peer is a
// server under test).
func (t *Exchange) Client() bool { return t.s.client }

// Send writes the frames in one write, "in one chop".
func (t *Exchange) Send(frames ...Frame) { t.write(frames, 0, 0) }

// SendEach writes each frame with its own write ("frame-wise").
func (t *Exchange) SendEach(frames ...Frame) {
	for _, f := range frames {
		t.write([]Frame{f}, 0, 0)
	}
}

// SendChopped writes the frames in writes of chop bytes.
func (t *Exchange) SendChopped(chop int, frames ...Frame) { t.write(frames, chop, 0) }

// SendOctets writes the frames one byte per write, with the configured
// delay between bytes ("octet-wise chops").
func (t *Exchange) SendOctets(frames ...Frame) { t.write(frames, 1, t.opts.OctetDelay) }

func (t *Exchange) write(frames []Frame, chop int, delay time.Duration) {
	isClose := false
	for _, f := range frames {
		// A well-formed close frame starts the harness's closing
		// handshake; a malformed one (reserved bits, no FIN) does not,
		// as in Autobahn.
		if f.Opcode == OpClose && f.Fin && f.Rsv == 0 {
			isClose = true
		}
	}
	t.s.write(Encode(t.s.client, frames...), chop, delay, isClose)
}

// Write writes raw bytes, chopped as asked (0: one write).
func (t *Exchange) Write(b []byte, chop int) { t.s.write(b, chop, 0, false) }

// Sleep pauses the script.
func (t *Exchange) Sleep(d time.Duration) { time.Sleep(d) }

// Quiet pauses for the configured quiet period: long enough for a peer
// to react to what was sent.
func (t *Exchange) Quiet() { time.Sleep(t.opts.Quiet) }

// Mark records a marker event, such as Autobahn's "timeout A".
func (t *Exchange) Mark(name string) { t.s.addEvent(Mark(name)) }

// Open reports whether the peer has neither sent a close frame nor ended
// TCP nor broken the protocol.
func (t *Exchange) Open() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return !t.s.peerDone()
}

// WaitPeerClose waits up to the configured fail timeout for the peer to
// close and reports whether it did.
func (t *Exchange) WaitPeerClose() bool {
	return t.s.wait(t.opts.FailTimeout, t.s.peerDone)
}

// WaitFailFast waits up to the configured fail-fast time for the peer to
// close and reports whether it did.
func (t *Exchange) WaitFailFast() bool {
	return t.s.wait(t.opts.FailFast, t.s.peerDone)
}

// WaitEvents waits up to the configured fail timeout until n events have
// arrived or the peer has closed.
func (t *Exchange) WaitEvents(n int) bool {
	return t.s.wait(t.opts.FailTimeout, func() bool { return len(t.s.events) >= n || t.s.peerDone() })
}
