package main

import (
	"math"
	"strings"
	"testing"
)

// Two CPUs. The program's thread on cpu 0 ran for 0.1 ms ending at
// 10.0005 s after waiting 0.4 ms in the run queue (10.0000 to 10.0004);
// cpu 1 was idle from 9.9999 to 10.0002 and again from 10.0003 to
// 10.0006, so 0.3 ms of the wait had another CPU idle. A thread of another
// program and cpu 0's own idle time do not count.
const sample = `
           time    cpu  task name                       wait time  sch delay   run time
                        [tid/pid]                          (msec)     (msec)     (msec)
--------------- ------  ------------------------------  ---------  ---------  ---------
   10.000200 [0001]  <idle>                              0.000      0.000      0.300
   10.000500 [0000]  prog[11/10]                         0.050      0.400      0.100
   10.000550 [0000]  other[21/20]                        0.000      0.900      0.050
   10.000600 [0001]  <idle>                              0.000      0.000      0.300
   10.000700 [0000]  <idle>                              0.000      0.000      0.150
`

func TestSummarize(t *testing.T) {
	waits, _ := parse(strings.NewReader(sample), "prog")
	_, idles := parse(strings.NewReader(sample), "")
	r := summarize(waits, idles)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	if r.wakeups != 1 || !near(r.waitMs, 0.4) || !near(r.idleOtherMs, 0.3) {
		t.Errorf("got %d wake-ups, %.6f ms waiting, %.6f ms of it with another CPU idle; want 1, 0.4, 0.3", r.wakeups, r.waitMs, r.idleOtherMs)
	}
	if len(r.cpus) != 2 || !near(r.cpus[0].idleMs, 0.15) || !near(r.cpus[1].idleMs, 0.6) {
		t.Errorf("idle per CPU %+v; want cpu0 0.15 ms, cpu1 0.6 ms", r.cpus)
	}
	all, _ := parse(strings.NewReader(sample), "")
	if len(all) != 2 {
		t.Errorf("every thread: %d waits, want 2", len(all))
	}
}

func TestUnion(t *testing.T) {
	for _, c := range []struct {
		iv   []interval
		want float64
	}{
		{nil, 0},
		{[]interval{{0, 1}}, 1},
		{[]interval{{0, 1}, {0.5, 2}}, 2},
		{[]interval{{3, 4}, {0, 1}}, 2},
		{[]interval{{0, 4}, {1, 2}}, 4},
	} {
		if got := union(c.iv); got != c.want {
			t.Errorf("union(%v) = %v, want %v", c.iv, got, c.want)
		}
	}
}
