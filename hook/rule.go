package hook

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rule is a packet rule as written on the command line:
//
//	[FILTER :] ACTION [seed N]
//
// FILTER is a Filter (a tcpdump-like expression); without one the action
// applies to every packet. ACTION is one of
//
//	drop
//	loss P%                                 each packet lost with probability P
//	loss gemodel P% [R% [1-H% [1-K%]]]      Gilbert-Elliott bursts, as netem
//	delay D [jitter J [distribution uniform|normal]]
//	duplicate P%
//	reorder P% [gap D]                      held back D (10ms) so later ones overtake
//	corrupt P%                              one bit flipped, checksums left wrong
//	rate R [OVERHEAD [CELLSIZE [CELLOVERHEAD]]] [burst SIZE] [limit SIZE]
//	                                        token bucket; R in bit, kbit, mbit,
//	                                        gbit (x1000) or bps, kbps, mbps (bytes)
//	                                        from 200bit; OVERHEAD and the cells
//	                                        as netem's, in bytes; limit: what
//	                                        may wait (1mb, or a minute's worth
//	                                        if less)
//	rst after N [packets]                   reset each matching TCP connection
//	rst after SIZE bytes                    ... once SIZE payload bytes have passed
//	ttl N, window N                         rewrite, checksums fixed
//
// Durations are Go's, with their unit (100ms, 1.5s); SIZE is bytes with an
// optional b, kb, mb (x1024). No rule holds a packet longer than MaxDelay
// (a minute): a delay with its jitter at the far end (D+J uniform, D+3J
// normal), a reorder gap, a rate's full queue (its limit at its rate; a
// packet that would wait longer is dropped, as one past the limit), and
// the least rate is the one that sends a 1500-byte packet within it. A
// longer hold is most likely a slip (h for ms) that would wedge the
// connection. Actions that draw random numbers, and only they, take
// "seed N"; without it the seed is derived from the rule's text (and,
// for the second of two rules alike in ParseRules, from its count), so a
// run repeats exactly.
//
// A Rule may also be built by hand: set Action and the fields it reads,
// and Hook checks them.
type Rule struct {
	// Src is the rule as given.
	Src string
	// Filter selects the packets; nil selects all.
	Filter *Filter
	// Action is what the rule does; the zero value is none, which Hook
	// refuses.
	Action RuleAction

	Percent float64 // loss, duplicate, reorder, corrupt; gemodel's P
	// GE holds gemodel's values after P, as given: R, then 1-H, then
	// 1-K, in percent (none to three of them; without R, R is 100% - P,
	// netem's Bernoulli case).
	GE        []float64
	Delay     time.Duration // delay; reorder's gap
	Jitter    time.Duration
	Dist      Distribution
	distGiven bool
	Rate      uint64 // bits per second
	Burst     int
	Limit     int
	// Overhead, CellSize and CellOverhead count a packet's bytes at a
	// rate as netem's PACKETOVERHEAD, CELLSIZE and CELLOVERHEAD do: the
	// IP packet's length plus Overhead (a link header, say; it may be
	// negative), then, with a CellSize, in whole cells of CellSize plus
	// CellOverhead bytes each.
	Overhead, CellSize, CellOverhead int

	After int
	// AfterBytes: After counts payload bytes (rst after N bytes).
	AfterBytes bool
	TTL        uint8
	Window     uint16
	// Seed seeds the actions that draw random numbers. Zero derives the
	// seed from the rule's text, unless the text said "seed 0".
	Seed      uint64
	seedGiven bool
	// nth counts the rules before this one with the same text and a
	// derived seed (ParseRules, RuleSeeds), so that each draws its own
	// numbers.
	nth int
}

// MaxDelay is the longest a rule may hold a packet (see Rule). Past it a
// held segment is one TCP has sent again many times over (its
// retransmission timer starts at 200 ms and doubles), the copies fill the
// delay queue, and the connection only seems to hang.
const MaxDelay = time.Minute

// MinRate is the least rate a rule may shape to, in bits per second: the
// one that sends a 1500-byte packet in MaxDelay.
const MinRate = 1500 * 8 / uint64(MaxDelay/time.Second)

