package ctl

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestFindOwnNetns: a serve in another network namespace has the name
// glass0 (interface names are per namespace, control sockets are not), so
// the one in this namespace listens as glass0-PID. From here, ss glass0
// and ss without a name both reach the one in this namespace, not the one
// that happens to have the name.
func TestFindOwnNetns(t *testing.T) {
	// Not parallel: it points the search path at a temporary directory.
	const envDir = "GLASSNET_CTL_TEST_DIR"
	if os.Getenv(envDir) == "" {
		// The parent, in the namespace the tests run in.
		tempDirs(t)
		_, ss := stacks(t)
		srv, err := Listen("glass0", ss, Options{Node: "other namespace"})
		must(t, err)
		defer srv.Close()
		t.Setenv(envDir, runDir)
	}
	netnstest.Run(t, func(t *testing.T) {
		old := runDir
		t.Cleanup(func() { runDir = old })
		runDir = os.Getenv(envDir)
		t.Setenv("XDG_RUNTIME_DIR", "")
		_, ss := stacks(t)
		// As serve does, finding the name taken.
		var inUse *InUseError
		if _, err := Listen("glass0", ss, Options{}); !errors.As(err, &inUse) {
			t.Fatalf("Listen(glass0) where the other namespace's serve has it: %v", err)
		}
		srv, err := Listen("glass0-"+strconv.Itoa(os.Getpid()), ss, Options{Node: "this namespace"})
		must(t, err)
		defer srv.Close()
		if p, err := Find("glass0"); err != nil || p != srv.Path() {
			t.Errorf("Find(glass0) = %q, %v; want %s, this namespace's", p, err, srv.Path())
		}
		ctx := testContext(t)
		if tab, err := QueryTable(ctx, "glass0"); err != nil || tab.Node != "this namespace" {
			t.Errorf("ss glass0: %v, %v; want this namespace's table", tab, err)
		}
		if tab, err := QueryTable(ctx, ""); err != nil || tab.Node != "this namespace" {
			t.Errorf("ss without a name: %v, %v; want this namespace's table", tab, err)
		}
		// By its full name, the other one is still there.
		if tab, err := QueryTablePath(ctx, filepath.Join(runDir, "glass0.sock")); err != nil || tab.Node != "other namespace" {
			t.Errorf("ss of glass0.sock: %v, %v; want the other namespace's", tab, err)
		}
	})
}
