package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds of the checks on serve's process.
const (
	heapSlackMB    = 8   // end live heap may exceed the baseline by this (0 to 3 MB more in runs of 1 and 10 minutes; the egress queue keeps copies of up to 2,000 small packets, about 4.5 MB)
	heapPeakMB     = 512 // live heap must stay under this during the load
	goroutineSlack = 4   // end goroutines may exceed the baseline by this
	// idleTimeout is serve's --idle-timeout here: longer than any pause
	// in the traffic, short enough for the settling.
	idleTimeout = 30 * time.Second
)

// watch is what soak saw of serve's process.
type watch struct {
	mu                     sync.Mutex
	base, peak, end        sample
	baseErr, endErr        error
	sampleErrs             int
	settledIn              time.Duration
	settled                bool
	exited                 bool // serve exited during the load
	stopErr                error
	workersStuck           []string
	phaseLog               []phaseRecord
	counters               map[string]uint64
	lastCounters           map[string]uint64
	gcsAtEnd, gcsAtLoadEnd int
}

func (w *watch) observe(s sample) {
	w.mu.Lock()
	defer w.mu.Unlock()
	maxInto := func(dst *int, v int) {
		if v > *dst {
			*dst = v
		}
	}
	maxInto(&w.peak.heapMB, s.heapMB)
	maxInto(&w.peak.rssKB, s.rssKB)
	maxInto(&w.peak.threads, s.threads)
	maxInto(&w.peak.fds, s.fds)
	maxInto(&w.peak.sockets, s.sockets)
	maxInto(&w.peak.goroutines, s.goroutines)
	maxInto(&w.peak.heapInUseMB, s.heapInUseMB)
	if s.counters != nil {
		w.lastCounters = s.counters
	}
}