// RuleAction is what a Rule does to the packets it selects. Its String is
// the action's keyword(s) in the rule syntax.
type RuleAction uint8

// Rule actions; the zero RuleAction is none.
const (
	RuleDrop      RuleAction = iota + 1 // drop
	RuleLoss                            // loss P%
	RuleLossGE                          // loss gemodel P% [R% [1-H% [1-K%]]]
	RuleDelay                           // delay D [jitter J [distribution uniform|normal]]
	RuleDuplicate                       // duplicate P%
	RuleReorder                         // reorder P% [gap D]
	RuleCorrupt                         // corrupt P%
	RuleRate                            // rate R [burst SIZE] [limit SIZE]
	RuleRST                             // rst after N [packets|bytes]
	RuleTTL                             // ttl N
	RuleWindow                          // window N
)

var ruleActionNames = [...]string{
	RuleDrop: "drop", RuleLoss: "loss", RuleLossGE: "loss gemodel", RuleDelay: "delay",
	RuleDuplicate: "duplicate", RuleReorder: "reorder", RuleCorrupt: "corrupt", RuleRate: "rate",
	RuleRST: "rst", RuleTTL: "ttl", RuleWindow: "window",
}

func (a RuleAction) String() string {
	if a > 0 && int(a) < len(ruleActionNames) {
		return ruleActionNames[a]
	}
	return "rule-action(" + strconv.Itoa(int(a)) + ")"
}

