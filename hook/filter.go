package hook

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Expr is a parsed boolean filter over units of type T.
type Expr[T any] interface {
	Match(u T) bool
	String() string
}

// ParseExpr parses a boolean expression of primitives: "not" or "!" binds
// tightest, then "and" or "&&" and "or" or "||", which parentheses must
// group when both are used (tcpdump reads them left to right, with one
// precedence; a rule that means something else to a tcpdump user is
// refused). Numbers are decimal; a leading 0, which tcpdump reads as
// octal, is refused. It stops before a ":" or the end. prim reads one primitive starting at the
// next word; it is how each layer brings its own words (packet fields
// here, frame fields in ws).
func ParseExpr[T any](w *Words, prim func(w *Words) (Expr[T], error)) (Expr[T], error) {
	p := exprParser[T]{w: w, prim: prim}
	return p.or()
}

type exprParser[T any] struct {
	w     *Words
	prim  func(w *Words) (Expr[T], error)
	depth int // the negations and parentheses open
}

// maxNesting bounds the negations and parentheses open at once in a
// filter, so that neither the parser nor a match, both recursive, goes
// as deep as a long rule could take them ("not not not …").
const maxNesting = 100

// or parses "or" chains of "and" chains, and refuses the two mixed
// without parentheses: tcpdump (pcap-filter) gives and and or one
// precedence, left to right, so "tcp or udp and port 53" is "(tcp or udp)
// and port 53" there, where C's rule, "tcp or (udp and port 53)", would
// drop every TCP packet without a word.
func (p *exprParser[T]) or() (Expr[T], error) {
	x, andAt, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.w.Peek() == "or" || p.w.Peek() == "||" {
		orAt := p.w.Pos()
		p.w.Next()
		y, yAndAt, err := p.and()
		if err != nil {
			return nil, err
		}
		if at := max(andAt, yAndAt); at >= 0 {
			return nil, p.w.Errorf(min(at, orAt), "and and or mixed without parentheses: tcpdump reads a or b and c as (a or b) and c; write the parentheses, e.g. (tcp or udp) and port 53, or tcp or (udp and port 53)")
		}
		x = orExpr[T]{x, y}
	}
	return x, nil
}

// and parses an "and" chain; andAt is the position of its first "and",
// or -1 for none.
func (p *exprParser[T]) and() (x Expr[T], andAt int, err error) {
	andAt = -1
	x, err = p.not()
	if err != nil {
		return nil, -1, err
	}
	for p.w.Peek() == "and" || p.w.Peek() == "&&" {
		if andAt < 0 {
			andAt = p.w.Pos()
		}
		p.w.Next()
		y, err := p.not()
		if err != nil {
			return nil, -1, err
		}
		x = andExpr[T]{x, y}
	}
	return x, andAt, nil
}

func (p *exprParser[T]) not() (Expr[T], error) {
	switch p.w.Peek() {
	case "not", "!":
		pos := p.w.Pos()
		p.w.Next()
		if p.depth >= maxNesting {
			return nil, p.w.Errorf(pos, "%d negations and parentheses nested, at most %d", p.depth+1, maxNesting)
		}
		p.depth++
		x, err := p.not()
		p.depth--
		if err != nil {
			return nil, err
		}
		return notExpr[T]{x}, nil
	case "(":
		pos := p.w.Pos()
		p.w.Next()
		if p.depth >= maxNesting {
			return nil, p.w.Errorf(pos, "%d negations and parentheses nested, at most %d", p.depth+1, maxNesting)
		}
		p.depth++
		x, err := p.or()
		p.depth--
		if err != nil {
			return nil, err
		}
		if p.w.Peek() != ")" {
			return nil, p.w.Errorf(p.w.Pos(), "%s where ')' closing the '(' at column %d belongs", p.w.describe(p.w.Peek()), pos+1)
		}
		p.w.Next()
		return parenExpr[T]{x}, nil
	case "", ":", ")", "and", "or", "&&", "||":
		return nil, p.w.Errorf(p.w.Pos(), "%s where a filter word belongs", p.w.describe(p.w.Peek()))
	}
	return p.prim(p.w)
}

func describeWord(s string) string {
	if s == "" {
		return "end of rule"
	}
	return strconv.Quote(s)
}

type orExpr[T any] struct{ x, y Expr[T] }

func (e orExpr[T]) Match(u T) bool { return e.x.Match(u) || e.y.Match(u) }
func (e orExpr[T]) String() string { return orOperand[T](e.x) + " or " + orOperand[T](e.y) }

// orOperand is x as an operand of or: an and in parentheses ("tcp or (udp
// and port 53)" for "tcp or udp port 53"), which parses back as it was.
func orOperand[T any](x Expr[T]) string {
	if _, ok := x.(andExpr[T]); ok {
		return "(" + x.String() + ")"
	}
	return x.String()
}

type andExpr[T any] struct{ x, y Expr[T] }

