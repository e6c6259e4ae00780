package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/ui"
)

// viewTakes says what view reads.
const viewTakes = "view reads a .jsonl that --trace wrote, or a pcapng or pcap capture such as --pcap or tcpdump -w writes"

// view serves a recorded run in the browser view until interrupted.
func view(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("view", stderr)
	var addr uiFlag
	fs.Var(&addr, "ui", "serve the view at `ADDR` on the host's stack (default "+ui.DefaultAddr+")")
	skip := fs.Int("skip", 0, "leave out the first `N` events of a trace (packets of a capture): the view keeps "+strconv.Itoa(ui.DefaultHistory)+" events, and of a longer run shows the part after them")
	rest, err := parseFlags(fs, uiArgs(args), stdout, true)
	if err != nil {
		return err
	}
	if *skip < 0 {
		return usagef("view: --skip %d: a number of events, 0 or more", *skip)
	}
	if len(rest) != 1 {
		return usagef("view: one FILE: a .jsonl written by --trace, or a capture written by --pcap (pcapng or pcap)")
	}
	f, err := os.Open(rest[0])
	if err != nil && rest[0] == "-" && errors.Is(err, os.ErrNotExist) {
		// tcpdump -r - reads stdin; view reads a whole run before it
		// shows it, which a capture still being written never is.
		return usagef("view: -: view reads a FILE, not stdin; write the run to a file first (--trace FILE, --pcap FILE, tcpdump -w FILE)")
	}
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return fmt.Errorf("view: %s is a directory; %s", rest[0], viewTakes)
	}
	srv, err := ui.New(ui.Options{})
	if err != nil {
		f.Close()
		return err
	}
	n, err := srv.LoadFrom(f, *skip)
	f.Close()
	switch {
	case err != nil && n == 0:
		return fmt.Errorf("view: %s: %w (%s)", rest[0], err, viewTakes)
	case err != nil:
		// A file cut short, or longer than the view keeps: what was
		// read is worth seeing, as Wireshark shows a capture cut short.
		fmt.Fprintf(stderr, "glassnet: view: %s: %v; showing the %d events read\n", rest[0], err, n)
		var many *ui.TooManyError
		if errors.As(err, &many) {
			fmt.Fprintf(stderr, "glassnet: view: --skip %d shows the part after them\n", many.Next)
		}
	}
	url, err := srv.Start(addr.addr)
	if err != nil {
		return fmt.Errorf("view: %w", app.UIListenError(err))
	}
	defer srv.Close()
	fmt.Fprintln(stderr, ui.Announce(url))
	<-ctx.Done()
	return nil
}
