package ctl

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryStaleSocket: a control socket whose serve is gone (killed with
// SIGKILL) is named as such, not only as "connection refused".
func TestQueryStaleSocket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "glass9.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	_, err = QueryTablePath(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "is left from a glassnet that is no longer running") {
		t.Errorf("query of a stale socket: %v", err)
	}
}
