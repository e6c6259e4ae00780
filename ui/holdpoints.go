package ui

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// linkHold is the hold point at the end of a link chain.
type linkHold struct {
	s     *Server
	nd    *node
	point string
}

func (l *linkHold) String() string { return "ui hold" }

// Decide implements hook.PacketHook: a packet it holds leaves the path
// (hook.Hold) and goes on with Stack.Continue from the same hook point
// when the page decides.
func (l *linkHold) Decide(p *hook.Packet) hook.Verdict {
	s := l.s
	u := &held{data: append([]byte(nil), p.Data...), summary: packetSummary(p.Data), resize: true}
	if !s.take(l.nd, l.point, func(a *armed) bool { return a.packet.Match(p) }, u) {
		return hook.Verdict{}
	}
	dir := trace.Out
	if l.point == PointLinkIngress {
		dir = trace.In
	}
	st := l.nd.Stack
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d := s.wait(u)
		pkt := u.data
		if d.data != nil {
			pkt = d.data
		}
		if d.action != "drop" && d.data != nil && !bytes.Equal(d.data, u.data) {
			// traced before the packet goes on, so that the trace says
			// what was changed between the held step and the packet
			st.Edited(dir, pkt, "ui-edit: "+describeEdit(u.data, pkt, u.seqBase, u.ackBase), "ui hold")
		}
		var err error
		switch d.action {
		case "drop":
			// counted and traced as the hook's drop, so that the trace
			// (and the ladder's ✗) says what became of the packet
			st.Discard(dir, pkt, "ui-drop", "ui hold")
		case "duplicate":
			st.Duplicated(dir, pkt, "ui-duplicate", "ui hold")
			if err = sendOn(st, dir, pkt); err == nil {
				err = sendOn(st, dir, pkt)
			}
		case "delay":
			select {
			case <-st.Done():
				// nothing will take it later either
				err = fmt.Errorf("netstack: continue: %w", net.ErrClosed)
			default:
				// on the stack's clock: a stepped run's pause does not
				// count, as for the stack's own timers
				fired := make(chan struct{})
				t := st.Stack().Clock().AfterFunc(d.delay, func() {
					close(fired)
					sendOn(st, dir, pkt)
				})
				// A stack that closes first takes the packet nowhere
				// (nor does its clock, stopped, fire): that is said,
				// rather than the packet vanishing from the trace
				// after its held step.
				go func() {
					select {
					case <-fired:
					case <-st.Done():
						if t.Stop() {
							st.Discard(dir, pkt, "ui-delay: the stack closed before the delay of "+d.delay.String()+" ended", "ui hold")
						}
					}
				}()
			}
		default:
			err = sendOn(st, dir, pkt)
		}
		if d.result != nil {
			d.result <- err
		}
	}()
	return hook.Verdict{Action: hook.Hold, Reason: "ui-hold", Rule: "ui hold"}
}

// sendOn sends a held packet on from the hook point of dir. A packet the
// stack refuses (an edit made it longer than the link's MTU, say) goes no
// further, and is traced as the hold's drop, saying why: otherwise the
// trace would end at the edit, as if the packet had been sent.
func sendOn(st *netstack.Stack, dir trace.Dir, pkt []byte) error {
	err := st.Continue(dir, pkt)
	if errors.Is(err, netstack.ErrContinue) {
		why := strings.TrimPrefix(err.Error(), netstack.ErrContinue.Error()+": ")
		st.Discard(dir, pkt, "ui-unsendable: "+why, "ui hold")
	}
	return err
}

// callHold is the socket-send hold point.
type callHold struct {
	s    *Server
	nd   *node
	prev sockets.CallHook
}

// Decide implements sockets.CallHook.
func (c *callHold) Decide(call *sockets.Call) sockets.CallVerdict {
	if call.Name == "send" || call.Name == "sendto" {
		u := &held{data: append([]byte(nil), call.Buf...), fd: call.FD,
			summary: fmt.Sprintf("%s fd %d, %d bytes", call.Name, call.FD, len(call.Buf))}
		if c.s.take(c.nd, PointSocketSend, func(*armed) bool { return true }, u) {
			d := c.s.wait(u)
			go c.s.installHoldHooks(c.nd)
			var v sockets.CallVerdict
			if d.data != nil && len(d.data) == len(call.Buf) {
				if n := diffBytes(call.Buf, d.data); n > 0 {
					// traced as a verdict, as every other outcome of a hold
					v.Action, v.Reason = hook.Modify, fmt.Sprintf("%d of %d bytes edited", n, len(call.Buf))
				}
				copy(call.Buf, d.data)
			}
			switch d.action {
			case "drop":
				v.Action, v.Reason = hook.Drop, "ui-drop"
			case "delay":
				v.Action, v.Delay = hook.Delay, d.delay
			}
			v.Rule = "ui hold"
			return v
		}
	}
	if c.prev != nil {
		return c.prev.Decide(call)
	}
	return sockets.CallVerdict{}
}

// holdFrame holds f if a hold is armed for it.
func (s *Server) holdFrame(nd *node, f *ws.HookFrame) ws.FrameVerdict {
	point := PointWSIn
	if f.Dir == trace.Out {
		point = PointWSOut
	}
	if !s.holdsArmedAt(nd.Name, point) {
		return ws.FrameVerdict{}
	}
	u := &held{data: append([]byte(nil), f.Payload...), opcode: f.Header.Opcode, fin: f.Header.Fin, resize: true,
		compressed: f.Compressed,
		summary:    fmt.Sprintf("%s %s %s fin=%v len=%d", f.Conn, f.Dir, f.Header.Opcode, f.Header.Fin, len(f.Payload))}
	if !s.take(nd, point, func(a *armed) bool { return a.frame == nil || a.frame.Match(f) }, u) {
		return ws.FrameVerdict{}
	}
	d := s.wait(u)
	var v ws.FrameVerdict
	v.Rule = "ui hold"
	if d.edited {
		f.Header.Opcode, f.Header.Fin = d.opcode, d.fin
		if d.data != nil {
			f.Payload = d.data
		}
		// The reason says what changed: a duplicate's or a delay's
		// verdict says only its own effect, and the edit would go
		// unsaid.
		v.Action, v.Reason = hook.Modify, "ui-edit: "+frameEdit(u, d)
	}
	switch d.action {
	case "drop":
		v.Action, v.Reason = hook.Drop, "ui-drop"
	case "duplicate":
		v.Action, v.Copies = hook.Duplicate, 1
	case "delay":
		v.Action, v.Delay = hook.Delay, d.delay
	}
	return v
}

// frameEdit says what the decision d changed in the held frame u, as the
// edit of a held packet is said: "opcode text → binary, payload 15 → 2
// bytes".
func frameEdit(u *held, d decision) string {
	var parts []string
	if d.opcode != u.opcode {
		parts = append(parts, fmt.Sprintf("opcode %v → %v", u.opcode, d.opcode))
	}
	if d.fin != u.fin {
		parts = append(parts, fmt.Sprintf("fin %v → %v", u.fin, d.fin))
	}
	switch {
	case d.data == nil:
	case len(d.data) != len(u.data):
		parts = append(parts, fmt.Sprintf("payload %d → %d bytes", len(u.data), len(d.data)))
	default:
		parts = append(parts, fmt.Sprintf("payload %d of %d bytes changed", diffBytes(u.data, d.data), len(d.data)))
	}
	return strings.Join(parts, ", ")
}
