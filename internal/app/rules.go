package app

import (
	"fmt"
	"sort"
	"strings"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// Rules are the --egress and --ingress rules of a command, as written
// (hook.Rule has the syntax).
type Rules struct {
	Egress  []string `json:",omitempty"`
	Ingress []string `json:",omitempty"`
}

// chains parses the packet rules into the chains for the link hook
// points. Frame rules (starting with "ws") are left to frameHook.
func (r Rules) chains() (egress, ingress *hook.Chain, err error) {
	// One count for both: `--egress 'loss 10%' --ingress 'loss 10%'`
	// loses packets each way apart, not the nth of each in step.
	var seeds hook.RuleSeeds
	if egress, err = seeds.ParseRules(packetRules(r.Egress)); err != nil {
		return nil, nil, fmt.Errorf("--egress: %w", err)
	}
	if ingress, err = seeds.ParseRules(packetRules(r.Ingress)); err != nil {
		return nil, nil, fmt.Errorf("--ingress: %w", err)
	}
	if _, err := r.frameHook(); err != nil {
		return nil, nil, err
	}
	return egress, ingress, nil
}

// frameHook parses the frame rules ("ws opcode ping : drop") into one
// hook for the WebSocket connections of the side the rules belong to:
// --egress rules see the frames it writes, --ingress rules the frames it
// reads. It is nil when there are none.
func (r Rules) frameHook() (*ws.FrameCounter, error) {
	out, err := ws.ParseFrameRules(frameRules(r.Egress), trace.Out)
	if err != nil {
		return nil, fmt.Errorf("--egress: %w", err)
	}
	in, err := ws.ParseFrameRules(frameRules(r.Ingress), trace.In)
	if err != nil {
		return nil, fmt.Errorf("--ingress: %w", err)
	}
	var rs ws.FrameRules
	for _, h := range []ws.FrameHook{out, in} {
		if h != nil {
			rs = append(rs, h)
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return ws.CountFrames(rs), nil
}

func packetRules(srcs []string) []string {
	var out []string
	for _, s := range srcs {
		if !ws.IsFrameRule(s) {
			out = append(out, s)
		}
	}
	return out
}

func frameRules(srcs []string) []string {
	var out []string
	for _, s := range srcs {
		if ws.IsFrameRule(s) {
			out = append(out, s)
		}
	}
	return out
}

// Check parses the rules and reports the first that does not parse.
func (r Rules) Check() error {
	_, _, err := r.chains()
	return err
}

// verdictSummary says what the link hooks and the frame rules (frames,
// which may be nil) decided: "link-egress drop loss 12, ws out text modify
// split 3", or "" when they decided nothing.
func verdictSummary(s netstack.Stats, frames *ws.FrameCounter) string {
	var parts []string
	for k, n := range s.Verdicts {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	if frames != nil {
		for k, n := range frames.Counts() {
			parts = append(parts, fmt.Sprintf("ws %s %d", k, n))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// stackCounters is what `glassnet ss` shows under the socket table: link
// drops by reason, the stack's drops of packets that passed the link
// (bad checksums, malformed headers), device errors by reason, and what the packet,
// socket-call and frame hooks decided. frames may be nil.
func stackCounters(st *netstack.Stack, socks *sockets.Sockets, frames *ws.FrameCounter) map[string]uint64 {
	s := st.Stats()
	m := make(map[string]uint64, len(s.Drops)+len(s.Verdicts))
	for r, n := range s.Drops {
		m["drop "+string(r)] = n
	}
	for k, n := range s.Verdicts {
		m["verdict "+k.String()] = n
	}
	for k, n := range s.DeviceErrors {
		m["device error "+k] = n
	}
	// What passed the link's checks and the stack rejected above it.
	for r, n := range s.Malformed.Reasons() {
		m["drop "+r] = n
	}
	if s.Held+s.Continued > 0 {
		m["link held"] = s.Held
		m["link continued"] = s.Continued
	}
	// Connections TCP gave up on: data or a FIN never acknowledged, a
	// keepalive unanswered, and a connection the application closed
	// whose peer vanished or keeps its window shut (gVisor patches 57
	// and 63: after about 100 s and 5 minutes, as Linux's orphans).
	m["tcp timed out"] = st.Stack().Stats().TCP.EstablishedTimedout.Value()
	// Datagrams that reached a socket whose receive buffer was full (or
	// closed), as Linux's UdpRcvbufErrors: a flood faster than the UDP
	// echo reads loses them here.
	m["drop udp-receive-buffer"] = st.Stack().Stats().UDP.ReceiveBufferErrors.Value()
	for k, n := range socks.CallVerdicts() {
		m["verdict socket "+k.String()] = n
	}
	if frames != nil {
		for k, n := range frames.Counts() {
			m["verdict ws "+k.String()] = n
		}
	}
	return m
}
