package conformance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// maxReadFrame bounds the frames the harness reads from a peer.
const maxReadFrame = 64 << 20

// session is the harness's side of one WebSocket connection after the
// opening handshake. A reader goroutine records what the peer sends,
// answers pings and close frames as Autobahn's fuzzer does, and notes how
// TCP ended.
type session struct {
	nc     net.Conn
	br     *bufio.Reader
	client bool // the harness plays the client

	wmu sync.Mutex // held for each write, so frames never interleave

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	events    []Event
	violation string // first protocol violation by the peer

	closeSent      bool // the harness sent a close frame
	closeRecv      bool // the peer sent a close frame
	peerCloseFirst bool // the peer's close frame came before the harness's
	closeCode      int  // code in the peer's close frame, -1 for none
	closeReason    string

	tcpEnd       string // "" while open; "fin", "reset", "local" or an error
	peerEndFirst bool   // the peer ended TCP before the harness closed or half-closed it
	finSent      bool   // the harness half-closed or closed
	writeErr     error

	readDone chan struct{}

	// pmd is the permessage-deflate state when it was negotiated.
	pmd *pmd
}

func newSession(nc net.Conn, br *bufio.Reader, client bool) *session {
	return newDeflateSession(nc, br, client, nil)
}

func newDeflateSession(nc net.Conn, br *bufio.Reader, client bool, p *pmd) *session {
	s := &session{nc: nc, br: br, client: client, changed: make(chan struct{}), closeCode: -1, readDone: make(chan struct{}), pmd: p}
	go s.readLoop()
	return s
}

// notify wakes the waiters; mu must be held.
func (s *session) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait waits up to d for cond (called with mu held) to hold.
func (s *session) wait(d time.Duration, cond func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			return cond()
		}
	}
}

func (s *session) addEvent(e Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.notify()
	s.mu.Unlock()
}

// peerDone reports, with mu held, whether the peer has closed in some way.
func (s *session) peerDone() bool {
	return s.closeRecv || s.tcpEnd != "" || s.violation != ""
}

// write sends b, chopped as w says. A write that counts as the harness's
// close (a well-formed close frame) is noted first.
func (s *session) write(b []byte, chop int, delay time.Duration, isClose bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if isClose {
		s.mu.Lock()
		if !s.closeSent {
			s.closeSent = true
			s.notify()
		}
		s.mu.Unlock()
	}
	_, err := ChopWriter{W: s.nc, Chop: chop, Delay: delay}.Write(b)
	if err != nil {
		s.mu.Lock()
		if s.writeErr == nil {
			s.writeErr = err
		}
		s.mu.Unlock()
	}
	return err
}

func (s *session) setViolation(format string, args ...any) {
	s.mu.Lock()
	if s.violation == "" {
		s.violation = fmt.Sprintf(format, args...)
		s.notify()
	}
	s.mu.Unlock()
}

// readLoop reads and checks the peer's frames until TCP ends.
func (s *session) readLoop() {
	defer close(s.readDone)
	var (
		inMsg      bool
		text       bool
		msg        []byte
		closed     bool
		compressed bool
	)
	for {
		f, err := ReadFrame(s.br, maxReadFrame)
		if err != nil {
			if errors.Is(err, errFrameTooLarge) {
				s.setViolation("%v", err)
				io.Copy(io.Discard, s.br)
				err = io.EOF
			}
			s.endTCP(err)
			return
		}
		if v := s.check(f, inMsg, closed); v != "" {
			s.setViolation("%s", v)
			_, err := io.Copy(io.Discard, s.br)
			if err == nil {
				err = io.EOF
			}
			s.endTCP(err)
			return
		}
		switch f.Opcode {
		case OpText, OpBinary, OpContinuation:
			if f.Opcode != OpContinuation {
				inMsg, text, msg = true, f.Opcode == OpText, nil
				compressed = f.Rsv&4 != 0
			}
			msg = append(msg, f.Payload...)
			if f.Fin && compressed {
				out, err := s.pmd.inflate(msg)
				if err != nil {
					s.setViolation("the peer sent a compressed message that does not inflate: %v", err)
					continue
				}
				msg = out
			}
			if f.Fin {
				inMsg = false
				if text && !utf8.Valid(msg) {
					s.setViolation("the peer sent a text message that is not valid UTF-8")
					continue
				}
				s.addEvent(Message(text, msg))
				msg = nil
			}
		case OpPing:
			s.addEvent(PingEvent(f.Payload))
			s.mu.Lock()
			sent := s.closeSent
			s.mu.Unlock()
			if !sent {
				s.write(Encode(s.client, Pong(f.Payload)), 0, 0, false)
			}
		case OpPong:
			s.addEvent(PongEvent(f.Payload))
		case OpClose:
			closed = true
			code, reason := -1, ""
			if len(f.Payload) >= 2 {
				code, reason = int(binary.BigEndian.Uint16(f.Payload)), string(f.Payload[2:])
			}
			s.mu.Lock()
			s.closeRecv, s.closeCode, s.closeReason = true, code, reason
			s.peerCloseFirst = !s.closeSent
			reply := !s.closeSent
			s.notify()
			s.mu.Unlock()
			if reply {
				// Echo the code (RFC 6455 §5.5.1).
				s.write(Encode(s.client, Close(code, nil)), 0, 0, true)
			}
		}
	}
}