func (e andExpr[T]) Match(u T) bool { return e.x.Match(u) && e.y.Match(u) }
func (e andExpr[T]) String() string { return e.x.String() + " and " + e.y.String() }

type notExpr[T any] struct{ x Expr[T] }

func (e notExpr[T]) Match(u T) bool { return !e.x.Match(u) }
func (e notExpr[T]) String() string { return "not " + e.x.String() }

type parenExpr[T any] struct{ x Expr[T] }

func (e parenExpr[T]) Match(u T) bool { return e.x.Match(u) }
func (e parenExpr[T]) String() string { return "(" + e.x.String() + ")" }

// Filter is a packet filter in a subset of tcpdump's syntax (pcap-filter):
//
//	host ADDR, src host ADDR, dst host ADDR (also src ADDR, dst ADDR)
//	net CIDR, src net CIDR, dst net CIDR
//	port N, src port N, dst port N        TCP or UDP
//	tcp, udp, icmp, icmp6, ip, ip6        "tcp port 80" means "tcp and port 80"
//	syn, ack, fin, rst, psh, urg          a TCP segment with that flag set
//	len OP N                              IP packet length; OP is < <= > >= = == !=
//	less N, greater N                     len <= N, len >= N
//	and, &&, or, ||, not, !, ( )
//
// "ws" starts a WebSocket frame filter, which applies to frame rules, not
// to packets.
type Filter struct {
	e Expr[*Packet]
}

// ParseFilter parses a packet filter.
func ParseFilter(src string) (*Filter, error) {
	w := NewWords(src)
	f, err := parseFilterWords(w)
	if err == nil && !w.Done() {
		err = w.Errorf(w.Pos(), "unexpected %s", describeWord(w.Peek()))
	}
	if err != nil {
		// Given alone, it is a filter, not a rule.
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Kind = "filter"
		}
		return nil, err
	}
	return f, nil
}

func parseFilterWords(w *Words) (*Filter, error) {
	e, err := ParseExpr(w, PacketPrimitive)
	if err != nil {
		return nil, err
	}
	return &Filter{e: e}, nil
}

// Match reports whether p passes the filter; a nil Filter matches every
// packet.
func (f *Filter) Match(p *Packet) bool { return f == nil || f.e.Match(p) }

func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.e.String()
}

// ErrFrameFilter is the error, wrapped in a *SyntaxError, for a "ws" word
// where a packet filter or action belongs: frame rules ("ws opcode ping :
// drop") are parsed by ws.ParseFrameRule. errors.Is finds it.
var ErrFrameFilter = errors.New("a rule starting with ws is a frame rule (ws.ParseFrameRule), not a packet rule")

// PacketPrimitive reads one primitive of a packet filter (see Filter).
func PacketPrimitive(w *Words) (Expr[*Packet], error) {
	pos := w.Pos()
	switch kw := w.Next(); kw {
	case "tcp", "udp", "icmp", "icmp6", "ip", "ip6":
		e := protoExpr(kw)
		// tcpdump's qualifier form: "tcp port 80", "udp dst port 53".
		switch w.Peek() {
		case "port", "src", "dst", "host", "net":
			y, err := PacketPrimitive(w)
			if err != nil {
				return nil, err
			}
			return andExpr[*Packet]{e, y}, nil
		}
		return e, nil
	case "syn", "ack", "fin", "rst", "psh", "urg":
		return flagExpr(kw), nil
	case "host", "net", "port":
		return addrPrimitive(w, "", kw, pos)
	case "src", "dst":
		switch w.Peek() {
		case "host", "net", "port":
			return addrPrimitive(w, kw, w.Next(), pos)
		}
		return addrPrimitive(w, kw, "", pos)
	case "len":
		opPos := w.Pos()
		op := w.Next()
		switch op {
		case "<", "<=", ">", ">=", "=", "==", "!=":
		default:
			return nil, w.Errorf(opPos, "%s after len, want one of < <= > >= == !=", describeWord(op))
		}
		if op == "=" {
			op = "=="
		}
		n, err := intWord(w, "a length")
		if err != nil {
			return nil, err
		}
		return lenExpr{op, n}, nil
	case "less", "greater":
		n, err := intWord(w, "a length")
		if err != nil {
			return nil, err
		}
		if kw == "less" {
			return lenExpr{"<=", n}, nil
		}
		return lenExpr{">=", n}, nil
	case "ws":
		return nil, w.errorAt(pos, ErrFrameFilter)
	default:
		return nil, w.Errorf(pos, "unknown word %q", kw)
	}
}

func intWord(w *Words, what string) (int, error) {
	pos := w.Pos()
	s := w.Next()
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, w.Errorf(pos, "%s where %s belongs", describeWord(s), what)
	}
	if err := octalSlip(s, n); err != nil {
		return 0, w.Errorf(pos, "%v", err)
	}
	return n, nil
}

