package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The kinds of traffic, in the order the summary lists them.
const (
	kindWSEcho  = "ws-echo"
	kindChat    = "chat"
	kindSlow    = "chat-slow"
	kindBulk    = "bulk-echo"
	kindDiscard = "bulk-discard"
	kindUDP     = "udp-echo"
	kindChurn   = "churn"
)

var kinds = []string{kindWSEcho, kindChat, kindSlow, kindBulk, kindDiscard, kindUDP, kindChurn}

// kindStats counts what one kind of traffic did. Failures break a check;
// notes are outcomes that the faults explain (a reset from the RST
// address, a datagram lost under a lossy fault set) and are accounted
// for, not failures.
type kindStats struct {
	ops      atomic.Uint64
	bytes    atomic.Uint64
	mu       sync.Mutex
	failures map[string]uint64
	notes    map[string]uint64
	maxStall time.Duration
}

type stats struct {
	verbose bool
	start   time.Time
	byKind  map[string]*kindStats

	mu     sync.Mutex
	first  []string       // the first failures of each kind and reason, with details
	nFirst map[string]int // how many of first are of each kind and reason
	conns  map[*tracker]struct{}
	stalls atomic.Uint64
	// backoff, if set, says whether a connection past the stall limit is
	// in TCP's retransmission backoff (and why), which it is then given
	// until backoffLimit to leave; nil counts every one as stalled.
	backoff      func(t *tracker) (bool, string)
	backoffLimit time.Duration
	// onStall, if set, is called (in its own goroutine) for each stalled
	// connection, to record what both sides know of it.
	onStall func(t *tracker)
}

func newStats(verbose bool) *stats {
	s := &stats{verbose: verbose, start: time.Now(), byKind: map[string]*kindStats{}, conns: map[*tracker]struct{}{}, nFirst: map[string]int{}}
	for _, k := range kinds {
		s.byKind[k] = &kindStats{failures: map[string]uint64{}, notes: map[string]uint64{}}
	}
	return s
}

func (s *stats) op(kind string, bytes int) {
	k := s.byKind[kind]
	k.ops.Add(1)
	k.bytes.Add(uint64(bytes))
}

func (s *stats) addBytes(kind string, bytes int) { s.byKind[kind].bytes.Add(uint64(bytes)) }

// fail counts a failure of kind by its reason; detail says where.
func (s *stats) fail(kind, reason, detail string) {
	k := s.byKind[kind]
	k.mu.Lock()
	k.failures[reason]++
	k.mu.Unlock()
	line := fmt.Sprintf("%6.1fs %s: %s: %s", time.Since(s.start).Seconds(), kind, reason, detail)
	s.mu.Lock()
	if s.nFirst[kind+reason] < 3 && len(s.first) < 40 {
		s.nFirst[kind+reason]++
		s.first = append(s.first, line)
	}
	s.mu.Unlock()
	if s.verbose {
		fmt.Fprintln(os.Stderr, "soak: FAIL", line)
	}
}

// note counts an outcome the faults account for.
func (s *stats) note(kind, reason string) {
	k := s.byKind[kind]
	k.mu.Lock()
	k.notes[reason]++
	k.mu.Unlock()
}

// tracker follows one connection's progress while it waits for
// something (an echo, a broadcast, the end of a transfer).
type tracker struct {
	s      *stats
	kind   string
	detail string
	local  string       // the kernel side's address and port, when known
	last   atomic.Int64 // unix nanoseconds of the last progress
	wait   atomic.Bool  // waiting for the peer: a stall counts only then
	failed atomic.Bool  // reported as stalled once
	// checked: past the stall limit since the last progress, and looked
	// at; inBackoff: it was then in retransmission backoff.
	checked, inBackoff atomic.Bool
}

// track starts following a connection; done stops it. local is the
// kernel side's address and port, or "".
func (s *stats) track(kind, detail string, local ...string) *tracker {
	t := &tracker{s: s, kind: kind, detail: detail}
	if len(local) > 0 {
		t.local = local[0]
	}
	t.progress()
	s.mu.Lock()
	s.conns[t] = struct{}{}
	s.mu.Unlock()
	return t
}

