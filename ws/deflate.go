package ws

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// deflateTail ends every compressed message on the wire before it is
// stripped (RFC 7692 §7.2.1): the last four bytes of an empty stored block
// written by a sync flush.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// finalBlock, after the tail, is an empty final stored block, so that the
// inflater ends the message with io.EOF instead of waiting for more.
var finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

// maxWindow is the largest LZ77 window (window bits 15).
const maxWindow = 32 << 10

// ErrBadCompressedData reports a compressed message that does not inflate
// (RFC 7692 §8). The connection is failed with status 1002.
var ErrBadCompressedData error = protocolError("ws: compressed message is not valid DEFLATE data")

// ErrCompressedControl reports RSV1 on a control or continuation frame on a
// connection with permessage-deflate (RFC 7692 §6.1). It matches
// ErrReservedBits and ErrProtocol.
var ErrCompressedControl error = rsv1Error("ws: RSV1 set on a control or continuation frame")

type rsv1Error string

func (e rsv1Error) Error() string { return string(e) }
func (e rsv1Error) Is(target error) bool {
	return target == ErrProtocol || target == ErrReservedBits
}

// deflateState is one connection's permessage-deflate state. Neither
// direction keeps a flate.Writer or flate.Reader between messages: they
// come from pools, and context takeover is carried by the last window of
// each direction's uncompressed stream, which primes the next message's
// compressor or decompressor. An idle connection with context takeover
// holds at most 32 KiB of history per direction, and none without it;
// the history is charged to the connection's MemoryBudget (histMemory).
type deflateState struct {
	params    deflateParams
	client    bool
	level     int
	threshold int

	// Writing (guarded by the connection's msgLock).
	wdict []byte // history of compressed messages sent, when kept
	// Reading (guarded by readLock).
	rdict []byte // history of compressed messages read, when kept
	zbuf  []byte // compressed payload of the message being read

	// hist charges the capacity of wdict and rdict to the connection's
	// MemoryBudget, if it has one.
	hist histMemory
}

// histMemory is the account of a connection's two compression histories
// with its MemoryBudget. Unlike a message, a history stays between
// messages for as long as the connection is open (up to 32 KiB each way),
// so idle connections with context takeover would otherwise hold memory
// outside the budget. The reading and the writing side grow their
// histories under different locks, and close gives the charge back from
// a third goroutine, hence the mutex; it is taken only when a history
// grows, at most a few times per connection.
type histMemory struct {
	budget *MemoryBudget // nil: nothing is counted

	mu      sync.Mutex
	charged int64
	closed  bool // the connection is closed: nothing more is charged
}

// grow charges n more bytes of history; false means the budget refused.
func (m *histMemory) grow(n int64) bool {
	if m.budget == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return true
	}
	if !m.budget.take(n, false) {
		return false
	}
	m.charged += n
	return true
}

// shrink gives back n bytes of history.
func (m *histMemory) shrink(n int64) {
	if m.budget == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n = min(n, m.charged)
	m.charged -= n
	m.budget.give(n)
}

// close gives back every byte of history charged: the connection is
// closed, and it charges nothing from now on.
func (m *histMemory) close() {
	if m.budget == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.budget.give(m.charged)
	m.charged = 0
}

// roomForHistory makes sure h can take n more bytes with appendHistory
// without growing, charging a larger buffer to the budget before it is
// allocated; false, with h unchanged, means the budget refused it. The
// buffer doubles up to maxWindow, the most a history keeps.
func (m *histMemory) roomForHistory(h []byte, n int) ([]byte, bool) {
	want := min(len(h)+n, maxWindow)
	if want <= cap(h) {
		return h, true
	}
	size := min(max(want, 2*cap(h), 512), maxWindow)
	if !m.grow(int64(size - cap(h))) {
		return h, false
	}
	grown := make([]byte, len(h), size)
	copy(grown, h)
	return grown, true
}

