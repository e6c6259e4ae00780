package stacktest

import (
	"fmt"
	"os"
	"path/filepath"
)

// PrivateControlDir gives the control sockets a test starts (ctl.Listen,
// through serve and lab) a directory of this user's to live in when the
// system's may not be theirs: a user who is not root, with no
// XDG_RUNTIME_DIR, would otherwise depend on /run/glassnet and
// os.TempDir()/glassnet, which a root run on the same machine may have
// made first, and which ctl then refuses as another user's. It sets
// XDG_RUNTIME_DIR to TMPDIR/glassnet-test-UID (made with mode 0700) for
// the process and those it starts; a TestMain calls it before m.Run.
func PrivateControlDir() error {
	if os.Geteuid() == 0 || os.Getenv("XDG_RUNTIME_DIR") != "" {
		return nil
	}
	d := filepath.Join(os.TempDir(), fmt.Sprintf("glassnet-test-%d", os.Geteuid()))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	return os.Setenv("XDG_RUNTIME_DIR", d)
}
