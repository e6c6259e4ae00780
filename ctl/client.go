package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/sockets"
)

// Table is what a running stack reports: its sockets, as Snapshot returns
// them, and its counters (drops by reason, hook verdicts) when it keeps
// any.
type Table struct {
	Node     string
	Sockets  []sockets.SocketInfo
	Counters map[string]uint64
	// Process is the memory, goroutines and socket count of the process
	// that runs the stack; nil from a server that does not report it.
	Process *Process
}

// Query asks the server called name for its socket table, as Snapshot
// returns it. An empty name means the only control socket present; when
// there are several, the error lists them.
func Query(ctx context.Context, name string) ([]sockets.SocketInfo, error) {
	t, err := QueryTable(ctx, name)
	if err != nil {
		return nil, err
	}
	return t.Sockets, nil
}

// QueryTable is Query with the stack's counters.
func QueryTable(ctx context.Context, name string) (*Table, error) {
	if name == "" {
		names := Names()
		if len(names) > 1 {
			// Sockets left by a serve killed with SIGKILL do not
			// count: "the only one running" is the only live one.
			names = slices.DeleteFunc(names, stale)
		}
		switch len(names) {
		case 0:
			return nil, notFound("ctl: no running glassnet found (looked in " + strings.Join(Dirs(), ", ") + ")" + othersHint())
		case 1:
			name = names[0]
		default:
			// The only one in this network namespace, if there is
			// one (ip netns exec NS glassnet ss).
			var paths []string
			for _, n := range names {
				if p, _ := findExact(n); p != "" {
					paths = append(paths, p)
				}
			}
			if p := inOwnNetns(paths); p != "" {
				return QueryTablePath(ctx, p)
			}
			return nil, errors.New("ctl: several glassnet stacks are running, none alone in this network namespace; name one of: " + strings.Join(names, ", "))
		}
	}
	path, err := Find(name)
	if err != nil {
		return nil, err
	}
	return QueryTablePath(ctx, path)
}

// stale reports whether the control socket of name is left from a serve
// that no longer runs: nothing accepts on it.
func stale(name string) bool {
	path, err := Find(name)
	if err != nil {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}

// QueryPath is Query on an exact socket path.
func QueryPath(ctx context.Context, path string) ([]sockets.SocketInfo, error) {
	t, err := QueryTablePath(ctx, path)
	if err != nil {
		return nil, err
	}
	return t.Sockets, nil
}

// QueryTablePath is QueryTable on an exact socket path.
func QueryTablePath(ctx context.Context, path string) (*Table, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if errors.Is(err, syscall.ECONNREFUSED) {
		// the socket file outlived its serve (killed with SIGKILL)
		return nil, fmt.Errorf("ctl: %s is left from a glassnet that is no longer running (nothing accepts on it); the next serve of that name takes it over: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	defer c.Close()
	deadline := time.Now().Add(ioTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// A server too busy to answer (maxClients) says so and closes at
	// once, without reading the request: a write that finds it closed is
	// followed by a read of what it said.
	_, werr := c.Write([]byte(`{"op":"sockets"}` + "\n"))
	var rep reply
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&rep); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ctl: %s: %w", path, ctx.Err())
		}
		if werr != nil {
			return nil, fmt.Errorf("ctl: %s: %w", path, werr)
		}
		return nil, fmt.Errorf("ctl: %s: reading the reply: %w", path, err)
	}
	if rep.Error != "" {
		return nil, fmt.Errorf("ctl: %s: %s", path, rep.Error)
	}
	return &Table{Node: rep.Node, Sockets: rep.Sockets, Counters: rep.Counters, Process: rep.Process}, nil
}