func child(cfg config) int {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "soak: ip link set lo up: %v %s\n", err, out)
		return 2
	}
	name := fmt.Sprintf("soak%d", os.Getpid())
	if serveHasFlag(cfg.glassnet, "idle-timeout") {
		cfg.idleTimeout = idleTimeout
	}
	srv, err := startServe(cfg, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	for _, a := range extraAddrs() {
		if out, err := exec.Command("ip", "addr", "add", a.String()+"/32", "dev", name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "soak: ip addr add %v dev %s: %v %s\n", a, name, err, out)
			srv.kill()
			return 2
		}
	}
	fmt.Printf("soak: %v of traffic at glassnet serve on %s (%v), fault sets change every %v; serve's output: %s\n",
		cfg.duration, name, stackAddr, cfg.phase, srv.logPath)

	w := &watch{peak: sample{heapMB: -1, rssKB: -1, threads: -1, fds: -1, sockets: -1, goroutines: -1, heapInUseMB: -1}}
	bg := context.Background()
	st := newStats(cfg.verbose)
	ph := newPhases(cfg.faults)
	e := &env{stats: st, phases: ph, idle: cfg.idleTimeout > 0, slowBacklog: slowBacklogStart, ioWait: cfg.stall + cfg.backoffLimit}
	time.Sleep(2 * time.Second)
	w.base, w.baseErr = srv.sample(bg)
	// The live heap's baseline is read as the end's is, at collections
	// during 1 MiB echoes: those echoes' buffers are in both, and so are
	// the device's, which its first packets make (the offload read
	// buffers, once a rule reads the bytes). What grows beyond is the load's.
	e.nudgeGC(srv, 2)
	if mb, _, _ := srv.heap(); w.baseErr == nil && w.base.heapMB >= 0 {
		w.base.heapMB = mb
	}
	w.observe(w.base)

	stallLog := strings.TrimSuffix(srv.logPath, ".log") + "-stalls.log"
	st.onStall = func(t *tracker) { dumpStall(cfg, srv, t, stallLog) }
	st.backoff = func(t *tracker) (bool, string) { return inBackoff(cfg, srv, t) }
	st.backoffLimit = cfg.backoffLimit
	stopWatch := make(chan struct{})
	go st.watchStalls(cfg.stall, stopWatch)

	ctx, cancel := context.WithTimeout(bg, cfg.duration)
	defer cancel()
	// Phases and samples.
	var aux sync.WaitGroup
	aux.Add(1)
	go func() {
		defer aux.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		phaseEnd := time.Now().Add(cfg.phase)
		for {
			select {
			case <-ctx.Done():
				return
			case <-srv.exited:
				w.mu.Lock()
				w.exited = true
				w.mu.Unlock()
				cancel()
				return
			case now := <-tick.C:
				if now.After(phaseEnd) {
					f := ph.next()
					phaseEnd = now.Add(cfg.phase)
					if cfg.verbose {
						fmt.Fprintf(os.Stderr, "soak: %6.1fs faults: %s\n", time.Since(st.start).Seconds(), f.name)
					}
				}
				s, err := srv.sample(bg)
				if err != nil {
					w.mu.Lock()
					w.sampleErrs++
					w.mu.Unlock()
				}
				w.observe(s)
			}
		}
	}()

	// The traffic.
	type worker struct {
		name string
		fn   func(context.Context, *rand.Rand)
	}
	workers := []worker{
		{"ws-echo 1", func(ctx context.Context, r *rand.Rand) { e.wsEcho(ctx, r, false) }},
		{"ws-echo 2", func(ctx context.Context, r *rand.Rand) { e.wsEcho(ctx, r, false) }},
		{"ws-echo 3 (deflate)", func(ctx context.Context, r *rand.Rand) { e.wsEcho(ctx, r, true) }},
		{"chat", e.chat},
		{"bulk echo", func(ctx context.Context, r *rand.Rand) { e.bulk(ctx, r, true) }},
		{"bulk discard", func(ctx context.Context, r *rand.Rand) { e.bulk(ctx, r, false) }},
		{"udp", e.udp},
		{"churn 1", e.churn},
		{"churn 2", e.churn},
	}
	var wg sync.WaitGroup
	var doneMu sync.Mutex
	running := map[string]bool{}
	for i, wk := range workers {
		rng := rand.New(rand.NewPCG(cfg.seed, uint64(i)))
		wg.Add(1)
		doneMu.Lock()
		running[wk.name] = true
		doneMu.Unlock()
		go func() {
			defer wg.Done()
			wk.fn(ctx, rng)
			doneMu.Lock()
			delete(running, wk.name)
			doneMu.Unlock()
		}()
	}
	<-ctx.Done()
	aux.Wait()
	w.phaseLog = ph.end()
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(2 * time.Minute):
		doneMu.Lock()
		for n := range running {
			w.workersStuck = append(w.workersStuck, n)
		}
		doneMu.Unlock()
	}
	close(stopWatch)
	loadEnd := time.Now()
	_, w.gcsAtLoadEnd, _ = srv.heap()

	// Back to the baseline: sockets and goroutines as before the load,
	// and a GC after the load that found the live heap near where it was.
	w.mu.Lock()
	exited := w.exited
	w.mu.Unlock()
	if !exited {
		nudges := 0
		for {
			s, err := srv.sample(bg)
			w.end, w.endErr = s, err
			mb, gcs, at := srv.heap()
			w.gcsAtEnd = gcs
			ok := err == nil && w.baseErr == nil && s.sockets <= w.base.sockets &&
				(s.goroutines < 0 || s.goroutines <= w.base.goroutines+goroutineSlack) &&
				(w.base.heapMB < 0 || (at.After(loadEnd) && mb <= w.base.heapMB+heapSlackMB))
			if ok {
				w.settled, w.settledIn = true, time.Since(loadEnd)
				break
			}
			if time.Since(loadEnd) > cfg.settle {
				break
			}
			if err == nil && s.sockets <= w.base.sockets && w.base.heapMB >= 0 && nudges < 3 {
				// The sockets are back: make serve collect twice (a
				// sync.Pool keeps its objects through one collection), so
				// the live heap is read now rather than at the runtime's
				// two-minute forced collection.
				nudges++
				e.nudgeGC(srv, 2)
				continue
			}
			select {
			case <-srv.exited:
			case <-time.After(2 * time.Second):
				continue
			}
			break
		}
		w.counters = w.end.counters
		w.stopErr = srv.stop(30 * time.Second)
	} else {
		w.stopErr = fmt.Errorf("serve exited during the load (%v): %s", srv.waitErr, srv.tail())
	}
	return report(cfg, st, w, srv)
}

