package ws

import (
	"bufio"
	"io"
	"net"
	"os"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// hookReads puts the frame filter under the parser once a hook has been
// installed. It is called with readLock held, between frames.
func (c *Conn) hookReads() {
	if c.readFilter || c.frameHook.Load() == nil {
		return
	}
	c.readFilter = true
	c.rfilter = &frameFilter{c: c, src: c.br, wire: c.roff, prod: c.roff}
	c.br = bufio.NewReaderSize(c.rfilter, 8<<10)
}

// frameFilter sits between the connection's buffered reader and the
// parser once a hook is installed: it reads whole frames, hands them to
// the hook, and re-encodes what the hook lets through for the parser. A
// partly read frame is kept across errors, so a read deadline that fires
// in the middle of a frame loses nothing.
type frameFilter struct {
	c   *Conn
	src *bufio.Reader

	out []byte // encoded frames for the parser
	off int

	have bool // h has been consumed from src; pay is being filled
	h    Header
	pay  []byte
	got  int

	deflate deflating // whether the message under way is compressed

	raw         int64 // payload bytes of an unhooked frame still to copy
	passthrough bool  // the stream could not be parsed: copy the rest

	// A Delay verdict's frames wait in held until until; a read whose
	// context ends first returns, and the next read waits the rest.
	holding bool
	held    []Frame
	until   time.Time

	// The frame events say where each frame was on the wire, which is
	// not where the parser finds it once a hook has changed a frame's
	// length, dropped one or added some. wire counts the bytes taken
	// from src and prod those made for the parser, both as offsets since
	// the handshake (the parser's roff); spans map the parser's offsets
	// back (wireOf). The filter traces the frames it hands to the hook,
	// as they arrived; the parser traces the others.
	wire, prod int64
	spans      []outSpan
}

// outSpan describes the bytes made for the parser from start on, up to
// the next span: the wire offset of each is its own plus delta, or, when
// traced, they are frames the filter has traced already.
type outSpan struct {
	start, delta int64
	traced       bool
}

// took counts n bytes taken from the transport; data says they belong to
// a data frame, which Conn.BytesRead counts as they arrive.
func (r *frameFilter) took(n int, data bool) {
	r.wire += int64(n)
	if data {
		r.c.rbytes.Add(int64(n))
	}
}

// mark starts a span at the next byte made for the parser.
func (r *frameFilter) mark(traced bool) {
	d := r.wire - r.prod
	if n := len(r.spans); n > 0 && r.spans[n-1].delta == d && r.spans[n-1].traced == traced {
		return
	}
	r.spans = append(r.spans, outSpan{start: r.prod, delta: d, traced: traced})
}

// wireOf returns the wire offset of the frame the parser finds at off,
// or false when the filter traced it. The parser asks in order, so the
// spans before off's are forgotten.
func (r *frameFilter) wireOf(off int64) (int64, bool) {
	i := 0
	for i+1 < len(r.spans) && r.spans[i+1].start <= off {
		i++
	}
	r.spans = r.spans[:copy(r.spans, r.spans[i:])]
	if len(r.spans) == 0 || r.spans[0].start > off {
		return off, true
	}
	return off + r.spans[0].delta, !r.spans[0].traced
}

// maxHookedFrame is the longest frame handed to a hook when the connection
// has no message limit.
const maxHookedFrame = 64 << 20

func (r *frameFilter) Read(p []byte) (int, error) {
	for {
		if r.off < len(r.out) {
			n := copy(p, r.out[r.off:])
			r.off += n
			if r.off == len(r.out) {
				r.out, r.off = r.out[:0], 0
			}
			return n, nil
		}
		if r.passthrough {
			n, err := r.src.Read(p)
			r.took(n, true)
			r.prod += int64(n)
			return n, err
		}
		if r.raw > 0 {
			n, err := r.src.Read(p[:min(int64(len(p)), r.raw)])
			r.raw -= int64(n)
			r.took(n, true)
			r.prod += int64(n)
			return n, err
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
}

// next reads one frame from src and queues what the hook makes of it.
func (r *frameFilter) next() error {
	if r.holding {
		return r.release()
	}
	if !r.have {
		b, err := r.src.Peek(MinHeaderSize)
		if err == nil {
			b, err = r.src.Peek(RawHeader(b).Size())
		}
		if err != nil {
			if len(b) == 0 || isTimeout(err) {
				return err
			}
			r.mark(false)
			r.passthrough = true
			return nil
		}
		h, n, err := ParseHeader(b)
		if err != nil {
			// Let the parser find the error in the original bytes.
			r.mark(false)
			r.passthrough = true
			return nil
		}
		limit := r.c.cfg.maxMessage
		if limit <= 0 || limit > maxHookedFrame {
			limit = maxHookedFrame
		}
		if h.Length > limit {
			r.deflate.frame(&h) // not handed to the hook, but part of the message
			r.mark(false)
			r.out = append(r.out, b[:n]...)
			r.src.Discard(n)
			r.took(n, true)
			r.prod += int64(n)
			r.raw = h.Length
			return nil
		}
		if r.c.cfg.tracer.Enabled() {
			r.c.traceFrame(trace.In, h, r.wire, n)
		}
		r.src.Discard(n)
		r.took(n, !h.Opcode.IsControl())
		r.h, r.have, r.got = h, true, 0
		if int64(cap(r.pay)) >= h.Length {
			r.pay = r.pay[:h.Length]
		} else {
			r.pay = make([]byte, h.Length)
		}
	}
	for r.got < len(r.pay) {
		n, err := r.src.Read(r.pay[r.got:])
		r.got += n
		r.took(n, !r.h.Opcode.IsControl())
		if err != nil && r.got < len(r.pay) {
			return noEOF(err)
		}
	}
	r.have = false
	if r.h.Masked {
		Mask(r.h.Mask, 0, r.pay)
	}
	hs := r.c.frameHook.Load()
	if hs == nil {
		r.queue(r.h, r.pay, r.h.Masked)
		return nil
	}
	// The payload buffer is reused for the next frame; every frame is
	// encoded into out before that.
	var one [1]Frame
	frames, delay, err := r.c.applyHook(hs.h, trace.In, Frame{Header: r.h, Payload: r.pay}, r.deflate.frame(&r.h), one[:0])
	if err != nil {
		return err
	}
	if delay > 0 {
		r.holding, r.held, r.until = true, append(r.held[:0], frames...), time.Now().Add(delay)
		return r.release()
	}
	r.queueFrames(frames)
	return nil
}

// release waits until the held frames are due and queues them. When the
// read's context (the one bound with watchRead) ends first it returns
// os.ErrDeadlineExceeded, a timeout that the read turns into the
// context's error, and keeps them for the next read.
func (r *frameFilter) release() error {
	if d := time.Until(r.until); d > 0 {
		w := &r.c.rwatch
		w.mu.Lock()
		fired := w.fired
		w.mu.Unlock()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-fired:
			return os.ErrDeadlineExceeded
		case <-r.c.closed:
			return net.ErrClosed
		}
	}
	r.queueFrames(r.held)
	clear(r.held)
	r.holding, r.held = false, r.held[:0]
	return nil
}

// queueFrames encodes for the parser the frames that took the place of
// the one read.
func (r *frameFilter) queueFrames(frames []Frame) {
	for i, f := range frames {
		// The frame itself keeps the masking the hook left it; frames
		// the hook made are masked as the peer would have sent them.
		masked := f.Header.Masked
		if i > 0 {
			masked = !r.c.client
		}
		r.queue(f.Header, f.Payload, masked)
	}
}

// queue encodes one frame for the parser.
func (r *frameFilter) queue(h Header, p []byte, masked bool) {
	h.Length = int64(len(p))
	h.Masked = masked
	if masked && h.Mask == ([4]byte{}) {
		h.Mask = r.h.Mask
	}
	r.mark(true)
	before := len(r.out)
	r.out = AppendHeader(r.out, h)
	start := len(r.out)
	r.out = append(r.out, p...)
	if masked {
		Mask(h.Mask, 0, r.out[start:])
	}
	r.prod += int64(len(r.out) - before)
}

var _ io.Reader = (*frameFilter)(nil)