// ParseRule parses one rule. An error is a *SyntaxError naming the column.
func ParseRule(src string) (*Rule, error) {
	w := NewWords(src)
	r := &Rule{Src: src}
	colon := -1
	for i, wd := range w.words {
		if wd.text == ":" {
			if colon >= 0 {
				return nil, w.Errorf(wd.pos, "a second ':' (one separates the filter from the action)")
			}
			colon = i
		}
	}
	aw := w
	if colon >= 0 {
		fw := w.sub(0, colon)
		if fw.Done() {
			return nil, w.Errorf(w.words[colon].pos, "no filter before ':'")
		}
		f, err := parseFilterWords(fw)
		if err != nil {
			return nil, err
		}
		if !fw.Done() {
			return nil, w.Errorf(fw.Pos(), "unexpected %s in the filter", describeWord(fw.Peek()))
		}
		r.Filter = f
		aw = w.sub(colon+1, len(w.words))
		if aw.Done() {
			return nil, w.Errorf(len(src), "no action after ':'")
		}
	}
	if err := r.parseAction(aw); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Rule) parseAction(w *Words) error {
	pos := w.Pos()
	keyword := w.Next()
	var err error
	switch keyword {
	case "":
		return w.Errorf(pos, "no action")
	case "drop":
		r.Action = RuleDrop
	case "loss":
		r.Action = RuleLoss
		if w.Peek() == "random" {
			w.Next()
		}
		if w.Peek() == "state" {
			return w.Errorf(w.Pos(), "\"state\" where a percentage (e.g. 20%%) belongs: netem's 4-state loss model is not offered (loss gemodel is)")
		}
		if w.Peek() == "gemodel" {
			w.Next()
			r.Action = RuleLossGE
			if r.Percent, err = percentWord(w); err != nil {
				return err
			}
			for len(r.GE) < 3 && isPercent(w.Peek()) {
				v, err := percentWord(w)
				if err != nil {
					return err
				}
				r.GE = append(r.GE, v)
			}
			break
		}
		r.Percent, err = percentWord(w)
	case "duplicate":
		r.Action = RuleDuplicate
		r.Percent, err = percentWord(w)
	case "corrupt":
		r.Action = RuleCorrupt
		r.Percent, err = percentWord(w)
	case "reorder":
		r.Action = RuleReorder
		if r.Percent, err = percentWord(w); err != nil {
			return err
		}
		if w.Peek() == "gap" {
			w.Next()
			p := w.Pos()
			if r.Delay, err = durationWord(w); err != nil {
				if _, e := strconv.Atoi(w.words[w.i-1].text); e == nil {
					return w.Errorf(p, "%s where a duration with its unit (e.g. 100ms) belongs: the gap is a time here, netem's counts packets", describeWord(w.words[w.i-1].text))
				}
				return err
			}
			if r.Delay == 0 {
				// 0 would mean the default gap, not none
				return w.Errorf(p, "gap 0: want a gap above 0 (e.g. 10ms; leave it out for %v)", DefaultReorderGap)
			}
			if r.Delay > MaxDelay {
				return w.Errorf(p, "gap %s is longer than the most a rule may delay, %s", w.words[w.i-1].text, shortDuration(MaxDelay))
			}
		}
	case "delay":
		r.Action = RuleDelay
		if r.Delay, err = w.Delay(); err != nil {
			return err
		}
		if w.Peek() == "jitter" {
			w.Next()
			jpos := w.Pos()
			if r.Jitter, err = durationWord(w); err != nil {
				return err
			}
			if r.Jitter > MaxDelay {
				return w.Errorf(jpos, "jitter %s is longer than the most a rule may delay, %s", w.words[w.i-1].text, shortDuration(MaxDelay))
			}
			if w.Peek() == "distribution" {
				w.Next()
				p := w.Pos()
				switch d := w.Next(); d {
				case "uniform":
					r.Dist = Uniform
				case "normal":
					r.Dist = Normal
				default:
					return w.Errorf(p, "%s where uniform or normal belongs", describeWord(d))
				}
				r.distGiven = true
			}
			// after the distribution, which says how far jitter reaches
			if most := r.mostDelay(); most > MaxDelay {
				return w.Errorf(jpos, "%s holds a packet up to %s, longer than the most a rule may delay, %s", r.actionString(), shortDuration(most), shortDuration(MaxDelay))
			}
		}
	case "rate":
		r.Action = RuleRate
		p := w.Pos()
		s := w.Next()
		if r.Rate, err = parseRate(s); err != nil {
			return w.Errorf(p, "%s: %v", describeWord(s), err)
		}
		if r.Rate < MinRate {
			return w.Errorf(p, "rate %s sends a 1500-byte packet in %s, longer than the most a rule may delay, %s: want %s or more", s, shortDuration(bitsTime(1500, r.Rate)), shortDuration(MaxDelay), formatRate(MinRate))
		}
		// netem's PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]], in bytes.
		for i, v := range []*int{&r.Overhead, &r.CellSize, &r.CellOverhead} {
			s := w.Peek()
			if _, err := strconv.Atoi(s); err != nil {
				break
			}
			p := w.Pos()
			w.Next()
			n, err := rateBytes(s, i == 1)
			if err != nil {
				return w.Errorf(p, "%s: %v", [...]string{"overhead", "cell size", "cell overhead"}[i], err)
			}
			*v = n
		}
		if r.CellSize > 0 && r.CellSize+r.CellOverhead <= 0 {
			return w.Errorf(p, "cells of %d bytes with an overhead of %d count no bytes: want a cell overhead above %d", r.CellSize, r.CellOverhead, -r.CellSize)
		}
		var given [2]bool // burst, limit
		for w.Peek() == "burst" || w.Peek() == "limit" {
			kpos := w.Pos()
			which := w.Next()
			seen := &given[boolIndex(which == "limit")]
			if *seen {
				return w.Errorf(kpos, "%s given twice", which)
			}
			*seen = true
			p := w.Pos()
			s := w.Next()
			n, err := parseSize(s)
			if err != nil {
				return w.Errorf(p, "%s: %v", describeWord(s), err)
			}
			if n <= 0 {
				// 0 would mean the default, not "none"
				return w.Errorf(p, "%s %s: want a size above 0 (e.g. 32kb)", which, describeWord(s))
			}
			if which == "burst" {
				r.Burst = n
				continue
			}
			if most := maxRateLimit(r.Rate); n > most {
				return w.Errorf(p, "limit %s at rate %s queues %s, longer than the most a rule may delay, %s: want a limit of at most %s at this rate", s, formatRate(r.Rate), shortDuration(bitsTime(n, r.Rate)), shortDuration(MaxDelay), formatSize(roundSize(most)))
			}
			r.Limit = n
		}
	case "rst":
		r.Action = RuleRST
		p := w.Pos()
		if s := w.Next(); s != "after" {
			return w.Errorf(p, "%s where \"after\" belongs (rst after N packets)", describeWord(s))
		}
		npos := w.Pos()
		n := w.Next()
		switch unit := w.Peek(); unit {
		case "bytes", "byte":
			w.Next()
			r.AfterBytes = true
			if r.After, err = parseSize(n); err != nil || r.After < 1 {
				return w.Errorf(npos, "%s where a byte count such as 64kb belongs", describeWord(n))
			}
		default:
			if unit == "packets" || unit == "packet" {
				w.Next()
			}
			if r.After, err = strconv.Atoi(n); err != nil {
				// A size with a unit (64kb) counts bytes.
				if r.After, err = parseSize(n); err != nil || r.After < 1 {
					return w.Errorf(npos, "%s where a packet count or a size such as 64kb belongs", describeWord(n))
				}
				r.AfterBytes = true
			}
			if r.After < 1 {
				return w.Errorf(npos, "rst after %d: count from 1", r.After)
			}
		}
	case "ttl":
		r.Action = RuleTTL
		n, err := intWord(w, "a TTL")
		if err != nil {
			return err
		}
		if n < 1 || n > 255 {
			return w.Errorf(w.PrevPos(), "ttl %d: want 1 to 255", n)
		}
		r.TTL = uint8(n)
	case "window":
		r.Action = RuleWindow
		n, err := intWord(w, "a window")
		if err != nil {
			return err
		}
		if n < 0 || n > 65535 {
			return w.Errorf(w.PrevPos(), "window %d: want 0 to 65535", n)
		}
		r.Window = uint16(n)
	case "ws":
		return w.errorAt(pos, ErrFrameFilter)
	case "limit":
		return w.Errorf(pos, "unknown action \"limit\": netem's limit is the delay queue's length here, which every rule shares (netstack.Options.DelayQueue)")
	default:
		return w.Errorf(pos, "unknown action %q (want drop, loss, delay, duplicate, reorder, corrupt, rate, rst, ttl or window)", keyword)
	}
	if err != nil {
		return err
	}
	if w.Peek() == "seed" {
		spos := w.Pos()
		w.Next()
		if !r.random() {
			// a seed nothing draws from would be ignored without a word
			return w.Errorf(spos, "seed: %s draws no random numbers (loss, duplicate, reorder, corrupt and delay with jitter do)", r.actionString())
		}
		p := w.Pos()
		s := w.Next()
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return w.Errorf(p, "%s where a seed (a number) belongs", describeWord(s))
		}
		r.Seed, r.seedGiven = n, true
	}
	if !w.Done() {
		return w.Errorf(w.Pos(), "unexpected %s after the action%s", describeWord(w.Peek()), r.netemHint(w.Peek()))
	}
	return nil
}

