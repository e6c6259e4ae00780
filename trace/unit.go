package trace

// Unit is a kind of step a stepper goes to: the next event, or the next
// packet, TCP segment, WebSocket frame or message. The terminal stepper
// (Stepper) and the browser view's POST /api/step share these.
type Unit int

const (
	UnitNone    Unit = iota // no unit: no step is one
	UnitEvent               // any step
	UnitPacket              // a link packet (link "packet")
	UnitSegment             // a TCP segment (tcp "segment")
	UnitFrame               // a WebSocket frame (ws "frame")
	UnitMessage             // a WebSocket message (ws "message")
)

var unitNames = [...]string{UnitEvent: "event", UnitPacket: "packet", UnitSegment: "segment", UnitFrame: "frame", UnitMessage: "message"}

// ParseUnit returns the unit called name: event (or ""), packet, segment,
// frame or message.
func ParseUnit(name string) (Unit, bool) {
	if name == "" {
		return UnitEvent, true
	}
	for u, n := range unitNames {
		if n != "" && n == name {
			return Unit(u), true
		}
	}
	return UnitNone, false
}

// String returns the unit's name, as ParseUnit reads it.
func (u Unit) String() string {
	if u > UnitNone && int(u) < len(unitNames) {
		return unitNames[u]
	}
	return "none"
}

// Is reports whether e is a step of this kind of unit. Every event is a
// step of UnitEvent, none of UnitNone.
func (u Unit) Is(e *Event) bool {
	switch u {
	case UnitPacket:
		return e.Layer == LayerLink && e.Name == "packet"
	case UnitSegment:
		return e.Layer == LayerTCP && e.Name == "segment"
	case UnitFrame:
		return e.Layer == LayerWS && e.Name == "frame"
	case UnitMessage:
		return e.Layer == LayerWS && e.Name == "message"
	case UnitEvent:
		return true
	}
	return false
}
