package hook

import "sync"

// VerdictKey names a kind of hook decision: where it was taken, on what
// kind of unit, what the hook decided and why. Every layer counts its
// verdicts under keys of this one shape (netstack.Stats.Verdicts,
// sockets.Sockets.CallVerdicts, ws.FrameCounter).
type VerdictKey struct {
	// Point is where the hook ran: a link or IP hook point (LinkEgress,
	// IPInput, ...), a socket call ("recv", "send", ...) or a frame
	// direction ("in", "out").
	Point string
	// Unit narrows Point where one point sees several kinds of unit: a
	// frame's opcode ("ping"), as it was before the hook. Empty elsewhere.
	Unit   string
	Action Action
	Reason string
}

// String is the key as `glassnet ss` shows it: point, unit (if any),
// action and reason, separated by spaces.
func (k VerdictKey) String() string {
	s := k.Point + " "
	if k.Unit != "" {
		s += k.Unit + " "
	}
	return s + k.Action.String() + " " + k.Reason
}

// MarshalText is String's form, so that verdict counts (a map keyed by
// VerdictKey, as in netstack.Stats) encode as JSON objects.
func (k VerdictKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Counter counts verdicts by key. The zero value is ready to use, and a
// Counter is safe for concurrent use. Layers count only the verdicts that
// did something, so a Counter is touched only when a hook decides.
type Counter struct {
	mu sync.Mutex
	m  map[VerdictKey]uint64
}

// Add counts one verdict of kind k.
func (c *Counter) Add(k VerdictKey) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[VerdictKey]uint64)
	}
	c.m[k]++
	c.mu.Unlock()
}

// Counts returns a copy of the counts so far.
func (c *Counter) Counts() map[VerdictKey]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[VerdictKey]uint64, len(c.m))
	for k, n := range c.m {
		out[k] = n
	}
	return out
}
