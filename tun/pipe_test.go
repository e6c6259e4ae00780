package tun

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func readOne(t *testing.T, d Device) []byte {
	t.Helper()
	bufs := [][]byte{make([]byte, 2000)}
	sizes := []int{0}
	n, err := d.Read(bufs, sizes)
	if err != nil || n != 1 {
		t.Fatalf("Read = %d, %v", n, err)
	}
	return bufs[0][:sizes[0]]
}

func TestPipeDeliversInOrder(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{})
	defer a.Close()
	defer b.Close()
	pkts := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	if n, err := a.Write(pkts); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 100)
	}
	sizes := make([]int, 8)
	var got [][]byte
	for len(got) < 3 {
		n, err := b.Read(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
		}
	}
	for i := range pkts {
		if !bytes.Equal(got[i], pkts[i]) {
			t.Fatalf("packet %d = %q, want %q", i, got[i], pkts[i])
		}
	}
	if s := b.Stats(); s.PacketsRead != 3 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestPipeWriteCopies(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{})
	defer a.Close()
	defer b.Close()
	p := []byte("abc")
	a.Write([][]byte{p})
	p[0] = 'X'
	if got := readOne(t, b); string(got) != "abc" {
		t.Fatalf("got %q", got)
	}
}

func TestPipeBlocksWhenFull(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{QueueLen: 2})
	defer a.Close()
	defer b.Close()
	a.Write([][]byte{{1}, {2}})
	done := make(chan struct{})
	go func() {
		a.Write([][]byte{{3}})
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("write to a full queue did not block")
	case <-time.After(50 * time.Millisecond):
	}
	readOne(t, b)
	<-done
}

func TestPipeLatency(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{Latency: 30 * time.Millisecond})
	defer a.Close()
	defer b.Close()
	start := time.Now()
	a.Write([][]byte{{1}})
	readOne(t, b)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("packet arrived after %v, before the latency", d)
	}
}

func TestPipeMTU(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{MTU: 100})
	defer a.Close()
	defer b.Close()
	if _, err := a.Write([][]byte{make([]byte, 101)}); err == nil {
		t.Fatal("oversized packet accepted")
	}
}

func TestPipeClose(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{})
	errc := make(chan error, 1)
	go func() {
		_, err := b.Read([][]byte{make([]byte, 10)}, []int{0})
		errc <- err
	}()
	waitParked(t, "tun.TestPipeClose.func1")
	b.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) || err.Error() != "tun: device closed" {
			t.Fatalf("blocked Read after Close = %v, want ErrClosed, which is also net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake a blocked Read")
	}
	if n, err := a.Write([][]byte{{1}}); n != 1 || err != nil {
		t.Fatalf("write to a closed peer = %d, %v; want discarded", n, err)
	}
	if a.Stats().Discarded != 1 {
		t.Fatalf("stats = %+v", a.Stats())
	}
	a.Close()
	if _, err := a.Write([][]byte{{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
}

// BenchmarkPipe moves one 1400-byte packet per op through an in-memory
// pair: Write on one end, Read on the other.
func BenchmarkPipe(b *testing.B) {
	x, y := Pipe(PipeOptions{})
	defer x.Close()
	defer y.Close()
	pkt := [][]byte{make([]byte, 1400)}
	bufs := [][]byte{make([]byte, 1500)}
	sizes := make([]int, 1)
	b.ReportAllocs()
	b.SetBytes(1400)
	for range b.N {
		if _, err := x.Write(pkt); err != nil {
			b.Fatal(err)
		}
		if _, err := y.Read(bufs, sizes); err != nil {
			b.Fatal(err)
		}
	}
}

// waitParked waits until the goroutine running fn (a function name as a
// stack trace shows it) is parked: blocked on a channel, a select, a lock
// or a condition, not running or about to run.
func waitParked(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			head, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, fn) && (strings.Contains(head, "[select") || strings.Contains(head, "[chan receive") ||
				strings.Contains(head, "[sync.Cond.Wait") || strings.Contains(head, "[sync.Mutex.Lock") ||
				strings.Contains(head, "[semacquire")) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not block within 10 s", fn)
		}
		time.Sleep(time.Millisecond)
	}
}
