package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// HookFrame is a frame as a FrameHook sees it. Payload is unmasked; the
// hook may change Header and Payload in place or replace Payload. The
// HookFrame and its Payload are valid only during the call: a hook that
// keeps a payload copies it.
type HookFrame struct {
	Frame
	// Dir is trace.In for a frame read, trace.Out for one written.
	Dir trace.Dir
	// Client is set on the client side of the connection.
	Client bool
	// Node and Conn name the connection as its trace events do.
	Node string
	Conn string
	// Compressed is set on every frame of a compressed message
	// (permessage-deflate): RSV1 marks only the first, and the payloads
	// of all of them are DEFLATE data, not the message's bytes.
	Compressed bool
}

// PayloadLen is the length of the frame's payload: len(Payload), or
// Header.Length when Payload is nil and the header says there is more, as
// for a frame described without its bytes (one rebuilt from a trace event).
// Filters read a frame's length through it.
func (f *HookFrame) PayloadLen() int64 {
	if f.Payload == nil {
		return f.Header.Length
	}
	return int64(len(f.Payload))
}

// deflating follows, frame by frame, whether the data message under way
// is compressed: RSV1 on its first frame says so for its continuations.
type deflating struct{ on bool }

// frame reports whether a frame with header h carries part of a
// compressed message.
func (d *deflating) frame(h *Header) bool {
	switch h.Opcode {
	case OpText, OpBinary:
		c := h.Rsv&Rsv1 != 0
		d.on = c && !h.Fin
		return c
	case OpContinuation:
		c := d.on
		if h.Fin {
			d.on = false
		}
		return c
	}
	return false
}

// FrameVerdict is a FrameHook's answer: a hook.Verdict and the frame-level
// effects it has no place for. The zero value passes.
type FrameVerdict struct {
	hook.Verdict
	// Split, if above 1, cuts a text, binary or continuation frame into
	// that many fragments (fewer when the payload is shorter): the first
	// keeps the opcode, the others are continuations, and only the last
	// keeps FIN. Control frames are never split.
	Split int
	// Frames are injected after the frame (with Action Inject, or with
	// any action but Drop).
	Frames []Frame
}

func (v *FrameVerdict) passes() bool {
	return (v.Action == hook.Pass || v.Action == hook.Hold) && v.Split <= 1 && len(v.Frames) == 0
}

// FrameHook changes WebSocket frames in flight. It sees every
// frame a Conn reads, after its header has been parsed and its payload
// unmasked but before any rule of RFC 6455 is checked or anything is
// delivered, and every frame it writes (data fragments, pings, pongs,
// close frames) before it is encoded. It answers with a FrameVerdict:
//
//	Pass                  the frame goes on (with any change the hook made in place)
//	Drop                  the frame vanishes
//	Modify                the hook edited Header (FIN, RSV, opcode) or Payload;
//	                      the length is re-encoded from len(Payload)
//	Delay                 the frame goes on after Verdict.Delay (a read whose context
//	                      ends first returns the context's error; the frame waits
//	                      for the next read)
//	Duplicate             the frame goes on Verdict.Copies+1 times
//	Inject                the frame goes on, followed by Verdict.Inject (encoded
//	                      frames, as WriteFrame makes them) and FrameVerdict.Frames;
//	                      an Inject that is not whole frames is an ErrHookInject
//	                      (a write returns it before anything is sent, a read
//	                      fails the connection with 1011)
//	Split n (any action)  a data frame is cut into n fragments (RFC 6455 §5.4)
//
// Hold is not supported for frames and passes. Frames a hook makes are
// masked as the direction requires (client to server masked): the hook
// never deals with masking keys.
//
// On the read side the frames the hook lets through are re-encoded into
// the stream the parser reads, so everything the parser checks still
// applies to them: a frame modified into something RFC 6455 forbids fails
// the connection exactly as if the peer had sent it. Changing a text
// frame's payload into invalid UTF-8 makes the receiver fail with 1007,
// a control frame longer than 125 bytes or with FIN clear gives 1002,
// dropping a close frame leaves Close to time out,
// dropping or duplicating the first fragment of a message gives 1002 while
// a later fragment silently shortens or repeats part of the message. These are
// experiments, not bugs. Trace offsets of frames read after a Modify,
// Drop or Split count the re-encoded stream.
//
// A hook installed with SetFrameHook on a connection that had none applies
// to the frames read after the one being waited for. A frame longer than
// the connection's message limit (or 64 MiB with no limit) is passed
// unhooked, so that a hook never buffers more than a message.
//
// Every verdict other than a pass is a "verdict" trace event (layer ws)
// with the fields action, reason, rule, opcode, len and effect.
//
// Decide is called from the
// reading goroutine and from every writing goroutine: it must be safe for
// concurrent use, and it must not call the Conn's read or write methods.
type FrameHook interface {
	Decide(f *HookFrame) FrameVerdict
}