// netemHint says what a word that tc-netem(8) takes after an action, and
// a rule does not, would be there: ": jitter is written ...", or what is
// not offered. It is empty for other words.
func (r *Rule) netemHint(s string) string {
	_, durErr := time.ParseDuration(s)
	_, intErr := strconv.Atoi(s)
	switch {
	case r.Action == RuleDelay && r.Jitter == 0 && !r.distGiven && durErr == nil:
		return fmt.Sprintf(": jitter is written \"jitter %s\"", s)
	case r.Action == RuleDelay && s == "distribution":
		return ": a distribution shapes a jitter (delay D jitter J distribution normal)"
	case isPercent(s) && (r.Action == RuleLoss || r.Action == RuleDuplicate || r.Action == RuleCorrupt || r.Action == RuleReorder || r.Action == RuleDelay):
		return ": netem's correlation is not offered"
	case r.Action == RuleRate && intErr == nil:
		return ": netem's overhead and cells come right after the rate, three numbers at most"
	case s == "limit":
		return ": netem's limit is the delay queue's length here, which every rule shares (netstack.Options.DelayQueue)"
	case isActionWord(s):
		return ": a rule has one action; netem's options of one qdisc are rules in a row here, each seeing what the one before let go"
	case (r.Action == RuleLoss || r.Action == RuleLossGE) && s == "ecn":
		return ": netem's ecn is not offered"
	}
	return ""
}

