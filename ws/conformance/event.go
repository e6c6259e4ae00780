package conformance

import (
	"crypto/sha256"
	"fmt"
	"strconv"
)

// EventKind is what the harness saw arrive, or a marker a case recorded.
type EventKind int

const (
	EventMessage EventKind = iota + 1
	EventPing
	EventPong
	EventMark
)

// keepBytes is the largest payload an Event keeps for reports; larger
// payloads are compared by length and SHA-256.
const keepBytes = 64

// Event is one thing the peer sent (a whole message, a ping, a pong), or a
// marker a case recorded between its steps, such as Autobahn's "timeout A".
// Cases list the events they expect; results list those that arrived.
type Event struct {
	Kind EventKind
	Text bool   // for messages: text (true) or binary
	Name string // for markers
	Len  int
	Sum  [sha256.Size]byte
	Head []byte // the first keepBytes bytes of the payload
}

func payloadEvent(kind EventKind, text bool, p []byte) Event {
	e := Event{Kind: kind, Text: text, Len: len(p), Sum: sha256.Sum256(p)}
	e.Head = append([]byte(nil), p[:min(len(p), keepBytes)]...)
	return e
}

// Message is a data message with payload p.
func Message(text bool, p []byte) Event { return payloadEvent(EventMessage, text, p) }

// PingEvent is a ping with payload p.
func PingEvent(p []byte) Event { return payloadEvent(EventPing, false, p) }

// PongEvent is a pong with payload p.
func PongEvent(p []byte) Event { return payloadEvent(EventPong, false, p) }

// Mark is a marker recorded by a case.
func Mark(name string) Event { return Event{Kind: EventMark, Name: name} }

// Equal reports whether e and o are the same event with the same payload.
func (e Event) Equal(o Event) bool {
	return e.Kind == o.Kind && e.Text == o.Text && e.Name == o.Name && e.Len == o.Len && e.Sum == o.Sum
}

func (e Event) String() string {
	payload := func() string {
		s := strconv.Quote(string(e.Head))
		if e.Len > len(e.Head) {
			s += fmt.Sprintf("... (%d bytes)", e.Len)
		}
		return s
	}
	switch e.Kind {
	case EventMessage:
		if e.Text {
			return "text " + payload()
		}
		return "binary " + payload()
	case EventPing:
		return "ping " + payload()
	case EventPong:
		return "pong " + payload()
	case EventMark:
		return "mark " + e.Name
	}
	return "event?"
}

func eventsEqual(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func eventsString(ev []Event) string {
	if len(ev) == 0 {
		return "[]"
	}
	s := "["
	for i, e := range ev {
		if i > 0 {
			s += ", "
		}
		s += e.String()
	}
	return s + "]"
}