// report prints the summary and the checks, and returns the exit code.
func report(cfg config, st *stats, w *watch, srv *serveProc) int {
	out := os.Stdout
	fmt.Fprintf(out, "\n%-13s %9s %11s  %-9s %s\n", "traffic", "ops", "bytes", "max stall", "errors (failures) / accounted for")
	for _, k := range kinds {
		ks := st.byKind[k]
		ks.mu.Lock()
		fmt.Fprintf(out, "%-13s %9d %11s  %-9s failures: %s\n", k, ks.ops.Load(), mib(ks.bytes.Load()),
			ks.maxStall.Round(100*time.Millisecond).String(), counts(ks.failures))
		if len(ks.notes) > 0 {
			fmt.Fprintf(out, "%-13s %9s %11s  %-9s accounted: %s\n", "", "", "", "", counts(ks.notes))
		}
		ks.mu.Unlock()
	}

	fmt.Fprintf(out, "\nfault sets (by kernel-side address; RST after %d packets from serve to %v throughout):\n", rstAfterPackets, rstAddr)
	// Each set once, in the order of the rotation, with its phases and time.
	type setTime struct {
		n int
		d time.Duration
	}
	byName := map[string]*setTime{}
	for _, p := range w.phaseLog {
		if byName[p.set.name] == nil {
			byName[p.set.name] = &setTime{}
		}
		byName[p.set.name].n++
		byName[p.set.name].d += p.duration
	}
	for _, f := range faultSets {
		if t := byName[f.name]; t != nil {
			rules := strings.Join(f.rules, ", ")
			if rules == "" {
				rules = "-"
			}
			fmt.Fprintf(out, "  %-22s %3d× %-9v %s\n", f.name, t.n, t.d.Round(time.Second), rules)
		}
	}
	fmt.Fprintln(out, "verdicts serve counted:")
	if len(w.counters) == 0 {
		w.counters = w.lastCounters
	}
	var keys []string
	for k, v := range w.counters {
		if v > 0 && (strings.Contains(k, "link") || strings.Contains(k, "egress") || strings.Contains(k, "ingress")) {
			keys = append(keys, k)
		}
	}
	sortStrings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  %-60s %d\n", k, w.counters[k])
	}

	fmt.Fprintf(out, "\n%-24s %10s %10s %10s\n", "serve", "baseline", "peak", "end")
	row := func(name string, f func(sample) int, unit func(int) string) {
		fmt.Fprintf(out, "%-24s %10s %10s %10s\n", name, unit(f(w.base)), unit(f(w.peak)), unit(f(w.end)))
	}
	num := func(v int) string {
		if v < 0 {
			return "n/a"
		}
		return itoa(v)
	}
	row("live heap after GC (MB)", func(s sample) int { return s.heapMB }, num)
	row("heap in use (MB)", func(s sample) int { return s.heapInUseMB }, num)
	row("goroutines", func(s sample) int { return s.goroutines }, num)
	row("RSS (MB)", func(s sample) int {
		if s.rssKB < 0 {
			return -1
		}
		return s.rssKB / 1024
	}, num)
	row("threads", func(s sample) int { return s.threads }, num)
	row("open fds", func(s sample) int { return s.fds }, num)
	row("sockets (ss rows)", func(s sample) int { return s.sockets }, num)
	fmt.Fprintf(out, "(live heap: the runtime's gctrace, %d GCs in all, the last ones made by 1 MiB echoes after the load; heap in use and goroutines: %s; RSS, threads, fds: /proc)\n", w.gcsAtEnd,
		map[bool]string{true: "serve's control socket", false: "not offered by this serve's control socket"}[w.base.goroutines >= 0])

	// The checks.
	var failed []string
	check := func(ok bool, name, why string) {
		if ok {
			fmt.Fprintf(out, "PASS %s\n", name)
			return
		}
		fmt.Fprintf(out, "FAIL %s: %s\n", name, why)
		failed = append(failed, name)
	}
	fmt.Fprintln(out)
	var msgFails []string
	for _, k := range kinds {
		ks := st.byKind[k]
		ks.mu.Lock()
		for r, n := range ks.failures {
			if r != "stalled" {
				msgFails = append(msgFails, fmt.Sprintf("%s %s %d", k, r, n))
			}
		}
		ks.mu.Unlock()
	}
	sortStrings(msgFails)
	check(len(msgFails) == 0, "messages: none lost, duplicated, reordered or corrupt; no unexpected error", strings.Join(msgFails, "; "))
	check(st.stalls.Load() == 0, fmt.Sprintf("no connection without progress for more than %v (%v in TCP's retransmission backoff)", cfg.stall, cfg.backoffLimit), fmt.Sprintf("%d stalled", st.stalls.Load()))
	slow := st.byKind[kindSlow]
	slow.mu.Lock()
	closed1008 := slow.notes["closed 1008 (queue full)"]
	tcpEnd := slow.notes["dropped, TCP closed before 1008 could be written (1006 or reset)"]
	keepalive := slow.notes["dropped by serve's keepalive first (1011)"]
	slow.mu.Unlock()
	// All are serve's drop (see chat.go): which one a member sees depends
	// on whether it read again within the close timeout or the keepalive.
	check(closed1008+tcpEnd+keepalive > 0, fmt.Sprintf("the slow /chat member is dropped by serve (%d times with 1008, %d times the TCP end first, %d times by the keepalive)", closed1008, tcpEnd, keepalive), "never happened")
	check(len(w.workersStuck) == 0, "every traffic worker finished", "still running after 2 minutes: "+strings.Join(w.workersStuck, ", "))
	check(w.baseErr == nil && w.endErr == nil && w.sampleErrs == 0, "serve's control socket answered every sample",
		fmt.Sprintf("baseline: %v; end: %v; %d samples failed", w.baseErr, w.endErr, w.sampleErrs))
	check(w.peak.heapMB < heapPeakMB, fmt.Sprintf("live heap stayed under %d MB", heapPeakMB), fmt.Sprintf("peak %d MB", w.peak.heapMB))
	check(w.settled, fmt.Sprintf("back near the baseline after the load (sockets, goroutines +%d, live heap +%d MB at a GC after the load), within %v", goroutineSlack, heapSlackMB, cfg.settle),
		fmt.Sprintf("end: sockets %d (baseline %d), goroutines %d (%d), live heap %d MB (%d) with %d GCs after the load",
			w.end.sockets, w.base.sockets, w.end.goroutines, w.base.goroutines, w.end.heapMB, w.base.heapMB, w.gcsAtEnd-w.gcsAtLoadEnd))
	if w.settled {
		fmt.Fprintf(out, "     (settled %v after the load)\n", w.settledIn.Round(time.Second))
	}
	p := srv.panicLines()
	check(len(p) == 0, "no panic, fatal error or data race in serve's output", strings.Join(p, " | ")+" (see "+srv.logPath+")")
	check(w.stopErr == nil, "serve stopped cleanly on SIGTERM (exit 0)", fmt.Sprint(w.stopErr))

	if st.stalls.Load() > 0 {
		fmt.Fprintf(out, "\nwhat both sides knew of each stalled connection: %s\n", strings.TrimSuffix(srv.logPath, ".log")+"-stalls.log")
	}
	st.mu.Lock()
	if len(st.first) > 0 {
		fmt.Fprintln(out, "\nfirst failures:")
		for _, l := range st.first {
			fmt.Fprintln(out, "  "+l)
		}
	}
	st.mu.Unlock()
	if len(failed) > 0 {
		fmt.Fprintf(out, "\nsoak: FAILED: %s\n", strings.Join(failed, "; "))
		return 1
	}
	fmt.Fprintln(out, "\nsoak: ok")
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