// isActionWord reports whether s is the keyword of a rule's action.
func isActionWord(s string) bool {
	for _, name := range ruleActionNames {
		if name == s && s != "" {
			return true
		}
	}
	return false
}

// rateBytes reads a rate's overhead or cell size (cell: at least 0): a
// decimal count of bytes up to 64 KiB either way, without the leading 0
// that tc reads as octal.
func rateBytes(s string, cell bool) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 || n < -65535 || cell && n < 0 {
		if cell {
			return 0, fmt.Errorf("%s: want 0 to 65535 bytes", s)
		}
		return 0, fmt.Errorf("%s: want -65535 to 65535 bytes", s)
	}
	if t := strings.TrimPrefix(s, "-"); len(t) > 1 && t[0] == '0' {
		return 0, fmt.Errorf("%s: tc reads a leading 0 as octal; write it without", s)
	}
	return n, nil
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// random reports whether the rule's action draws random numbers, and so
// takes a seed.
func (r *Rule) random() bool {
	switch r.Action {
	case RuleLoss, RuleLossGE, RuleDuplicate, RuleReorder, RuleCorrupt:
		return true
	case RuleDelay:
		return r.Jitter != 0 || r.distGiven || r.Dist != Uniform
	}
	return false
}

// mostDelay is the longest a delay rule holds a packet: its delay plus
// the jitter at its far end (uniform: J; normal: cut at 3 J).
func (r *Rule) mostDelay() time.Duration {
	j := r.Jitter
	if r.Dist == Normal {
		j *= 3
	}
	return r.Delay + j
}

// maxRateLimit is the most bytes a rate rule's queue may hold: what the
// rate sends in MaxDelay.
func maxRateLimit(bits uint64) int {
	return int(min(bits*uint64(MaxDelay/time.Second)/8, 1<<40))
}

// bitsTime is how long n bytes take at bits per second, at most the
// longest Duration.
func bitsTime(n int, bits uint64) time.Duration {
	d := float64(n) * 8 * float64(time.Second) / float64(bits)
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// roundSize rounds n down to whole kilobytes, from one up.
func roundSize(n int) int {
	if n >= 1<<10 {
		return n &^ (1<<10 - 1)
	}
	return n
}

// shortDuration writes d as a person would: 1m, not 1m0s, and past a
// minute to the second, or to the millisecond where the second would
// round a time past MaxDelay down to it ("queues 1m0.008s, longer than
// the most a rule may delay, 1m", not "queues 1m").
func shortDuration(d time.Duration) string {
	if d >= time.Minute {
		r := d.Round(time.Second)
		if d > MaxDelay && r <= MaxDelay {
			r = d.Round(time.Millisecond)
		}
		d = r
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func isPercent(s string) bool {
	_, err := parsePercent(s)
	return err == nil && s != ""
}

func parsePercent(s string) (float64, error) {
	num := strings.TrimSuffix(s, "%")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !decimal(num) || math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("want a percentage from 0%% to 100%%")
	}
	if v == 0 {
		v = 0 // -0% is 0%, and said so
	}
	return v, nil
}

func percentWord(w *Words) (float64, error) {
	p := w.Pos()
	s := w.Next()
	v, err := parsePercent(s)
	if err != nil {
		return 0, w.Errorf(p, "%s where a percentage (e.g. 20%%) belongs", describeWord(s))
	}
	return v, nil
}

// Percent reads the next word as a percentage from 0% to 100% (the sign
// may be left out), or says where one belongs, as a rule's loss does.
func (w *Words) Percent() (float64, error) { return percentWord(w) }

// Delay reads the next word as a delay: a duration with its unit, at most
// MaxDelay, as a rule's delay is.
func (w *Words) Delay() (time.Duration, error) {
	p := w.Pos()
	d, err := durationWord(w)
	if err != nil {
		return 0, err
	}
	if d > MaxDelay {
		return 0, w.Errorf(p, "delay %s is longer than the most a rule may delay, %s", w.words[w.i-1].text, shortDuration(MaxDelay))
	}
	return d, nil
}

func durationWord(w *Words) (time.Duration, error) {
	p := w.Pos()
	s := w.Next()
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, w.Errorf(p, "%s where a duration with its unit (e.g. 100ms) belongs", describeWord(s))
	}
	return d, nil
}

var rateUnits = []struct {
	suffix string
	mult   uint64
}{
	{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
}

func parseRate(s string) (uint64, error) {
	ls := strings.ToLower(s)
	for _, u := range rateUnits {
		if num, ok := strings.CutSuffix(ls, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || !decimal(num) || v <= 0 || v*float64(u.mult) > 1e15 || math.IsNaN(v) {
				break
			}
			if bits := uint64(v * float64(u.mult)); bits > 0 {
				return bits, nil
			}
		}
	}
	return 0, fmt.Errorf("want a rate such as 1mbit, 500kbit or 100kbps")
}

// decimal reports whether s is written as a decimal number (1, 0.5,
// 1e3), not in the rest of Go's syntax (1_000, 0x1p3, Inf), which tc
// refuses too.
func decimal(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool {
		return (c < '0' || c > '9') && !strings.ContainsRune(".eE+-", c)
	}) < 0
}

func formatRate(bits uint64) string {
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bits%u.mult == 0 {
			return strconv.FormatUint(bits/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatUint(bits, 10) + "bit"
}

func parseSize(s string) (int, error) {
	ls := strings.ToLower(s)
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"k", 1 << 10}, {"m", 1 << 20}, {"b", 1}} {
		if num, ok := strings.CutSuffix(ls, u.suffix); ok {
			ls, mult = num, u.mult
			break
		}
	}
	n, err := strconv.Atoi(ls)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("want a size such as 32kb or 1500")
	}
	return n * mult, nil
}

