package trace

import "sync/atomic"

// A boxedString is a string and the interface value holding it, made once.
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
// states, calls, reasons: those sharedKeys names in fields_gen.go's
// generator) repeat from event to event, and are boxed once while they do.
// A string not in its slot is boxed and takes the slot.
func boxString(s string) any {
	if len(s) == 0 || len(s) > 64 {
		return s
	}
	h := uint32(2166136261) // FNV-1a
	for i := range len(s) {
		h ^= uint32(s[i])
		h *= 16777619
	}
	slot := &stringBoxes[h%uint32(len(stringBoxes))]
	if b := slot.Load(); b != nil && b.s == s {
		return b.v
	}
	b := &boxedString{s: s, v: s}
	slot.Store(b)
	return b.v
}