// check returns the rule of RFC 6455 that f breaks, coming from the peer,
// or "".
func (s *session) check(f RawFrame, inMsg, closed bool) string {
	switch {
	case closed:
		return fmt.Sprintf("the peer sent a frame (opcode %d) after its close frame", f.Opcode)
	case s.client && f.Masked:
		return "the server sent a masked frame"
	case !s.client && !f.Masked:
		return "the client sent an unmasked frame"
	case s.pmd != nil && f.Rsv == 4 && (f.Opcode == OpText || f.Opcode == OpBinary):
		// RSV1 on the first frame of a compressed message (RFC 7692 §6).
	case f.Rsv != 0:
		return fmt.Sprintf("the peer set reserved bits %d", f.Rsv)
	}
	switch f.Opcode {
	case OpContinuation:
		if !inMsg {
			return "the peer sent a continuation frame outside a message"
		}
	case OpText, OpBinary:
		if inMsg {
			return "the peer started a message inside a fragmented one"
		}
	case OpClose, OpPing, OpPong:
		if !f.Fin {
			return "the peer fragmented a control frame"
		}
		if f.Length > 125 {
			return "the peer sent a control frame longer than 125 bytes"
		}
		if f.Opcode == OpClose {
			switch {
			case len(f.Payload) == 1:
				return "the peer sent a close frame with a 1-byte payload"
			case len(f.Payload) >= 2 && !validCloseCode(int(binary.BigEndian.Uint16(f.Payload))):
				return fmt.Sprintf("the peer sent close code %d", binary.BigEndian.Uint16(f.Payload))
			case len(f.Payload) > 2 && !utf8.Valid(f.Payload[2:]):
				return "the peer sent a close reason that is not valid UTF-8"
			}
		}
	default:
		return fmt.Sprintf("the peer sent reserved opcode %d", f.Opcode)
	}
	if f.LenBytes == 2 && f.Length < 126 || f.LenBytes == 8 && f.Length <= 0xffff {
		return "the peer did not use the minimal length encoding"
	}
	return ""
}

// validCloseCode reports whether code may be sent in a close frame (RFC
// 6455 §7.4.1, §7.4.2 and the IANA registry): 1000-1003, 1007-1014 and
// 3000-4999.
func validCloseCode(code int) bool {
	return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
}

// endTCP records how the stream ended.
func (s *session) endTCP(err error) {
	var how string
	switch {
	case errors.Is(err, io.EOF):
		how = "fin"
	case errors.Is(err, io.ErrUnexpectedEOF):
		how = "fin inside a frame"
	case errors.Is(err, syscall.ECONNRESET):
		how = "reset"
	case errors.Is(err, net.ErrClosed):
		how = "local"
	default:
		how = err.Error()
	}
	s.mu.Lock()
	if s.tcpEnd != "" {
		// The harness gave up on the peer and said so.
		s.notify()
		s.mu.Unlock()
		return
	}
	s.tcpEnd = how
	s.peerEndFirst = how != "local" && !s.finSent
	s.notify()
	s.mu.Unlock()
}

func (s *session) tcpEnded() bool { return s.tcpEnd != "" }

// closeWrite sends FIN, keeping the read side open.
func (s *session) closeWrite() {
	s.mu.Lock()
	s.finSent = true
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if cw, ok := s.nc.(closeWriter); ok {
		cw.CloseWrite()
	}
}

// closeNow closes the connection and waits for the reader to stop.
func (s *session) closeNow() {
	s.mu.Lock()
	s.finSent = true
	s.mu.Unlock()
	s.nc.Close()
	<-s.readDone
}
