package interop

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

// TestReliabStdoutReaderStops: serve tracing to standard output (--trace
// -) into a pipe whose reader stopped reading, as a paused less does,
// still echoes WebSocket messages from the kernel's TCP once the output
// has given up on the reader, and says on SIGINT why the trace ended.
// Before, the stack waited for the reader, and every connection with it.
func TestReliabStdoutReaderStops(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		// Standard output: a pipe that nobody reads.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		w.Fd() // blocking, as a shell's pipe is (os.Pipe's are not)
		cmd := exec.Command(glassnetBin, "serve", "--tun", "reliab3", "--addr", "10.203.0.2/24", "--trace", "-")
		cmd.Stdout = w
		errPipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		// What serve says goes to standard error with --trace -.
		var mu sync.Mutex
		var stderr strings.Builder
		ready := make(chan struct{})
		read := make(chan struct{}) // standard error read to its end
		go func() {
			defer close(read)
			sc := bufio.NewScanner(errPipe)
			for seen := false; sc.Scan(); {
				mu.Lock()
				stderr.WriteString(sc.Text() + "\n")
				mu.Unlock()
				if !seen && strings.HasPrefix(sc.Text(), "glassnet: serving") {
					seen = true
					close(ready)
				}
			}
		}()
		said := func() string {
			mu.Lock()
			defer mu.Unlock()
			return stderr.String()
		}
		// Wait closes the pipe: only once it is read to its end, or the
		// last line serve says as it exits, why its trace ended, can be
		// lost (os/exec: Wait before the reads have completed).
		done := make(chan error, 1)
		go func() {
			<-read
			done <- cmd.Wait()
		}()
		defer func() {
			cmd.Process.Kill()
			<-done
		}()
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatalf("no ready line from serve:\n%s", said())
		}

		// WebSocket echo: its frames and socket calls are traced as
		// they happen, and wait for the trace's writer.
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		c, _, err := ws.Dial(ctx, "ws://10.203.0.2:8080/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		msg := bytes.Repeat([]byte("glassnet"), 64)
		for i := range 2000 {
			if err := c.WriteMessage(ctx, ws.MessageBinary, msg); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if _, got, err := c.ReadMessage(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo of message %d: %d bytes, %v", i, len(got), err)
			}
		}
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err = <-done:
			done <- err
		case <-time.After(15 * time.Second):
			t.Fatalf("serve did not exit within 15s of SIGINT:\n%s", said())
		}
		if err == nil {
			t.Error("serve exited 0 with its trace cut short")
		}
		if out := said(); !strings.Contains(out, "standard output is incomplete: its reader took no data for 5s") {
			t.Errorf("serve did not say why its trace ended:\n%s", out)
		}
	})
}