// FrameHookFunc adapts a function to FrameHook.
type FrameHookFunc func(f *HookFrame) FrameVerdict

// Decide implements FrameHook.
func (fn FrameHookFunc) Decide(f *HookFrame) FrameVerdict { return fn(f) }

type frameHooks struct{ h FrameHook }

// SetFrameHook installs h for the frames c reads and writes from now on;
// nil removes it. It is safe to call at any time.
func (c *Conn) SetFrameHook(h FrameHook) {
	if h == nil {
		c.frameHook.Store(nil)
		return
	}
	c.frameHook.Store(&frameHooks{h: h})
}

// FrameHook returns the installed hook, or nil.
func (c *Conn) FrameHook() FrameHook {
	if hs := c.frameHook.Load(); hs != nil {
		return hs.h
	}
	return nil
}

var hookFrames = sync.Pool{New: func() any { return new(HookFrame) }}

// applyHook asks the hook about f and appends the frames that take its
// place (none for a drop) to frames; it also returns how long to wait
// before they go. An Inject that does not parse is an ErrHookInject, and
// then frames is returned as it came.
func (c *Conn) applyHook(h FrameHook, dir trace.Dir, f Frame, compressed bool, frames []Frame) ([]Frame, time.Duration, error) {
	// What the payload was, for the trace to say what the hook changed
	// in it (a hook may edit it in place); not kept for a long frame.
	var was []byte
	if c.cfg.tracer.Enabled() && len(f.Payload) <= maxEditShown {
		was = bytes.Clone(f.Payload)
	}
	hf := hookFrames.Get().(*HookFrame)
	*hf = HookFrame{Frame: f, Dir: dir, Client: c.client, Node: c.cfg.node, Conn: c.name, Compressed: compressed}
	v := h.Decide(hf)
	out := hf.Frame
	*hf = HookFrame{}
	hookFrames.Put(hf)
	out.Header.Length = int64(len(out.Payload))
	if v.passes() {
		return append(frames, out), 0, nil
	}
	if c.cfg.tracer.Enabled() {
		c.traceVerdict(dir, &f.Header, &out.Header, was, out.Payload, &v)
	}
	if v.Action == hook.Drop {
		return frames, 0, nil
	}
	var injected []Frame
	for i, b := range v.Inject {
		var err error
		if injected, err = appendInjected(injected, b); err != nil {
			return frames, 0, fmt.Errorf("%w: Inject[%d]: %w", ErrHookInject, i, err)
		}
	}
	copies := 1
	if v.Action == hook.Duplicate {
		copies += max(v.Copies, 0)
	}
	for range copies {
		frames = append(frames, splitFrame(out, v.Split)...)
	}
	frames = append(frames, injected...)
	for _, f := range v.Frames {
		f.Header.Length = int64(len(f.Payload))
		frames = append(frames, f)
	}
	var delay time.Duration
	if v.Action == hook.Delay {
		delay = v.Delay
	}
	return frames, delay, nil
}

// appendInjected parses b, one or more whole encoded frames, and appends
// them to frames.
func appendInjected(frames []Frame, b []byte) ([]Frame, error) {
	if len(b) == 0 {
		return frames, errors.New("no frame in 0 bytes")
	}
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		at := len(b) - r.Len()
		f, err := ReadFrame(r)
		if err != nil {
			return frames, fmt.Errorf("at byte %d: %w", at, err)
		}
		f.Header.Length = int64(len(f.Payload))
		frames = append(frames, f)
	}
	return frames, nil
}

// splitCount is how many fragments a Split of n cuts a frame with header h
// into: 1 for a control frame (RFC 6455 §5.4: never fragmented) or an
// unknown opcode, and no more than its payload has bytes.
func splitCount(h Header, n int) int {
	if n <= 1 || h.Opcode.IsControl() || !h.Opcode.Known() {
		return 1
	}
	return int(min(int64(n), max(h.Length, 1)))
}