func newDeflateState(p deflateParams, client bool, o *CompressionOptions) *deflateState {
	return &deflateState{params: p, client: client, level: o.level(), threshold: o.threshold()}
}

// takeoverOut reports whether this side keeps its compression context.
func (d *deflateState) takeoverOut() bool {
	if d.client {
		return !d.params.clientNoContext
	}
	return !d.params.serverNoContext
}

// takeoverIn reports whether the peer keeps its compression context.
func (d *deflateState) takeoverIn() bool {
	if d.client {
		return !d.params.serverNoContext
	}
	return !d.params.clientNoContext
}

// switchWriter lets a pooled flate.Writer be primed with history into
// io.Discard and then write to the real destination.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

type pooledWriter struct {
	sw switchWriter
	fw *flate.Writer
}

var flateWriters [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

func getFlateWriter(level int, dst io.Writer, dict []byte) *pooledWriter {
	pool := &flateWriters[level-flate.HuffmanOnly]
	pw, _ := pool.Get().(*pooledWriter)
	if pw == nil {
		pw = &pooledWriter{}
		pw.sw.w = io.Discard
		pw.fw, _ = flate.NewWriter(&pw.sw, level)
	} else {
		pw.sw.w = io.Discard
		pw.fw.Reset(&pw.sw)
	}
	if len(dict) > 0 {
		// After a sync flush the stream is byte-aligned: what follows is a
		// fresh sequence of blocks that may refer back into dict.
		pw.fw.Write(dict)
		pw.fw.Flush()
	}
	pw.sw.w = dst
	return pw
}

func putFlateWriter(level int, pw *pooledWriter) {
	pw.sw.w = io.Discard
	flateWriters[level-flate.HuffmanOnly].Put(pw)
}

var flateReaders = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// inflateSrc is the inflater's input: a message's compressed bytes, then
// deflateTail and finalBlock. It is an io.ByteReader, so that flate reads
// no further than the end of a stream, and knows whether any of the
// message's own bytes are left after it.
type inflateSrc struct {
	parts [3][]byte
	i     int // the part being read; parts before it are used up
}

func (s *inflateSrc) ReadByte() (byte, error) {
	for s.i < len(s.parts) && len(s.parts[s.i]) == 0 {
		s.i++
	}
	if s.i == len(s.parts) {
		return 0, io.EOF
	}
	b := s.parts[s.i][0]
	s.parts[s.i] = s.parts[s.i][1:]
	return b, nil
}

func (s *inflateSrc) Read(p []byte) (int, error) {
	for s.i < len(s.parts) && len(s.parts[s.i]) == 0 {
		s.i++
	}
	if s.i == len(s.parts) {
		return 0, io.EOF
	}
	n := copy(p, s.parts[s.i])
	s.parts[s.i] = s.parts[s.i][n:]
	return n, nil
}

// dataLeft reports whether bytes of the message itself are still unread.
func (s *inflateSrc) dataLeft() bool { return len(s.parts[0]) > 0 }

// appendHistory appends p to the history h, keeping the last maxWindow
// bytes.
func appendHistory(h, p []byte) []byte {
	if len(p) >= maxWindow {
		return append(h[:0], p[len(p)-maxWindow:]...)
	}
	if over := len(h) + len(p) - maxWindow; over > 0 {
		h = h[:copy(h, h[over:])]
	}
	return append(h, p...)
}

// msgCompressor compresses one message, a frame at a time. It holds a
// pooled flate.Writer until done.
type msgCompressor struct {
	d   *deflateState
	pw  *pooledWriter
	buf bytes.Buffer
}

// compressor starts compressing a message. Callers hold msgLock.
func (d *deflateState) compressor() *msgCompressor {
	m := &msgCompressor{d: d}
	var dict []byte
	if d.takeoverOut() {
		dict = d.wdict
	}
	m.pw = getFlateWriter(d.level, &m.buf, dict)
	return m
}

// part compresses p and returns it, ending on a sync flush, as the
// payload of one frame. The final part has the tail stripped (RFC 7692
// §7.2.1); earlier ones keep it, since the receiver appends a tail only
// to the whole message. The result is valid until the next call.
//
// The final part gives the flate.Writer back to its pool before its frame
// is written: a write that waits for a peer that does not read then holds
// the compressed bytes, not a compressor (787 KiB at the default level),
// so that a broadcast to many such peers does not pin one each.
func (m *msgCompressor) part(p []byte, final bool) ([]byte, error) {
	if final {
		defer m.done()
	}
	m.buf.Reset()
	if _, err := m.pw.fw.Write(p); err != nil {
		return nil, err
	}
	if err := m.pw.fw.Flush(); err != nil {
		return nil, err
	}
	b := m.buf.Bytes()
	if !bytes.HasSuffix(b, deflateTail) {
		return nil, errors.New("ws: deflate: sync flush without its tail")
	}
	if !final {
		return b, nil
	}
	b = b[:len(b)-len(deflateTail)]
	if len(b) == 0 {
		// A frame of a compressed message is never empty: an empty
		// stored block stands for no data.
		b = append(b, 0x00)
	}
	return b, nil
}

// commit adds p, once sent, to the history of this direction. When the
// memory budget refuses the history room to grow, the history is dropped
// instead: the next message is compressed without referring back, which
// the peer reads as well (RFC 7692 §7.2.1 lets a sender not use it).
func (m *msgCompressor) commit(p []byte) {
	d := m.d
	if !d.takeoverOut() {
		return
	}
	h, ok := d.hist.roomForHistory(d.wdict, len(p))
	if !ok {
		d.hist.shrink(int64(cap(d.wdict)))
		d.wdict = nil
		return
	}
	d.wdict = appendHistory(h, p)
}

// done returns the flate.Writer to its pool.
func (m *msgCompressor) done() {
	if m.pw != nil {
		putFlateWriter(m.d.level, m.pw)
		m.pw = nil
	}
}

// inflate decompresses the message in d.zbuf, appending it to msg. It
// stops with ErrMessageTooBig as soon as the output passes max (when max
// > 0), without inflating the rest, and with ErrMessageMemory when mem
// refuses the output's growth (owned is the capacity of msg when the
// connection allocated it, budget.go).
func (d *deflateState) inflate(msg []byte, max int64, v *utf8Validator, mem *msgMemory, owned *int64) ([]byte, error) {
	if len(d.zbuf) == 0 {
		// No compressed bytes: the empty message. With the tail
		// appended (RFC 7692 §7.2.2) it would be a stored block cut
		// short, which zlib, and so python3-websockets and node ws,
		// read as no data; a sender that compresses nothing to nothing
		// is not failed for it.
		return msg, nil
	}
	var dict []byte
	if d.takeoverIn() {
		dict = d.rdict
	}
	src := &inflateSrc{parts: [3][]byte{d.zbuf, deflateTail, finalBlock}}
	fr := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(fr)
	fr.(flate.Resetter).Reset(src, dict)
	start := len(msg)
	for {
		if len(msg) == cap(msg) {
			// append grows a buffer by at most twice, plus rounding:
			// that is charged before, and the rest given back after.
			if err := mem.reserve(owned, 2*cap(msg)+64); err != nil {
				return msg, err
			}
			msg = append(msg, 0)[:len(msg)]
			mem.settle(owned, cap(msg))
		}
		room := msg[len(msg):cap(msg)]
		if max > 0 {
			// one byte past max shows that the message is too big
			if left := max - int64(len(msg)-start); left < int64(len(room))-1 {
				room = room[:left+1]
			}
		}
		n, err := fr.Read(room)
		msg = msg[:len(msg)+n]
		if max > 0 && int64(len(msg)-start) > max {
			return msg, fmt.Errorf("%w: more than %d bytes inflated", ErrMessageTooBig, max)
		}
		if v != nil {
			if i := v.write(msg[len(msg)-n:]); i >= 0 {
				return msg, fmt.Errorf("%w in text message at byte %d", ErrInvalidUTF8, len(msg)-n+i-start)
			}
		}
		if err == io.EOF {
			if !src.dataLeft() {
				break
			}
			// A block with BFINAL set ended the stream before the
			// message's data did, as RFC 7692 §7.2.3.4 lets a sender
			// flush: what follows is a stream of its own, which may
			// refer back to everything inflated before it.
			fr.(flate.Resetter).Reset(src, appendHistory(slices.Clone(dict), msg[start:]))
			continue
		}
		if err != nil {
			return msg, fmt.Errorf("%w: %v", ErrBadCompressedData, err)
		}
	}
	if d.takeoverIn() {
		// The peer may refer back to this history: when the budget
		// has no room for it, the connection fails (1013).
		h, ok := d.hist.roomForHistory(d.rdict, len(msg)-start)
		if !ok {
			return msg, fmt.Errorf("%w: no room for %d bytes of compression history; %d of %d bytes in use", ErrMessageMemory, min(len(msg)-start, maxWindow), d.hist.budget.InUse(), d.hist.budget.limit)
		}
		d.rdict = appendHistory(h, msg[start:])
	}
	// Nothing is kept for the next message: an idle connection holds
	// only the history.
	d.zbuf = nil
	return msg, nil
}

// compressedLimit is how many compressed bytes a message of at most max
// bytes may take. Compressed data may be a little longer than what it
// stands for (stored blocks, fixed codes), never by more than an eighth;
// a limit near the largest int64 stays there instead of overflowing.
func compressedLimit(max int64) int64 {
	slack := max/8 + 1024
	if max > math.MaxInt64-slack {
		return math.MaxInt64
	}
	return max + slack
}

// readCompressed reads one frame of a compressed message. The compressed
// payload is collected until the final frame, then inflated into msg,
// stopping as soon as the inflated size passes the message limit or text
// stops being UTF-8.
func (c *Conn) readCompressed(h Header, msg []byte, typ MessageType) ([]byte, error) {
	d := c.cfg.deflate
	max := c.cfg.maxMessage
	if max > 0 && h.Length > compressedLimit(max)-int64(len(d.zbuf)) {
		return msg, fmt.Errorf("%w: more than %d compressed bytes", ErrMessageTooBig, max)
	}
	var err error
	if d.zbuf, err = c.readData(h, d.zbuf, nil, &c.mem.zCap); err != nil {
		return msg, err
	}
	if !h.Fin {
		return msg, nil
	}
	// Text is checked as it inflates: invalid UTF-8 fails the connection
	// without inflating the rest.
	var (
		text utf8Validator
		v    *utf8Validator
	)
	if typ == MessageText {
		v = &text
	}
	if msg, err = d.inflate(msg, max, v, &c.mem, &c.mem.msgCap); err != nil {
		return msg, err
	}
	if v != nil && !v.complete() {
		return msg, fmt.Errorf("%w: text message ends inside a code point", ErrInvalidUTF8)
	}
	return msg, nil
}

// writeCompressed sends one compressed message made of one frame per part,
// RSV1 on the first (RFC 7692 §6). Callers hold msgLock.
func (c *Conn) writeCompressed(ctx context.Context, op Opcode, parts ...[]byte) error {
	m := c.cfg.deflate.compressor()
	defer m.done()
	rsv := Rsv1
	for i, p := range parts {
		z, err := m.part(p, i == len(parts)-1)
		if err != nil {
			return err
		}
		if err := c.writeFrameRsv(ctx, i == len(parts)-1, rsv, op, z); err != nil {
			return err
		}
		m.commit(p)
		rsv, op = 0, OpContinuation
	}
	return nil
}

// compresses reports whether a message of n bytes is sent compressed.
func (c *Conn) compresses(n int) bool {
	d := c.cfg.deflate
	return d != nil && n >= d.threshold
}