// octalSlip refuses a number written with a leading 0, which tcpdump
// reads as octal: "port 010" is port 8 there, and would be port 10 here
// without a word.
func octalSlip(s string, n int) error {
	if len(s) > 1 && s[0] == '0' {
		if v, err := strconv.ParseInt(s, 8, 64); err == nil {
			return fmt.Errorf("%s: tcpdump reads a leading 0 as octal, %d; write %d or %d", s, v, v, n)
		}
		return fmt.Errorf("%s: tcpdump reads a leading 0 as octal; write %d", s, n)
	}
	return nil
}

// addrPrimitive reads the operand of host, net or port (kind; "" when a
// bare src/dst leaves it to the operand's form), with dir "src", "dst" or
// "" for either.
func addrPrimitive(w *Words, dir, kind string, pos int) (Expr[*Packet], error) {
	opPos := w.Pos()
	s := w.Next()
	if kind == "" {
		switch {
		case strings.Contains(s, "/"):
			kind = "net"
		default:
			kind = "host"
		}
	}
	switch kind {
	case "port":
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 65535 {
			return nil, w.Errorf(opPos, "%s where a port number belongs", describeWord(s))
		}
		if err := octalSlip(s, n); err != nil {
			return nil, w.Errorf(opPos, "%v", err)
		}
		return portExpr{dir, uint16(n)}, nil
	case "host":
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, w.Errorf(opPos, "%s where an IP address belongs", describeWord(s))
		}
		return netExpr{dir, "host", netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())}, nil
	default:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, w.Errorf(opPos, "%s where a network (CIDR, e.g. 10.0.0.0/8) belongs", describeWord(s))
		}
		if p.Addr().Is4In6() {
			return nil, w.Errorf(opPos, "IPv4-mapped network %q: write the IPv4 network", s)
		}
		if m := p.Masked(); m != p {
			// as tcpdump refuses it: 10.0.0.1/24 is a host or a
			// network, and which was meant is not known
			return nil, w.Errorf(opPos, "%s has bits set past its /%d: the network is %s, the host %s", s, p.Bits(), m, p.Addr())
		}
		return netExpr{dir, "net", p}, nil
	}
}

type protoExpr string

func (e protoExpr) Match(p *Packet) bool {
	h := p.Headers()
	switch e {
	case "ip":
		return h.Version == 4
	case "ip6":
		return h.Version == 6
	case "tcp":
		return h.Version != 0 && h.Proto == ProtoTCP
	case "udp":
		return h.Version != 0 && h.Proto == ProtoUDP
	case "icmp":
		return h.Version == 4 && h.Proto == ProtoICMP
	case "icmp6":
		return h.Version == 6 && h.Proto == ProtoICMPv6
	}
	return false
}

func (e protoExpr) String() string { return string(e) }

var flagBits = map[flagExpr]uint8{"fin": FlagFIN, "syn": FlagSYN, "rst": FlagRST, "psh": FlagPSH, "ack": FlagACK, "urg": FlagURG}

type flagExpr string

func (e flagExpr) Match(p *Packet) bool {
	h := p.Headers()
	return h.Proto == ProtoTCP && h.L4 > 0 && h.Flags&flagBits[e] != 0
}

func (e flagExpr) String() string { return string(e) }

type portExpr struct {
	dir  string
	port uint16
}

func (e portExpr) Match(p *Packet) bool {
	h := p.Headers()
	if h.L4 == 0 || (h.Proto != ProtoTCP && h.Proto != ProtoUDP) {
		return false
	}
	switch e.dir {
	case "src":
		return h.SrcPort == e.port
	case "dst":
		return h.DstPort == e.port
	}
	return h.SrcPort == e.port || h.DstPort == e.port
}

func (e portExpr) String() string { return dirPrefix(e.dir) + "port " + strconv.Itoa(int(e.port)) }

type netExpr struct {
	dir, kind string
	p         netip.Prefix
}

func (e netExpr) Match(p *Packet) bool {
	h := p.Headers()
	if h.Version == 0 {
		return false
	}
	switch e.dir {
	case "src":
		return e.p.Contains(h.Src)
	case "dst":
		return e.p.Contains(h.Dst)
	}
	return e.p.Contains(h.Src) || e.p.Contains(h.Dst)
}

func (e netExpr) String() string {
	if e.kind == "host" {
		return dirPrefix(e.dir) + "host " + e.p.Addr().String()
	}
	return dirPrefix(e.dir) + "net " + e.p.String()
}

func dirPrefix(dir string) string {
	if dir == "" {
		return ""
	}
	return dir + " "
}

type lenExpr struct {
	op string
	n  int
}

func (e lenExpr) Match(p *Packet) bool {
	l := len(p.Data)
	switch e.op {
	case "<":
		return l < e.n
	case "<=":
		return l <= e.n
	case ">":
		return l > e.n
	case ">=":
		return l >= e.n
	case "==":
		return l == e.n
	case "!=":
		return l != e.n
	}
	return false
}

func (e lenExpr) String() string { return "len " + e.op + " " + strconv.Itoa(e.n) }
