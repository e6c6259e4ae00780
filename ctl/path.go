package ctl

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Dirs returns the directories a control socket may live in, in the order
// the server tries them and the client searches them: /run/glassnet, then
// $XDG_RUNTIME_DIR/glassnet when that variable is set, then
// os.TempDir()/glassnet.
func Dirs() []string {
	dirs := []string{runDir}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, "glassnet"))
	}
	dirs = append(dirs, filepath.Join(os.TempDir(), "glassnet"))
	return slices.Compact(dirs)
}

const suffix = ".sock"

// runDir is the first choice; tests point it elsewhere.
var runDir = "/run/glassnet"

// CheckName rejects a control socket name that is not a single path
// element (empty, ".", "..", or with a slash).
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return errors.New("ctl: invalid name " + strconv.Quote(name) + " (want a TUN name such as glass0)")
	}
	return nil
}

// checkDir accepts d when it is a directory of this user that no one else
// may write to: the last of Dirs is under the system's shared temporary
// directory, where another user could make it first and put a socket of
// theirs where ss looks for serve's. The server does not use such a
// directory, and the client does not look in it.
func checkDir(d string) error {
	fi, err := os.Lstat(d)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", d)
	case ok && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to another user (uid %d)", d, st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by others (mode %v)", d, fi.Mode().Perm())
	}
	return nil
}

// Find returns the path of the control socket called name, searching Dirs
// in order, or an error naming the places it looked, which matches
// fs.ErrNotExist with errors.Is.
//
// A serve whose name was taken (by one in another network namespace:
// interface names are per namespace, control sockets are not) listens as
// NAME-PID (or NAME-PID-N). When several stacks answer to name, the one
// in this process's network namespace is found, if there is one (ip
// netns exec NS glassnet ss NAME); otherwise the one called name itself.
func Find(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	exact, looked := findExact(name)
	var alts []string
	for _, n := range Names() {
		if altName(n, name) {
			alts = append(alts, n)
		}
	}
	if len(alts) > 1 || len(alts) > 0 && exact != "" {
		// Sockets left by serves killed with SIGKILL do not count.
		if live := slices.DeleteFunc(slices.Clone(alts), stale); len(live) > 0 || exact != "" {
			alts = live
		}
	}
	if len(alts) > 0 {
		paths := make([]string, 0, len(alts)+1)
		if exact != "" {
			paths = append(paths, exact)
		}
		for _, n := range alts {
			if p, _ := findExact(n); p != "" {
				paths = append(paths, p)
			}
		}
		if p := inOwnNetns(paths); p != "" {
			return p, nil
		}
	}
	switch {
	case exact != "":
		return exact, nil
	case len(alts) == 1:
		return Find(alts[0])
	case len(alts) > 1:
		return "", errors.New("ctl: several glassnet stacks are called " + name + ", none in this network namespace; name one of: " + strings.Join(alts, ", "))
	}
	return "", notFound("ctl: no control socket " + name + " (looked at " + strings.Join(looked, ", ") + "); is glassnet serve running?" + othersHint())
}

// notFound is the error of a search that found no control socket: it
// matches fs.ErrNotExist with errors.Is, as a missing file does.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == fs.ErrNotExist }

// findExact returns the path of the control socket called name in the
// first of Dirs that has it, or "" and the places it looked.
func findExact(name string) (path string, looked []string) {
	for _, d := range Dirs() {
		p := filepath.Join(d, name+suffix)
		if err := checkDir(d); err != nil {
			if !os.IsNotExist(err) {
				p += " (not searched: " + err.Error() + ")"
			}
			looked = append(looked, p)
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return p, nil
		}
		looked = append(looked, p)
	}
	return "", looked
}

// inOwnNetns returns the one of paths whose serve runs in this process's
// network namespace, or "" when none does, or more than one, or it cannot
// be told.
func inOwnNetns(paths []string) string {
	own := ownNetns()
	if own == "" {
		return ""
	}
	found := ""
	for _, p := range paths {
		if ns, err := peerNetns(p); err == nil && ns == own {
			if found != "" {
				return ""
			}
			found = p
		}
	}
	return found
}

// othersHint says, for an error that found no control socket, which of
// Dirs belongs to another user: the stacks there are seen only as that
// user (a serve started with sudo, by sudo glassnet ss). It is "" when
// none does.
func othersHint() string {
	for _, d := range Dirs() {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return fmt.Sprintf("; %s belongs to uid %d, and ss sees the stacks there only as that user: a serve started with sudo is seen with sudo glassnet ss", d, st.Uid)
		}
	}
	return ""
}

// altName reports whether n is name-PID or name-PID-N, the name a serve
// takes when another has name (see Find).
func altName(n, name string) bool {
	rest, ok := strings.CutPrefix(n, name+"-")
	if !ok {
		return false
	}
	pid, n2, two := strings.Cut(rest, "-")
	if _, err := strconv.Atoi(pid); err != nil {
		return false
	}
	if two {
		if _, err := strconv.Atoi(n2); err != nil {
			return false
		}
	}
	return true
}

// staleAge is how old a socket that refuses connections must be for
// sweepStale to remove it: a serve that has just bound its socket and not
// yet listened on it refuses too, for a moment.
const staleAge = 10 * time.Second

// sweepStale removes from d the sockets name-PID and name-PID-N that
// serves killed with SIGKILL left: no later serve takes one over (each
// names its own by its own PID), so without this they stay for ever, and
// Names and Find list them.
func sweepStale(d, name string) {
	ents, err := os.ReadDir(d)
	if err != nil {
		return
	}
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || e.Type()&os.ModeSocket == 0 || !altName(n, name) {
			continue
		}
		p := filepath.Join(d, e.Name())
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleAge {
			continue
		}
		c, err := net.DialTimeout("unix", p, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			os.Remove(p)
		}
	}
}

// Names lists the control sockets present in Dirs, without their
// directory and suffix, each once.
func Names() []string {
	var names []string
	for _, d := range Dirs() {
		if checkDir(d) != nil {
			continue
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.Type()&os.ModeSocket != 0 && strings.HasSuffix(e.Name(), suffix) {
				names = append(names, strings.TrimSuffix(e.Name(), suffix))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