// splitFrame cuts a data frame into n fragments. A compressed frame's
// fragments still hold the one DEFLATE stream, in pieces: the message
// inflates as before.
func splitFrame(f Frame, n int) []Frame {
	n = splitCount(f.Header, n)
	if n <= 1 {
		return []Frame{f}
	}
	out := make([]Frame, 0, n)
	p := f.Payload
	for i := range n {
		k := len(p) / (n - i)
		h := f.Header
		h.Fin = f.Header.Fin && i == n-1
		if i > 0 {
			// RSV1 marks a compressed message on its first frame
			// only (RFC 7692 §6.1): a continuation carrying it
			// fails the connection.
			h.Opcode = OpContinuation
			h.Rsv &^= Rsv1
		}
		h.Length = int64(k)
		out = append(out, Frame{Header: h, Payload: p[:k:k]})
		p = p[k:]
	}
	return out
}

func (c *Conn) traceVerdict(dir trace.Dir, before, after *Header, was, now []byte, v *FrameVerdict) {
	a := v.Action
	if a == hook.Pass || a == hook.Hold {
		a = hook.Modify
	}
	e := verdictEffect(before, after, was, now, v)
	c.emit(dir, "verdict", fmt.Sprintf("%v frame: %v: %s", before.Opcode, a, e),
		(&trace.WSVerdict{Action: a.String(), Reason: v.Reason, Rule: v.Rule, Opcode: before.Opcode.String(),
			Len: before.Length, Effect: e}).Fields()...)
}

// maxEditShown is the longest payload whose edit the trace describes
// byte by byte; a longer one is "payload edited".
const maxEditShown = 4096

// verdictEffect says what a verdict did to a frame whose header was before
// and is after, and whose payload was was (nil when not kept) and is now:
// "dropped", "1 more copy", "now TEXT fin len=3, split into 2",
// `payload "hello" → "HELLO"`.
func verdictEffect(before, after *Header, was, now []byte, v *FrameVerdict) string {
	var effect []string
	switch v.Action {
	case hook.Drop:
		effect = append(effect, "dropped")
	case hook.Delay:
		effect = append(effect, "delayed "+v.Delay.String())
	case hook.Duplicate:
		if v.Copies == 1 {
			effect = append(effect, "1 more copy")
		} else {
			effect = append(effect, strconv.Itoa(v.Copies)+" more copies")
		}
	case hook.Modify:
		if *before != *after {
			effect = append(effect, "now "+after.String())
		}
		switch {
		case was == nil && *before == *after:
			effect = append(effect, "payload edited")
		case was == nil:
		case !bytes.Equal(was, now):
			effect = append(effect, payloadEdit(was, now))
		case *before == *after:
			effect = append(effect, "nothing changed")
		}
	}
	if v.Split > 1 && v.Action != hook.Drop {
		if n := splitCount(*after, v.Split); n > 1 {
			effect = append(effect, "split into "+strconv.Itoa(n))
		} else if after.Opcode.IsControl() || !after.Opcode.Known() {
			effect = append(effect, "not split: a control frame is never fragmented")
		}
	}
	if n := len(v.Inject) + len(v.Frames); n > 0 && v.Action != hook.Drop {
		effect = append(effect, strconv.Itoa(n)+" injected")
	}
	return strings.Join(effect, ", ")
}

// payloadEdit says how a payload changed from was to now: the two
// quoted when both are short text, else how many bytes.
func payloadEdit(was, now []byte) string {
	const shortText = 40
	switch {
	case len(was) <= shortText && len(now) <= shortText && utf8.Valid(was) && utf8.Valid(now):
		return fmt.Sprintf("payload %q → %q", was, now)
	case len(was) != len(now):
		return fmt.Sprintf("payload %d → %d bytes", len(was), len(now))
	}
	n := 0
	for i := range was {
		if was[i] != now[i] {
			n++
		}
	}
	return fmt.Sprintf("payload %d of %d bytes changed", n, len(now))
}

// writeHooked sends one frame through the hook.
func (c *Conn) writeHooked(ctx context.Context, h FrameHook, fh Header, p []byte) error {
	// The hook may edit the payload in place: give it a copy, not the
	// caller's buffer.
	fh.Length = int64(len(p))
	f := Frame{Header: fh, Payload: bytes.Clone(p)}
	var one [1]Frame
	frames, delay, err := c.applyHook(h, trace.Out, f, c.wdeflate.frame(&fh), one[:0])
	if err != nil {
		return err
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return net.ErrClosed
		}
	}
	for i, f := range frames {
		if err := c.writeRaw(ctx, f.Header, f.Payload); err != nil {
			if i > 0 && errors.Is(err, ErrCloseSent) {
				// Frames injected behind a close frame are not sent
				// (RFC 6455 §5.5.1); the close frame itself went.
				continue
			}
			return err
		}
	}
	return nil
}