var stallLogMu sync.Mutex

// dumpStall appends to path what the kernel (ss -tnie) and serve (glassnet
// ss) know of a stalled connection.
func dumpStall(cfg config, srv *serveProc, t *tracker, path string) {
	if t.local == "" {
		return
	}
	kernel, rows := stallState(cfg, srv, t)
	stallLogMu.Lock()
	defer stallLogMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s %s: %s\n--- kernel side (ss -tnie src %s):\n%s--- serve (glassnet ss, rows with %s):\n%s\n\n",
		time.Now().UTC().Format(time.RFC3339), t.kind, t.detail, t.local, kernel, t.local, strings.Join(rows, "\n"))
}

// stallState is what both sides know of t's connection: the kernel's
// ss -tnie output and serve's ss rows for it.
func stallState(cfg config, srv *serveProc, t *tracker) (kernel string, rows []string) {
	k, _ := exec.Command("ss", "-tnie", "src", t.local).CombinedOutput()
	table, _ := exec.Command(cfg.glassnet, "ss", srv.name).CombinedOutput()
	lines := strings.Split(string(table), "\n")
	for i, l := range lines {
		if strings.Contains(l, t.local) {
			rows = append(rows, l)
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
				rows = append(rows, lines[i+1])
			}
		}
	}
	return string(k), rows
}

// inBackoff says whether either side of t's connection waits on its
// retransmission timer with data unacknowledged and an RTO of at least
// backoffRTO: four times the 200 ms minimum, that is after two timeouts
// in a row (or an RTT estimate that long). TCP sends nothing then until
// the timer expires, and a burst of losses can double it past the stall
// limit, on either stack: that is TCP's backoff, not a stall.
func inBackoff(cfg config, srv *serveProc, t *tracker) (bool, string) {
	if t.local == "" {
		return false, ""
	}
	return backoffIn(stallState(cfg, srv, t))
}

// backoffIn is inBackoff on the two sides' ss output.
func backoffIn(kernel string, rows []string) (bool, string) {
	if rto, ok := ssField(kernel, "rto:"); ok && rto >= backoffRTO && strings.Contains(kernel, "unacked:") {
		return true, fmt.Sprintf("kernel side rto %vms with data unacknowledged", rto)
	}
	for _, r := range rows {
		if rto, ok := ssField(r, "rto:"); ok && rto >= backoffRTO && strings.Contains(r, "unacked:") {
			return true, fmt.Sprintf("serve's side rto %vms with data unacknowledged", rto)
		}
	}
	return false, ""
}

// backoffRTO is the RTO, in milliseconds, from which a side counts as in
// retransmission backoff.
const backoffRTO = 800

// ssField returns the number after the first key (such as "rto:") in an
// ss line.
func ssField(s, key string) (float64, bool) {
	i := strings.Index(s, key)
	if i < 0 {
		return 0, false
	}
	f := strings.FieldsFunc(s[i+len(key):], func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}
