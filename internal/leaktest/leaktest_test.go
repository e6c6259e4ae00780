package leaktest

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	if err := Check(time.Second); err != nil {
		t.Fatalf("Check with nothing running: %v", err)
	}
	stop := make(chan struct{})
	go func() { <-stop }()
	err := Check(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 goroutines outlived") || !strings.Contains(err.Error(), "TestCheck") {
		t.Fatalf("Check with a blocked goroutine = %v", err)
	}
	close(stop)
	if err := Check(time.Second); err != nil {
		t.Fatalf("Check after it ended: %v", err)
	}
}
