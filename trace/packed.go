package trace

// packed hands out the fields and bytes of the events a reader returns,
// cut to their exact length from shared chunks: a capture of many small
// packets then costs no allocation, and no spare capacity, per packet. A
// chunk is never reused; it is freed when no event it holds is left.
type packed struct {
	fields  []Field // the rest of the current chunk
	data    []byte
	scratch []Field // where a packet's fields are listed before the copy
}

// Chunk sizes, and the largest piece cut from a chunk (a larger one gets
// its own allocation).
const (
	packedFields = 16 << 10 // fields (32 bytes each)
	packedData   = 1 << 20
)

// keepFields returns a copy of f of its exact length.
func (p *packed) keepFields(f []Field) []Field {
	if len(f) == 0 {
		return nil
	}
	if len(f) > packedFields/4 {
		return append([]Field(nil), f...)
	}
	if len(p.fields) < len(f) {
		p.fields = make([]Field, packedFields)
	}
	c := p.fields[:len(f):len(f)]
	copy(c, f)
	p.fields = p.fields[len(f):]
	return c
}

// bytes returns a slice of n bytes to fill, of capacity n.
func (p *packed) bytes(n int) []byte {
	if n > packedData/8 {
		return make([]byte, n)
	}
	if len(p.data) < n {
		p.data = make([]byte, packedData)
	}
	c := p.data[:n:n]
	p.data = p.data[n:]
	return c
}

// setFields gives e lp's fields, packed, and when frames lists some the
// ws frames the packet carried: a "frames" field after the others, and
// their IDs at the end of the summary, as PCAPNG's comment named them.
func (p *packed) setFields(e *Event, lp *LinkPacket, frames []uint64) {
	f := lp.appendFields(p.scratch[:0])
	if len(frames) > 0 {
		f = append(f, Field{Key: "frames", Value: frames})
		e.Summary += " [" + IDList("frame", frames) + "]"
	}
	e.Fields = p.keepFields(f)
	clear(f) // let go of the values
	p.scratch = f[:0]
}