func formatSize(n int) string {
	switch {
	case n != 0 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "mb"
	case n != 0 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "kb"
	}
	return strconv.Itoa(n) + "b"
}

func formatPercent(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) + "%" }

// String is the rule in canonical form; ParseRule gives it back unchanged.
func (r *Rule) String() string {
	s := r.actionString()
	if (r.seedGiven || r.Seed != 0) && r.random() {
		s += " seed " + strconv.FormatUint(r.Seed, 10)
	}
	if r.Filter != nil {
		s = r.Filter.String() + " : " + s
	}
	return s
}

func (r *Rule) actionString() string {
	s := r.Action.String()
	switch r.Action {
	case RuleLoss, RuleDuplicate, RuleCorrupt:
		s += " " + formatPercent(r.Percent)
	case RuleLossGE:
		s += " " + formatPercent(r.Percent)
		for _, v := range r.GE {
			s += " " + formatPercent(v)
		}
	case RuleReorder:
		s += " " + formatPercent(r.Percent)
		if r.Delay != 0 {
			s += " gap " + r.Delay.String()
		}
	case RuleDelay:
		s += " " + r.Delay.String()
		if r.Jitter != 0 || r.distGiven || r.Dist != Uniform {
			s += " jitter " + r.Jitter.String()
		}
		if r.distGiven || r.Dist != Uniform {
			s += " distribution " + r.Dist.String()
		}
	case RuleRate:
		s += " " + formatRate(r.Rate)
		switch {
		case r.CellSize != 0 || r.CellOverhead != 0:
			s += fmt.Sprintf(" %d %d %d", r.Overhead, r.CellSize, r.CellOverhead)
		case r.Overhead != 0:
			s += " " + strconv.Itoa(r.Overhead)
		}
		if r.Burst != 0 {
			s += " burst " + formatSize(r.Burst)
		}
		if r.Limit != 0 {
			s += " limit " + formatSize(r.Limit)
		}
	case RuleRST:
		unit := " packets"
		if r.AfterBytes {
			unit = " bytes"
		}
		s += " after " + strconv.Itoa(r.After) + unit
	case RuleTTL:
		s += " " + strconv.Itoa(int(r.TTL))
	case RuleWindow:
		s += " " + strconv.Itoa(int(r.Window))
	}
	return s
}

