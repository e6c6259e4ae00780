// Command schedwait reads a `perf sched record` file and tells how long a
// program's threads waited in a run queue after being woken, and for how
// much of that wait another CPU was idle: work that could have run and did
// not, because the wakee was queued behind a running thread instead of
// started on the idle CPU.
//
//	perf sched record -a -o sched.data -- sleep 2    # while the benchmark runs
//	go run ./cmd/schedwait -i sched.data -comm glassbench
//
// It runs `perf sched timehist` twice on the file, once for the threads'
// wake-up delays and once with -I for the CPUs' idle periods.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// interval is [from, to] in seconds of perf's clock.
type interval struct{ from, to float64 }

// wait is one thread's time in a run queue on cpu before it ran.
type wait struct {
	cpu int
	interval
}

func main() {
	in := flag.String("i", "perf.data", "the `file` perf sched record wrote")
	comm := flag.String("comm", "", "the program whose threads count (perf's comm, e.g. glassbench); empty: every thread")
	flag.Parse()
	busy, err := timehist(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "schedwait:", err)
		os.Exit(1)
	}
	idle, err := timehist(*in, "-I")
	if err != nil {
		fmt.Fprintln(os.Stderr, "schedwait:", err)
		os.Exit(1)
	}
	waits, _ := parse(bytes.NewReader(busy), *comm)
	_, idles := parse(bytes.NewReader(idle), "")
	r := summarize(waits, idles)
	fmt.Printf("%d wake-ups of %s: %.1f ms waiting in a run queue, %.1f ms of it while another CPU was idle\n",
		r.wakeups, name(*comm), r.waitMs, r.idleOtherMs)
	for _, c := range r.cpus {
		fmt.Printf("cpu%d idle %.1f ms\n", c.cpu, c.idleMs)
	}
}

func name(comm string) string {
	if comm == "" {
		return "every thread"
	}
	return comm
}

// timehist runs perf sched timehist on file with args.
func timehist(file string, args ...string) ([]byte, error) {
	cmd := exec.Command("perf", append([]string{"sched", "timehist", "-i", file}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, errors.New("no perf command (Debian: apt-get install linux-perf)")
	}
	if err != nil {
		return nil, fmt.Errorf("perf sched timehist %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// parse reads timehist's lines ("time [cpu] task wait sch-delay run", the
// times in ms): the run-queue waits of comm's threads (every thread's
// when comm is empty) and each CPU's idle periods (the <idle> task).
func parse(r io.Reader, comm string) ([]wait, map[int][]interval) {
	var waits []wait
	idles := map[int][]interval{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[1], "[") {
			continue
		}
		t, err1 := strconv.ParseFloat(f[0], 64)
		cpu, err2 := strconv.Atoi(strings.Trim(f[1], "[]"))
		run, err3 := strconv.ParseFloat(f[len(f)-1], 64)
		sch, err4 := strconv.ParseFloat(f[len(f)-2], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		task := f[2]
		start := t - run/1e3
		switch {
		case task == "<idle>":
			idles[cpu] = append(idles[cpu], interval{start, t})
		case sch > 0 && (comm == "" || strings.HasPrefix(task, comm+"[")):
			waits = append(waits, wait{cpu, interval{start - sch/1e3, start}})
		}
	}
	return waits, idles
}

// result is what summarize found.
type result struct {
	wakeups             int
	waitMs, idleOtherMs float64
	cpus                []cpuIdle
}

type cpuIdle struct {
	cpu    int
	idleMs float64
}

// summarize adds up the waits and, for each, the time some other CPU was
// idle during it (counted once however many CPUs were).
func summarize(waits []wait, idles map[int][]interval) result {
	var r result
	for _, w := range waits {
		r.wakeups++
		r.waitMs += (w.to - w.from) * 1e3
		var others []interval
		for cpu, iv := range idles {
			if cpu == w.cpu {
				continue
			}
			for _, x := range iv {
				if lo, hi := max(x.from, w.from), min(x.to, w.to); hi > lo {
					others = append(others, interval{lo, hi})
				}
			}
		}
		r.idleOtherMs += union(others) * 1e3
	}
	for cpu, iv := range idles {
		r.cpus = append(r.cpus, cpuIdle{cpu, union(iv) * 1e3})
	}
	sort.Slice(r.cpus, func(i, j int) bool { return r.cpus[i].cpu < r.cpus[j].cpu })
	return r
}

// union is the length of the union of the intervals.
func union(iv []interval) float64 {
	if len(iv) == 0 {
		return 0
	}
	s := append([]interval(nil), iv...)
	sort.Slice(s, func(i, j int) bool { return s[i].from < s[j].from })
	total, cur := 0.0, s[0]
	for _, x := range s[1:] {
		if x.from > cur.to {
			total += cur.to - cur.from
			cur = x
			continue
		}
		cur.to = max(cur.to, x.to)
	}
	return total + cur.to - cur.from
}