func (t *tracker) progress() {
	t.last.Store(time.Now().UnixNano())
	if t.checked.Load() {
		t.checked.Store(false)
		t.inBackoff.Store(false)
	}
}

// waiting says whether the connection now waits for its peer; a stall is
// counted only while it does.
func (t *tracker) waiting(w bool) {
	if w && !t.wait.Load() {
		t.progress()
	}
	t.wait.Store(w)
}

func (t *tracker) done() {
	t.observe(time.Now())
	t.s.mu.Lock()
	delete(t.s.conns, t)
	t.s.mu.Unlock()
}

// observe records the connection's stall so far and fails it once past
// the limit.
func (t *tracker) observe(now time.Time) time.Duration {
	if !t.wait.Load() {
		return 0
	}
	d := now.Sub(time.Unix(0, t.last.Load()))
	k := t.s.byKind[t.kind]
	k.mu.Lock()
	if d > k.maxStall {
		k.maxStall = d
	}
	k.mu.Unlock()
	return d
}

// watchStalls checks every connection's progress until stop is closed.
func (s *stats) watchStalls(limit time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			s.mu.Lock()
			ts := make([]*tracker, 0, len(s.conns))
			for t := range s.conns {
				ts = append(ts, t)
			}
			s.mu.Unlock()
			for _, t := range ts {
				s.judge(t, now, limit, true)
			}
		}
	}
}

// judge checks one connection at now: past limit it is looked at once
// (in its own goroutine when async), and in backoff it fails past
// backoffLimit.
func (s *stats) judge(t *tracker, now time.Time, limit time.Duration, async bool) {
	d := t.observe(now)
	switch {
	case d <= limit || t.failed.Load():
	case !t.checked.Swap(true):
		if async {
			go s.checkStall(t, d)
		} else {
			s.checkStall(t, d)
		}
	case t.inBackoff.Load() && d > s.backoffLimit:
		s.stalled(t, d, " (in retransmission backoff since the stall limit)")
	}
}

// checkStall looks at a connection just past the stall limit: in TCP's
// retransmission backoff it is noted and given until backoffLimit;
// otherwise it has stalled.
func (s *stats) checkStall(t *tracker, d time.Duration) {
	if s.backoff != nil {
		if ok, why := s.backoff(t); ok {
			t.inBackoff.Store(true)
			s.note(t.kind, "no progress past the stall limit in retransmission backoff")
			if s.verbose {
				fmt.Fprintf(os.Stderr, "soak: note %s: %s: no progress for %v, in retransmission backoff: %s\n", t.kind, t.detail, d.Round(time.Millisecond), why)
			}
			if s.onStall != nil {
				s.onStall(t)
			}
			return
		}
	}
	s.stalled(t, d, "")
}

// stalled fails a connection as stalled, once.
func (s *stats) stalled(t *tracker, d time.Duration, why string) {
	if t.failed.Swap(true) {
		return
	}
	s.stalls.Add(1)
	s.fail(t.kind, "stalled", fmt.Sprintf("%s: no progress for %v%s", t.detail, d.Round(time.Millisecond), why))
	if s.onStall != nil {
		go s.onStall(t)
	}
}

// counts renders a reason count map as "a 3, b 1", largest first.
func counts(m map[string]uint64) string {
	type kv struct {
		k string
		v uint64
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].v != l[j].v {
			return l[i].v > l[j].v
		}
		return l[i].k < l[j].k
	})
	out := ""
	for i, e := range l {
		if i > 0 {
			out += ", "
		}
		out += e.k + " " + strconv.FormatUint(e.v, 10)
	}
	if out == "" {
		return "-"
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func sortStrings(s []string) { sort.Strings(s) }

// stopping says whether the run is ending: ctx is done or its deadline
// has passed. A dial or read under a context derived from ctx can fail
// with a timeout a moment before ctx itself reports its end; such an error
// is the end of the run, not a failure.
func stopping(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