// seed is the rule's seed: the one set, or one derived from the rule.
func (r *Rule) seed() uint64 {
	if r.seedGiven || r.Seed != 0 {
		return r.Seed
	}
	h := fnv.New64a()
	h.Write([]byte(r.String()))
	if r.nth > 0 {
		h.Write([]byte("#" + strconv.Itoa(r.nth)))
	}
	return h.Sum64()
}

// check reports a rule that cannot become a hook: no action, an unknown
// one, or a value out of the action's range (a hand-built rule; ParseRule
// makes only good ones).
func (r *Rule) check() error {
	percent := func(what string, v float64) error {
		if math.IsNaN(v) || v < 0 || v > 100 {
			return fmt.Errorf("%s %v%%: want 0%% to 100%%", what, v)
		}
		return nil
	}
	switch r.Action {
	case 0:
		return errors.New("no action")
	case RuleDrop:
	case RuleLoss, RuleDuplicate, RuleCorrupt, RuleReorder:
		if err := percent(r.Action.String(), r.Percent); err != nil {
			return err
		}
		if r.Action == RuleReorder && (r.Delay < 0 || r.Delay > MaxDelay) {
			return fmt.Errorf("gap %v: want above 0 and at most %s, or 0 for the default %v", r.Delay, shortDuration(MaxDelay), DefaultReorderGap)
		}
	case RuleLossGE:
		if err := percent("loss gemodel", r.Percent); err != nil {
			return err
		}
		if len(r.GE) > 3 {
			return fmt.Errorf("loss gemodel takes up to 3 values after P, not %d", len(r.GE))
		}
		for _, v := range r.GE {
			if err := percent("loss gemodel", v); err != nil {
				return err
			}
		}
	case RuleDelay:
		if r.Delay < 0 || r.Jitter < 0 {
			return fmt.Errorf("delay %v jitter %v: want 0 or more", r.Delay, r.Jitter)
		}
		if r.Dist != Uniform && r.Dist != Normal {
			return fmt.Errorf("unknown jitter distribution %v", r.Dist)
		}
		if r.Delay > MaxDelay || r.Jitter > MaxDelay || r.mostDelay() > MaxDelay {
			return fmt.Errorf("delay %v jitter %v: longer than the most a rule may delay, %s", r.Delay, r.Jitter, shortDuration(MaxDelay))
		}
	case RuleRate:
		if r.Rate == 0 || r.Burst < 0 || r.Limit < 0 {
			return fmt.Errorf("rate %d bit/s, burst %d, limit %d: want a rate above 0 and no negative sizes", r.Rate, r.Burst, r.Limit)
		}
		if r.Rate < MinRate {
			return fmt.Errorf("rate %d bit/s: want %s or more (a 1500-byte packet within %s)", r.Rate, formatRate(MinRate), shortDuration(MaxDelay))
		}
		if most := maxRateLimit(r.Rate); r.Limit > most {
			return fmt.Errorf("limit %d bytes at %d bit/s: want at most %d, what the rate sends in %s", r.Limit, r.Rate, most, shortDuration(MaxDelay))
		}
		for _, v := range []int{r.Overhead, r.CellSize, r.CellOverhead} {
			if v < -65535 || v > 65535 {
				return fmt.Errorf("overhead %d, cells of %d plus %d bytes: want -65535 to 65535 bytes", r.Overhead, r.CellSize, r.CellOverhead)
			}
		}
		if r.CellSize < 0 || r.CellSize > 0 && r.CellSize+r.CellOverhead <= 0 {
			return fmt.Errorf("cells of %d plus %d bytes: want a cell size of 0 or more, and cells that count bytes", r.CellSize, r.CellOverhead)
		}
	case RuleRST:
		if r.After < 1 {
			return fmt.Errorf("rst after %d: count from 1", r.After)
		}
	case RuleTTL:
		if r.TTL == 0 {
			return errors.New("ttl 0: want 1 to 255")
		}
	case RuleWindow:
		// any window, 0 included: a receiver with no room
	default:
		return fmt.Errorf("unknown action %v", r.Action)
	}
	return nil
}

