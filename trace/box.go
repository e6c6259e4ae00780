package trace

import "sync/atomic"

// A boxedString is a string and the interface value holding it, made once.
// The same tables serve strings made from bytes (internBytes).
type boxedString struct {
	s string
	v any
}

// stringBoxes holds recently boxed field values, one per slot, the slot
// chosen by a hash of the string.
var stringBoxes [512]atomic.Pointer[boxedString]

// boxString returns s as a Field value. Putting a string into an interface
// copies its header to the heap, one allocation per field of every event;
// but the values of some fields (addresses, protocols, TCP flags and
// states, calls, reasons: the keys sharedKeys lists in genfields_test.go,
// which writes fields_gen.go) repeat from event to event, and are boxed
// once while they do.
// A string not in its slot is boxed and takes the slot.
func boxString(s string) any {
	if len(s) == 0 || len(s) > maxBoxed {
		return s
	}
	slot := &stringBoxes[hashString(s)%uint32(len(stringBoxes))]
	if b := slot.Load(); b != nil && b.s == s {
		return b.v
	}
	b := &boxedString{s: s, v: s}
	slot.Store(b)
	return b.v
}

// maxBoxed is the longest string the tables keep.
const maxBoxed = 64

// internBytes returns string(b), the same string as the last call with
// the same bytes while it stays in its slot: a connection's name, the
// same for every packet of it, is made once while it repeats.
func internBytes(b []byte) string {
	if len(b) == 0 || len(b) > maxBoxed {
		return string(b)
	}
	slot := &stringBoxes[hashString(b)%uint32(len(stringBoxes))]
	if v := slot.Load(); v != nil && v.s == string(b) {
		return v.s
	}
	v := &boxedString{s: string(b)}
	v.v = v.s
	slot.Store(v)
	return v.s
}

// hashString is FNV-1a.
func hashString[S string | []byte](s S) uint32 {
	h := uint32(2166136261)
	for i := range len(s) {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
