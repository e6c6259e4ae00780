package app

import (
	"errors"
	"strconv"
	"sync"
	"syscall"

	"github.com/glassnet/glassnet/ws"
)

// wsEnds counts, for `glassnet ss`, the upgrades serve refused by HTTP
// status and how its WebSockets ended: what the trace explains one
// connection at a time (a 403 for a foreign origin, a close with 1002) is
// a number there, without a trace running. The keys are a small fixed set,
// whatever the peers send.
type wsEnds struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (e *wsEnds) add(key string) {
	e.mu.Lock()
	if e.n == nil {
		e.n = make(map[string]uint64)
	}
	e.n[key]++
	e.mu.Unlock()
}

// refused counts an upgrade that ws.Accept answered with a 4xx.
func (e *wsEnds) refused(err error) {
	var he *ws.HandshakeError
	if errors.As(err, &he) {
		e.add("ws upgrades refused " + strconv.Itoa(he.Status))
	}
}

// ended counts a WebSocket whose reads or writes ended with err.
func (e *wsEnds) ended(c *ws.Conn, err error) {
	e.add(wsEndKind(c, err))
}

func (e *wsEnds) counters(m map[string]uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, v := range e.n {
		m[k] = v
	}
}

// endBehind counts a WebSocket failed for not reading what was sent to it
// fast enough: its write queue, or its place in /chat, overflowed.
const endBehind = "ws ends: failed 1008 (write queue full)"

// wsEndKind names how a WebSocket ended, err being what its last read or
// write returned: the close code it was failed with (RFC 6455 §7.4.1)
// when either side broke a rule, otherwise what ended it.
func wsEndKind(c *ws.Conn, err error) string {
	switch {
	case c.SendStats().DroppedQueueFull > 0:
		return endBehind
	case errors.Is(err, ws.ErrKeepAliveTimeout):
		return "ws ends: failed 1011 (keepalive: no pong)"
	case errors.Is(err, ws.ErrInvalidUTF8):
		return "ws ends: failed 1007 (invalid UTF-8)"
	case errors.Is(err, ws.ErrMessageTooBig):
		return "ws ends: failed 1009 (message too big)"
	case errors.Is(err, ws.ErrMessageMemory):
		return "ws ends: failed 1013 (message memory full)"
	case errors.Is(err, ws.ErrProtocol):
		return "ws ends: failed 1002 (protocol error)"
	case errors.Is(err, ws.ErrCloseTimeout):
		// serve closed it (idle: 1001) and the peer sent no close
		// frame back within the close timeout: ended with a reset.
		return "ws ends: close not answered (reset)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		// A write fails with EPIPE after a reset that follows the
		// peer's FIN (Linux's tcp_reset in CLOSE-WAIT) or after the
		// reset was reported once; this side never shuts its own
		// writing down before a write.
		return "ws ends: tcp reset by the peer"
	case ws.CloseStatus(err) == ws.StatusAbnormalClosure:
		return "ws ends: tcp closed without a close frame (1006)"
	case ws.CloseStatus(err) != 0:
		return "ws ends: close handshake"
	}
	return "ws ends: other errors"
}
