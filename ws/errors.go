package ws

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrProtocol matches (with errors.Is) every violation of the framing rules
// of RFC 6455 §5. The connection is failed with status 1002.
var ErrProtocol = errors.New("ws: protocol error")

// protocolError is a sentinel that also matches ErrProtocol.
type protocolError string

func (e protocolError) Error() string        { return string(e) }
func (e protocolError) Is(target error) bool { return target == ErrProtocol }

// Framing violations. Each matches ErrProtocol as well as itself.
var (
	ErrLengthOverflow         error = protocolError("ws: 64-bit payload length has its most significant bit set")
	ErrNonMinimalLength       error = protocolError("ws: payload length not in its minimal encoding")
	ErrReservedBits           error = protocolError("ws: reserved bits set without a negotiated extension")
	ErrUnknownOpcode          error = protocolError("ws: unknown opcode")
	ErrFragmentedControl      error = protocolError("ws: fragmented control frame")
	ErrControlTooLong         error = protocolError("ws: control frame payload longer than 125 bytes")
	ErrUnmaskedFrame          error = protocolError("ws: client frame is not masked")
	ErrMaskedFrame            error = protocolError("ws: server frame is masked")
	ErrUnexpectedContinuation error = protocolError("ws: continuation frame without a message to continue")
	ErrExpectedContinuation   error = protocolError("ws: new data frame inside a fragmented message")
	ErrBadClosePayload        error = protocolError("ws: close frame payload of 1 byte")
	ErrBadCloseCode           error = protocolError("ws: invalid close code")
)

var (
	// ErrShortHeader is returned by ParseHeader when b holds fewer bytes
	// than the header needs.
	ErrShortHeader = errors.New("ws: short frame header")
	// ErrInvalidUTF8 reports a text message or close reason that is not
	// valid UTF-8 (RFC 6455 §8.1). The connection is failed with status 1007.
	ErrInvalidUTF8 = errors.New("ws: invalid UTF-8")
	// ErrMessageTooBig reports a message longer than the configured maximum.
	// The connection is failed with status 1009.
	ErrMessageTooBig = errors.New("ws: message too big")
	// ErrCloseSent is returned by writes after a close frame has been sent.
	ErrCloseSent = errors.New("ws: close frame already sent")
	// ErrCloseTimeout is returned by Close when the peer did not answer the
	// close frame in time, and by a ReadMessage running meanwhile, which
	// ends when Close then closes TCP.
	ErrCloseTimeout = errors.New("ws: timed out waiting for the peer's close frame")
	// ErrHookInject reports a FrameHook verdict whose Verdict.Inject holds
	// bytes that are not whole encoded frames. A write returns it and sends
	// nothing; a read fails the connection with status 1011.
	ErrHookInject = errors.New("ws: frame hook injected bytes that are not whole frames")
	// ErrBadHandshake matches (with errors.Is) every *HandshakeError.
	ErrBadHandshake = errors.New("ws: bad handshake")
)

// StatusCode is a close status code (RFC 6455 §7.4).
type StatusCode uint16

// Status codes from RFC 6455 §7.4.1 and the IANA registry.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	// StatusNoStatusRcvd is never sent; it stands for a close frame without
	// a status code.
	StatusNoStatusRcvd StatusCode = 1005
	// StatusAbnormalClosure is never sent; it stands for a connection that
	// ended without a close frame.
	StatusAbnormalClosure  StatusCode = 1006
	StatusInvalidPayload   StatusCode = 1007
	StatusPolicyViolation  StatusCode = 1008
	StatusMessageTooBig    StatusCode = 1009
	StatusMandatoryExt     StatusCode = 1010
	StatusInternalError    StatusCode = 1011
	StatusServiceRestart   StatusCode = 1012
	StatusTryAgainLater    StatusCode = 1013
	StatusBadGateway       StatusCode = 1014
	StatusTLSHandshakeFail StatusCode = 1015
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:    "normal closure",
	StatusGoingAway:        "going away",
	StatusProtocolError:    "protocol error",
	StatusUnsupportedData:  "unsupported data",
	StatusNoStatusRcvd:     "no status",
	StatusAbnormalClosure:  "abnormal closure",
	StatusInvalidPayload:   "invalid payload data",
	StatusPolicyViolation:  "policy violation",
	StatusMessageTooBig:    "message too big",
	StatusMandatoryExt:     "mandatory extension",
	StatusInternalError:    "internal error",
	StatusServiceRestart:   "service restart",
	StatusTryAgainLater:    "try again later",
	StatusBadGateway:       "bad gateway",
	StatusTLSHandshakeFail: "TLS handshake failure",
}

func (s StatusCode) String() string {
	if n, ok := statusNames[s]; ok {
		return strconv.Itoa(int(s)) + " (" + n + ")"
	}
	return strconv.Itoa(int(s))
}

// ValidOnWire reports whether s may appear in a close frame (RFC 6455
// §7.4.1, §7.4.2): 1000-1003, 1007-1014 and 3000-4999. 1004, 1005, 1006
// and 1015 are reserved and never sent; other codes below 3000 are
// unassigned.
func (s StatusCode) ValidOnWire() bool {
	switch {
	case s >= 1000 && s <= 1003:
		return true
	case s >= 1007 && s <= 1014:
		return true
	case s >= 3000 && s <= 4999:
		return true
	}
	return false
}

// CloseError ends a connection. It is returned by reads after the peer's
// close frame (Code and Reason as sent; StatusNoStatusRcvd when the frame
// had no code) and after TCP ended without a close frame
// (StatusAbnormalClosure, wrapping io.EOF or io.ErrUnexpectedEOF).
type CloseError struct {
	Code   StatusCode
	Reason string
	err    error
}

func (e *CloseError) Error() string {
	if e.Code == StatusAbnormalClosure {
		if e.err != nil {
			return fmt.Sprintf("ws: connection closed without a close frame: status %v: %v", e.Code, e.err)
		}
		return fmt.Sprintf("ws: connection closed without a close frame: status %v", e.Code)
	}
	if e.Reason == "" {
		return fmt.Sprintf("ws: closed by peer: status %v", e.Code)
	}
	return fmt.Sprintf("ws: closed by peer: status %v, reason %q", e.Code, e.Reason)
}

// Unwrap returns the transport error behind an abnormal closure, if any.
func (e *CloseError) Unwrap() error { return e.err }

// CloseStatus returns the code of the *CloseError in err's chain, or 0 if
// there is none.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// HandshakeError describes a failed opening handshake. On the server,
// Status is the HTTP status that was sent; on the client, the status that
// was received.
type HandshakeError struct {
	Status int
	Reason string
	header map[string]string
}

func (e *HandshakeError) Error() string { return "ws: handshake: " + e.Reason }

// Is makes every *HandshakeError match ErrBadHandshake.
func (e *HandshakeError) Is(target error) bool { return target == ErrBadHandshake }

// closeCodeFor maps a read error to the status the connection is failed
// with, or 0 if the error is not a violation by the peer.
func closeCodeFor(err error) StatusCode {
	switch {
	case errors.Is(err, ErrInvalidUTF8):
		return StatusInvalidPayload
	case errors.Is(err, ErrMessageTooBig):
		return StatusMessageTooBig
	case errors.Is(err, ErrProtocol):
		return StatusProtocolError
	case errors.Is(err, ErrMessageMemory):
		return StatusTryAgainLater
	case errors.Is(err, ErrHookInject):
		return StatusInternalError
	}
	return 0
}
