package ws

import (
	"bytes"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// IsFrameRule reports whether src is a frame rule (its first word is "ws")
// rather than a packet rule.
func IsFrameRule(src string) bool {
	f := strings.Fields(src)
	return len(f) > 0 && (f[0] == "ws" || strings.HasPrefix(f[0], "ws:"))
}

// ParseFrameRule parses a frame rule as written after --egress (frames this
// side writes, dir trace.Out) or --ingress (frames it reads, trace.In):
//
//	ws [FILTER] : ACTION [seed N]
//
// FILTER combines, with and/or/not and parentheses (hook.ParseExpr),
//
//	opcode NAME        text, binary, continuation, close, ping, pong or a number
//	text, binary, ...  short for opcode NAME
//	fin                the FIN bit is set
//	masked             the frame is masked (frames from a client)
//	compressed         the frame is part of a compressed message (RFC 7692)
//	len OP N           payload length; OP is < <= > >= == !=
//	contains WORD      the payload contains WORD
//
// len and contains see the payload as it goes on the wire: the DEFLATE
// bytes of a compressed message, in which a word is not found.
// "not compressed and contains WORD" says so in the rule.
//
// ACTION is one of
//
//	drop               the frame vanishes
//	loss P%            each matching frame vanishes with probability P
//	delay D            the frame goes on after D
//	duplicate [N]      the frame goes on N+1 times (N defaults to 1)
//	split N            a data frame is cut into N fragments
//
// An error is a *hook.SyntaxError naming the column.
func ParseFrameRule(src string, dir trace.Dir) (*FrameRule, error) {
	w := hook.NewWords(src)
	if kw := w.Next(); kw != "ws" {
		return nil, w.Errorf(0, "a frame rule starts with ws")
	}
	var expr hook.Expr[*HookFrame]
	if w.Peek() != ":" && !w.Done() {
		var err error
		if expr, err = hook.ParseExpr(w, framePrimitive); err != nil {
			return nil, err
		}
	}
	if w.Done() {
		return nil, w.Errorf(len(src), "no action: a frame rule is ws [FILTER] : ACTION")
	}
	if pos, tok := w.Pos(), w.Next(); tok != ":" {
		return nil, w.Errorf(pos, "unexpected %q in the frame filter", tok)
	}
	r := &FrameRule{Name: src, Match: FrameMatch{Dir: dir}}
	if err := parseFrameAction(w, r); err != nil {
		return nil, err
	}
	if expr != nil {
		prev := r.Match.Match
		r.Match.Match = func(f *HookFrame) bool {
			return expr.Match(f) && (prev == nil || prev(f))
		}
	}
	return r, nil
}

// ParseFrameRules parses several frame rules for one direction into one
// hook that asks them in order; nil when there are none.
func ParseFrameRules(srcs []string, dir trace.Dir) (FrameHook, error) {
	var rs FrameRules
	for _, src := range srcs {
		r, err := ParseFrameRule(src, dir)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return rs, nil
}

// ParseFrameFilter parses the selecting half of a frame rule, "ws
// [FILTER]" without ": ACTION" (the FILTER words of ParseFrameRule), for a
// program that picks frames without acting on them, such as a breakpoint.
// It returns nil for a plain "ws", which selects every frame. An error is a
// *hook.SyntaxError naming the column, as ParseFrameRule gives it.
func ParseFrameFilter(src string) (hook.Expr[*HookFrame], error) {
	w := hook.NewWords(src)
	if kw := w.Next(); kw != "ws" {
		return nil, w.Errorf(0, "a frame filter starts with ws")
	}
	if w.Done() {
		return nil, nil
	}
	expr, err := hook.ParseExpr(w, framePrimitive)
	if err != nil {
		return nil, err
	}
	if !w.Done() {
		pos, tok := w.Pos(), w.Next()
		return nil, w.Errorf(pos, "unexpected %q in the frame filter", tok)
	}
	return expr, nil
}

func parseFrameAction(w *hook.Words, r *FrameRule) error {
	pos := w.Pos()
	action := w.Next()
	v := FrameVerdict{Verdict: hook.Verdict{Reason: action}}
	switch action {
	case "drop":
		v.Action = hook.Drop
	case "loss":
		p, err := w.Percent()
		if err != nil {
			return err
		}
		v.Action = hook.Drop
		seed := ruleSeed(r.Name)
		if w.Peek() == "seed" {
			w.Next()
			spos := w.Pos()
			n, err := strconv.ParseUint(w.Next(), 10, 64)
			if err != nil {
				return w.Errorf(spos, "a seed is a whole number")
			}
			seed = n
		}
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		r.Match.Match = func(*HookFrame) bool {
			mu.Lock()
			defer mu.Unlock()
			return rng.Float64()*100 < p
		}
	case "delay":
		d, err := w.Delay()
		if err != nil {
			return err
		}
		v.Action, v.Delay = hook.Delay, d
	case "duplicate":
		v.Action, v.Copies = hook.Duplicate, 1
		if n, err := strconv.Atoi(w.Peek()); err == nil {
			w.Next()
			if n < 1 || n > 100 {
				return w.Errorf(w.PrevPos(), "duplicate takes 1 to 100 copies")
			}
			v.Copies = n
		}
	case "split":
		npos := w.Pos()
		n, err := strconv.Atoi(w.Next())
		if err != nil || n < 2 || n > 1000 {
			return w.Errorf(npos, "split takes a number of fragments from 2 to 1000")
		}
		v.Action, v.Split = hook.Modify, n
	case "":
		return w.Errorf(pos, "no action after ':'")
	default:
		return w.Errorf(pos, "unknown frame action %q (drop, loss, delay, duplicate, split)", action)
	}
	if !w.Done() {
		return w.Errorf(w.Pos(), "unexpected %q after the action", w.Peek())
	}
	r.Verdict = v
	return nil
}

func ruleSeed(src string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(src))
	return h.Sum64()
}

// framePrimitive reads one primitive of a frame filter.
func framePrimitive(w *hook.Words) (hook.Expr[*HookFrame], error) {
	pos := w.Pos()
	switch kw := w.Next(); kw {
	case "opcode":
		npos := w.Pos()
		op, err := ParseOpcode(w.Next())
		if err != nil {
			return nil, w.Errorf(npos, "an opcode is text, binary, continuation, close, ping, pong or a number")
		}
		name := op.String()
		if !op.Known() {
			name = "0x" + strconv.FormatUint(uint64(op), 16) // opcode(0x3) would not read back as one word
		}
		return frameExpr{"opcode " + name, func(f *HookFrame) bool { return f.Header.Opcode == op }}, nil
	case "text", "binary", "continuation", "close", "ping", "pong":
		op, _ := ParseOpcode(kw)
		return frameExpr{kw, func(f *HookFrame) bool { return f.Header.Opcode == op }}, nil
	case "fin":
		return frameExpr{"fin", func(f *HookFrame) bool { return f.Header.Fin }}, nil
	case "masked":
		return frameExpr{"masked", func(f *HookFrame) bool { return f.Header.Masked }}, nil
	case "compressed":
		return frameExpr{"compressed", func(f *HookFrame) bool { return f.Compressed }}, nil
	case "len":
		opos := w.Pos()
		op := w.Next()
		npos := w.Pos()
		n, err := strconv.ParseInt(w.Next(), 10, 64)
		if err != nil || n < 0 {
			return nil, w.Errorf(npos, "a length is a whole number of bytes")
		}
		var cmp func(int64) bool
		switch op {
		case "<":
			cmp = func(l int64) bool { return l < n }
		case "<=":
			cmp = func(l int64) bool { return l <= n }
		case ">":
			cmp = func(l int64) bool { return l > n }
		case ">=":
			cmp = func(l int64) bool { return l >= n }
		case "==", "=":
			cmp = func(l int64) bool { return l == n }
		case "!=":
			cmp = func(l int64) bool { return l != n }
		default:
			return nil, w.Errorf(opos, "%q after len (want < <= > >= == !=)", op)
		}
		return frameExpr{"len " + op + " " + strconv.FormatInt(n, 10), func(f *HookFrame) bool { return cmp(f.PayloadLen()) }}, nil
	case "contains":
		wpos := w.Pos()
		s := w.Next()
		if s == "" || s == ":" {
			return nil, w.Errorf(wpos, "contains takes a word")
		}
		b := []byte(s)
		return frameExpr{"contains " + s, func(f *HookFrame) bool { return bytes.Contains(f.Payload, b) }}, nil
	case "":
		return nil, w.Errorf(pos, "end of the frame filter where a frame word belongs")
	default:
		return nil, w.Errorf(pos, "unknown frame word %q (opcode, text, binary, ping, pong, close, continuation, fin, masked, compressed, len, contains)", kw)
	}
}

type frameExpr struct {
	s string
	f func(*HookFrame) bool
}

func (e frameExpr) Match(f *HookFrame) bool { return e.f(f) }
func (e frameExpr) String() string          { return e.s }

// FrameMatch selects frames by simple predicates, for rules such as
// "ws opcode ping : drop". The zero value matches every frame.
type FrameMatch struct {
	// Dir is trace.In (frames read), trace.Out (frames written) or ""
	// for both.
	Dir trace.Dir
	// Opcodes, if not empty, lists the opcodes that match.
	Opcodes []Opcode
	// Fin, if not nil, must equal the frame's FIN bit.
	Fin *bool
	// Length, if not nil, must hold for the payload length.
	Length func(n int64) bool
	// Contains, if not empty, must occur in the (unmasked) payload.
	Contains []byte
	// Side is "client", "server" or "" for both.
	Side string
	// Match, if not nil, must hold too.
	Match func(f *HookFrame) bool
}

// Matches reports whether f satisfies every predicate of m.
func (m *FrameMatch) Matches(f *HookFrame) bool {
	if m.Dir != "" && m.Dir != f.Dir {
		return false
	}
	if len(m.Opcodes) > 0 {
		ok := false
		for _, op := range m.Opcodes {
			ok = ok || op == f.Header.Opcode
		}
		if !ok {
			return false
		}
	}
	switch {
	case m.Fin != nil && *m.Fin != f.Header.Fin,
		m.Length != nil && !m.Length(f.PayloadLen()),
		len(m.Contains) > 0 && !bytes.Contains(f.Payload, m.Contains),
		m.Side == "client" && !f.Client,
		m.Side == "server" && f.Client,
		m.Match != nil && !m.Match(f):
		return false
	}
	return true
}

// FrameRule is a FrameHook made of a match and what to do with the frames
// it selects: Edit, if set, runs first (to modify the frame in place),
// then Verdict is returned. Frames that do not match pass. Name is the
// rule's text, for the trace; it fills Verdict.Rule when that is empty.
type FrameRule struct {
	Name    string
	Match   FrameMatch
	Edit    func(f *HookFrame)
	Verdict FrameVerdict
}

// Decide implements FrameHook.
func (r *FrameRule) Decide(f *HookFrame) FrameVerdict {
	if !r.Match.Matches(f) {
		return FrameVerdict{}
	}
	if r.Edit != nil {
		r.Edit(f)
	}
	v := r.Verdict
	if v.Rule == "" {
		v.Rule = r.Name
	}
	return v
}

// FrameRules is a FrameHook that asks each hook in turn and returns the
// first verdict that is not a plain pass; edits made in place by earlier
// hooks are seen by later ones.
type FrameRules []FrameHook

// Decide implements FrameHook.
func (rs FrameRules) Decide(f *HookFrame) FrameVerdict {
	for _, h := range rs {
		if v := h.Decide(f); !v.passes() {
			return v
		}
	}
	return FrameVerdict{}
}