// Hook builds the rule's hook. Every call returns a fresh hook with its own
// state and generator, seeded the same way. A rule without an action, with
// an unknown one, or with a value out of its range is an error.
func (r *Rule) Hook() (PacketHook, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("hook: rule %q: %w", r.String(), err)
	}
	var h PacketHook
	seed := r.seed()
	switch r.Action {
	case RuleDrop:
		h = DropAll("drop")
	case RuleLoss:
		h = NewLoss(r.Percent/100, seed)
	case RuleLossGE:
		// Without R, netem's Bernoulli case: R = 1-P, so that the state
		// of each packet is drawn anew.
		rr, bad, good := 1-r.Percent/100, 1.0, 0.0
		if len(r.GE) > 0 {
			rr = r.GE[0] / 100
		}
		if len(r.GE) > 1 {
			bad = r.GE[1] / 100
		}
		if len(r.GE) > 2 {
			good = r.GE[2] / 100
		}
		h = NewGilbertElliott(r.Percent/100, rr, bad, good, seed)
	case RuleDuplicate:
		h = NewDuplicator(r.Percent/100, seed)
	case RuleCorrupt:
		h = NewCorrupt(r.Percent/100, seed)
	case RuleReorder:
		h = NewReorder(r.Percent/100, r.Delay, seed)
	case RuleDelay:
		h = NewLatency(r.Delay, r.Jitter, r.Dist, seed)
	case RuleRate:
		rate := NewRate(r.Rate, r.Burst, r.Limit)
		rate.Overhead, rate.CellSize, rate.CellOverhead = r.Overhead, r.CellSize, r.CellOverhead
		h = rate
	case RuleRST:
		rst := NewRST(r.After)
		rst.Bytes = r.AfterBytes
		h = rst
	case RuleTTL:
		h = Rewrite{TTL: r.TTL}
	case RuleWindow:
		h = Rewrite{Window: r.Window, ZeroWindow: r.Window == 0}
	}
	return &ruleHook{filter: r.Filter, h: h, name: r.String()}, nil
}

// ruleHook runs a hook on the packets its filter selects.
type ruleHook struct {
	filter *Filter
	h      PacketHook
	name   string
}

func (rh *ruleHook) Decide(p *Packet) Verdict {
	if !rh.filter.Match(p) {
		return Verdict{}
	}
	v := rh.h.Decide(p)
	if v.Action != Pass && v.Rule == "" {
		v.Rule = rh.name
	}
	return v
}

func (rh *ruleHook) String() string { return rh.name }

// ParseRules parses rules and returns the chain of their hooks, in order;
// nil when there are none. Rules with the same text and no seed draw
// apart, as netem qdiscs in series do: the first is seeded from its text,
// the next from its text and its count.
func ParseRules(srcs []string) (*Chain, error) {
	return new(RuleSeeds).ParseRules(srcs)
}

// RuleSeeds parses rules, counting the random ones alike across every
// call, so that rules alike in several chains of one stack (its egress
// and its ingress, and rules added while it runs) draw numbers of their
// own, as two netem qdiscs would, instead of dropping or delaying the
// same packets in step. The zero value is ready; it is not safe for
// concurrent use.
type RuleSeeds struct {
	same map[string]int
}

// Parse parses one rule as ParseRule does and counts it.
func (rs *RuleSeeds) Parse(src string) (*Rule, error) {
	r, err := ParseRule(src)
	if err != nil {
		return nil, err
	}
	if r.random() && !r.seedGiven {
		if rs.same == nil {
			rs.same = make(map[string]int)
		}
		k := r.String()
		r.nth = rs.same[k]
		rs.same[k]++
	}
	return r, nil
}

// ParseRules parses rules as the package's ParseRules does, counting them
// with the rules parsed before.
func (rs *RuleSeeds) ParseRules(srcs []string) (*Chain, error) {
	if len(srcs) == 0 {
		return nil, nil
	}
	c := NewChain()
	for _, s := range srcs {
		r, err := rs.Parse(s)
		if err != nil {
			return nil, err
		}
		h, err := r.Hook()
		if err != nil {
			return nil, err
		}
		c.Add(h)
	}
	return c, nil
}
