// Command glassnet runs a userspace TCP/IP stack with a WebSocket server on
// top and shows every step a byte takes between a packet and a frame.
//
//	glassnet demo  [--trace FILE|-] [--pcap FILE] [--calls FILE|-] [--mtu N] [--step]
//	               [--no-delayed-ack] [--ui [ADDR]] [--ui-run] [--egress RULE]... [--ingress RULE]...
//	glassnet serve (--tun NAME | --nic IFACE) --addr CIDR[,CIDR...]
//	               [--host-addr CIDR | --no-host-config] [--mac MAC] [--promisc]
//	               [--port 8080] [--mtu N] [--no-offload] [--no-delayed-ack] [--no-compress]
//	               [--trace FILE|-] [--pcap FILE] [--max-message BYTES] [--kernel ADDR]
//	               [--calls FILE|-] [--allow-origin PATTERN]... [--idle-timeout 5m0s]
//	               [--max-conns 4096] [--max-message-memory BYTES] [--ui [ADDR]]
//	               [--egress RULE]... [--ingress RULE]...
//	glassnet ss    [--brief] [NAME]
//	glassnet lab   [--nic] [--addr CIDR[,CIDR...]] [--port 8080] [--allow-origin PATTERN]...
//	               [--max-message BYTES] [--no-offload] [--no-delayed-ack] [--ui [ADDR]]
//	               [--trace FILE] [--pcap FILE] [--egress RULE]... [--ingress RULE]...
//	               [-- COMMAND [ARG...]]
//	glassnet view  [--ui ADDR] [--skip N] FILE
//
// glassnet help says what each command does; glassnet COMMAND -h lists its
// flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/ui"
)

const usage = `glassnet: a userspace TCP/IP stack with a WebSocket server, every step visible

Usage:
  glassnet demo  [--trace FILE|-] [--pcap FILE] [--calls FILE|-] [--mtu N] [--step]
                 [--no-delayed-ack] [--ui [ADDR]] [--ui-run] [--egress RULE]... [--ingress RULE]...
      Two stacks in one process over an in-memory link; a WebSocket client
      talks to the server and every packet, socket step and frame is printed.
      --step pauses before each step, like a debugger (h at the prompt lists
      the commands: step to the next packet, segment, frame or message,
      breakpoints, the step's fields).
      --no-delayed-ack: every batch of data received is ACKed at once,
      instead of the echo carrying it (Linux's delayed ACK, on by default).
      --ui serves a browser view at ADDR (default 127.0.0.1:8999) on the
      host's own stack and prints its URL; the demo waits at its first step
      until the page says play (--ui-run: runs at once) and keeps the view
      open after the conversation until interrupted.
      Needs no privileges.

  glassnet serve (--tun NAME | --nic IFACE) --addr CIDR[,CIDR...]
                 [--host-addr CIDR | --no-host-config] [--mac MAC] [--promisc]
                 [--port 8080] [--mtu N] [--no-offload] [--no-delayed-ack] [--no-compress]
                 [--trace FILE|-] [--pcap FILE] [--max-message BYTES] [--kernel ADDR]
                 [--calls FILE|-] [--allow-origin PATTERN]... [--idle-timeout 5m0s]
                 [--max-conns 4096] [--max-message-memory BYTES] [--ui [ADDR]]
                 [--egress RULE]... [--ingress RULE]...
      Runs the stack on a TUN interface, or on an Ethernet interface through
      an AF_PACKET socket (needs root or CAP_NET_ADMIN), on IPv4 and/or IPv6
      addresses, and serves GET / (a chat page), WebSocket /echo and /chat,
      UDP echo on the HTTP port, TCP echo on port 7 and discard on port 9.
      WebSocket upgrades from pages of other origins get 403 unless
      --allow-origin names them; silent connections close after
      --idle-timeout; past --max-conns HTTP gets 503 and TCP a reset.
      --ui serves the browser view as for demo; the stack runs freely until
      the page pauses it or a breakpoint hits.

  glassnet ss    [--brief] [NAME]
      The socket table of a running serve (NAME: its TUN or NIC name; may be
      left out when only one runs), like ss -tuani, with TCP details.

  glassnet lab   [--nic] [--addr CIDR[,CIDR...]] [--port 8080] [--allow-origin PATTERN]...
                 [--max-message BYTES] [--no-offload] [--no-delayed-ack] [--ui [ADDR]]
                 [--trace FILE] [--pcap FILE] [--egress RULE]... [--ingress RULE]...
                 [-- COMMAND [ARG...]]
      Creates a network namespace of its own with a TUN (or with --nic a
      veth pair) to a stack that serves as above, and runs COMMAND, or a
      shell, inside it. Everything goes away when it exits. Needs root.
      --ui serves the browser view of the lab's stack on this host's stack.

  glassnet view  [--ui ADDR] [--skip N] FILE
      Opens a recorded run (a .jsonl written by --trace, or a capture
      written by --pcap: demo's pcapng, serve's and lab's pcap, or
      tcpdump's) in the browser view, offline. The WebSocket frames in a
      capture's TCP streams are read back out of them. The view keeps
      200,000 events: of a longer run it shows the first, and --skip N
      the part after the first N events (packets of a capture).

  Rules (--egress and --ingress; for demo they act on the client's link):
      [FILTER :] ACTION [seed N], e.g.
        loss 20%                 delay 50ms jitter 10ms distribution normal
        duplicate 5%             reorder 10%        corrupt 1%
        rate 1mbit burst 32kb    rst after 10 packets
        tcp and port 8080 and syn : drop           ttl 32     window 1000
      FILTER is a tcpdump-like subset: host, src/dst host, net, port,
      src/dst port, tcp udp icmp icmp6 ip ip6, syn ack fin rst psh urg,
      len < N (<= > >= == !=), and or not ( ).
      A rule that starts with ws acts on WebSocket frames instead:
      ws [FRAME FILTER :] ACTION, the filter words text binary continuation
      close ping pong, opcode N, fin, masked, compressed, len < N,
      contains WORD (len and contains see a compressed message's DEFLATE
      bytes), and or not ( ); the actions drop, loss P%, delay D,
      duplicate, split N. E.g.
        ws text : drop           ws ping : delay 100ms
        ws binary and len > 1000 : split 4

Run 'glassnet COMMAND -h' or 'glassnet help COMMAND' for the flags of one command.
`

func main() {
	if app.InLabChild() {
		// Re-executed by glassnet lab inside its new namespace.
		os.Exit(app.RunLabChild())
	}
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode says err, if it is worth saying, and returns the status to exit
// with: 0 for none (or -h), 2 for a mistake in the command line, the
// command's own for glassnet lab, 1 for a failure while running.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	// Each error joined into err on a line of its own, said as glassnet's:
	// an interrupted demo's status (exitError) came with an output file
	// cut short, which went unsaid, and a second error's line read as
	// if from another program.
	for _, e := range joined(err) {
		if _, ok := e.(exitError); !ok {
			fmt.Fprintln(stderr, "glassnet:", e)
		}
	}
	var exit exitError
	var cfg *app.ConfigError
	switch {
	case errors.As(err, &exit):
		return int(exit)
	case errors.As(err, &cfg):
		return 2
	}
	return 1
}

// joined returns the errors that errors.Join put together in err, however
// deep, or err alone.
func joined(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		if e != nil {
			out = append(out, joined(e)...)
		}
	}
	return out
}

// usagef is a mistake in the command line: exit status 2.
func usagef(format string, a ...any) error {
	return &app.ConfigError{Err: fmt.Errorf(format, a...)}
}

// parseFlags parses args with fs. -h prints the flags on stdout (and the
// error is flag.ErrHelp: exit 0); a bad flag is a usage error that names
// the command, said once. With intersperse, flags may come after the
// arguments ("ss NAME --brief"), up to a "--"; it returns the arguments.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, intersperse bool) ([]string, error) {
	fs.SetOutput(io.Discard)
	unwrap := wrapOnce(fs)
	defer unwrap()
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			unwrap()
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, err
		}
		if err != nil {
			return nil, usagef("%s: %s (glassnet %s -h lists its flags)", fs.Name(), asTyped(notBoolean(fs, err), args), fs.Name())
		}
		rest := fs.Args()
		if used := len(args) - len(rest); !intersperse || len(rest) == 0 || used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	if args[0] == "help" && len(args) > 1 {
		// glassnet help serve: serve's flags, as glassnet serve -h
		if len(args) > 2 || !isCommand(args[1]) {
			return usagef("help: %q: want one of %s (glassnet help lists them)", strings.Join(args[1:], " "), commandList)
		}
		args = []string{args[1], "-h"}
	}
	if args[0] == "lab" {
		// The lab handles its signals itself: Ctrl-C belongs to the
		// command running inside it.
		return lab(args[1:], stdout, stderr)
	}
	// SIGHUP as well: a closed terminal or ssh session ends a command as
	// ^C does, with close frames sent and the control socket removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	switch args[0] {
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "ss":
		return ss(ctx, args[1:], stdout, stderr)
	case "view":
		return view(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usagef("unknown command %q: want one of %s (glassnet help lists them)", args[0], commandList)
	}
}

// commandList names the commands, for a message.
const commandList = "demo, serve, ss, lab or view"

func isCommand(name string) bool {
	switch name {
	case "demo", "serve", "ss", "lab", "view":
		return true
	}
	return false
}

// exitError is an exit status to leave with, without a message: the
// status of the command glassnet lab ran.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n%s\nFlags (glassnet help: every command):\n", commandUsage(name))
		// each flag as the synopsis and the docs write it, --addr (the
		// flag package prints -addr; both are taken)
		out := fs.Output()
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(out)
		io.WriteString(out, flagLine.ReplaceAllString(b.String(), "$1--"))
	}
	return fs
}

// flagLine is the start of a flag's line in PrintDefaults.
var flagLine = regexp.MustCompile(`(?m)^(  )-`)

// commandUsage is the lines of usage about command name: its synopsis
// (the arguments it takes, as ss's NAME or view's FILE) and what it does.
func commandUsage(name string) string {
	_, rest, ok := strings.Cut(usage, "\n  glassnet "+name+" ")
	if !ok {
		return ""
	}
	section, _, _ := strings.Cut(rest, "\n\n")
	return "  glassnet " + name + " " + section + "\n"
}

// stdin is where --step reads its commands; tests replace it.
var stdin io.Reader = os.Stdin

// outputs opens the --trace, --pcap and --calls destinations; close closes
// them, and reports a write that failed (app.OutFile).
type outputs struct {
	trace, pcap, calls io.Writer
	files              []*app.OutFile
}

func (o *outputs) open(cmd, tracePath, pcapPath string, stdout io.Writer) error {
	var err error
	if o.trace, err = o.create(cmd, "--trace", tracePath, stdout); err != nil {
		return err
	}
	o.pcap, err = o.create(cmd, "--pcap", pcapPath, nil)
	return err
}

// create opens path, named by cmd's flag, for writing: nil for "", stdout
// for "-" where allowed.
func (o *outputs) create(cmd, flag, path string, stdout io.Writer) (io.Writer, error) {
	switch {
	case path == "":
		return nil, nil
	case path == "-" && stdout != nil:
		return stdout, nil
	}
	f, err := app.CreateOutFile(flag, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	o.files = append(o.files, f)
	return f, nil
}

func (o *outputs) close() error {
	var errs []error
	for _, f := range o.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	tracePath := fs.String("trace", "", "write every event as JSON lines to `FILE` (- for stdout, replacing the readable account)")
	pcapPath := fs.String("pcap", "", "write both stacks' packets to `FILE` (pcapng: one interface per stack, direction, packet id, and a comment naming the WebSocket frames each carried)")
	callsPath := fs.String("calls", "", "write a strace-like line for every socket call to `FILE` (- for stdout, replacing the readable account)")
	mtu := fs.Int("mtu", 1500, "MTU of the in-memory link")
	noDelAck := fs.Bool("no-delayed-ack", false, "both stacks acknowledge every batch of received data at once, as upstream gVisor does, instead of waiting (40 ms, up to 200 ms on a longer path) for the reply to carry the ACK (Linux's delayed ACK, on by default)")
	step := fs.Bool("step", false, "pause before each step, like a debugger: enter = next step, p/s/f/m = next packet/segment/frame/message, b FILTER = breakpoint, c = continue to it, x = the step's fields, q = run freely, h = help")
	var uiAddr uiFlag
	fs.Var(&uiAddr, "ui", "serve the browser view at `ADDR` on the host's stack (default "+ui.DefaultAddr+"); the demo waits for the page to say play")
	uiRun := fs.Bool("ui-run", false, "with --ui, run at once instead of waiting for the page")
	var rules app.Rules
	addRuleFlags(fs, &rules)
	args = uiArgs(args)
	rest, err := parseFlags(fs, args, stdout, true)
	if err != nil {
		return err
	}
	if *step && uiAddr.set {
		return usagef("demo: --step and --ui both want to drive the steps: choose one")
	}
	if *uiRun && !uiAddr.set {
		return usagef("demo: --ui-run goes with --ui")
	}
	if len(rest) > 0 {
		return unexpectedArg("demo", args, rest[0])
	}
	if err := checkEmptyOutputs("demo", fs, "trace", "pcap", "calls"); err != nil {
		return err
	}
	if *mtu < minMTU || *mtu > maxMTU {
		return usagef("demo: --mtu %d: want an MTU from %d to %d", *mtu, minMTU, maxMTU)
	}
	if err := rules.Check(); err != nil {
		return usagef("demo: %w", err)
	}
	if err := checkOutputs("demo", map[string]string{"--trace": *tracePath, "--pcap": *pcapPath, "--calls": *callsPath}); err != nil {
		return err
	}
	var out outputs
	if err := out.open("demo", *tracePath, *pcapPath, stdout); err != nil {
		return err
	}
	if out.calls, err = out.create("demo", "--calls", *callsPath, stdout); err != nil {
		return errors.Join(err, out.close())
	}
	opts := app.DemoOptions{Out: stdout, Trace: out.trace, PCAPNG: out.pcap, CallLog: out.calls, MTU: *mtu, NoDelayedACK: *noDelAck, Rules: rules}
	if *tracePath == "-" || *callsPath == "-" {
		opts.Out = nil
		if *step {
			// The steps and the prompt must not mix with the JSON.
			opts.Out = stderr
		}
	}
	if *step {
		opts.StepIn = stdin
	}
	if uiAddr.set {
		opts.UI = &app.UIOptions{Addr: uiAddr.addr, Run: *uiRun, Out: stderr}
	}
	err = app.Demo(ctx, opts)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C or SIGTERM: not a failure of the run, said as such,
		// with the shell's status for an interrupted command.
		fmt.Fprintln(stderr, "glassnet: demo: interrupted before the conversation ended")
		err = exitError(130)
	}
	return errors.Join(err, out.close())
}

func ss(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ss", stderr)
	brief := fs.Bool("brief", false, "leave out the TCP details under each connection and the counters")
	rest, err := parseFlags(fs, args, stdout, true)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("ss: at most one NAME, not %q", rest)
	}
	name := ""
	if len(rest) == 1 {
		name = rest[0]
		// ctl takes "" for "the only one running"
		if ctl.CheckName(name) != nil {
			return usagef("ss: NAME %q: want the TUN or NIC name a serve runs on, such as glass0 (or leave it out when only one runs)", name)
		}
	}
	t, err := ctl.QueryTable(ctx, name)
	if err != nil {
		return err
	}
	if err := ctl.Render(stdout, t.Sockets, ctl.RenderOptions{Info: !*brief}); err != nil || *brief {
		return err
	}
	if t.Process != nil {
		if err := ctl.RenderProcess(stdout, *t.Process); err != nil {
			return err
		}
	}
	return ctl.RenderCounters(stdout, t.Counters)
}

// The MTUs demo takes: IPv4's least (RFC 791) to the largest a packet
// length can say.
const minMTU, maxMTU = 68, 65535

// checkOutputs refuses two outputs on one destination (their bytes would
// mix): two flags naming the same file, or both "-" (stdout); and --pcap
// "-", since stdout carries the readable account or the trace. paths maps
// each flag to its value.
func checkOutputs(cmd string, paths map[string]string) error {
	if p := paths["--pcap"]; p == "-" || isStdout(p) {
		return usagef("%s: --pcap %s: stdout carries the account of the run; name a file (a capture on stdout would mix with it)", cmd, p)
	}
	seen := map[string]string{}
	var files []os.FileInfo // of the files that exist, for links to them
	var fileFlags []string
	for _, flag := range []string{"--trace", "--pcap", "--calls"} {
		p := paths[flag]
		if p == "" {
			continue
		}
		key := p
		if isStdout(p) {
			key = "-"
		} else if p != "-" {
			key = outputKey(p)
		}
		other, ok := seen[key]
		if fi, err := os.Stat(p); !ok && p != "-" && err == nil {
			// a symbolic or hard link to a file another flag names
			for i, f := range files {
				if os.SameFile(f, fi) {
					other, ok = fileFlags[i], true
				}
			}
			files, fileFlags = append(files, fi), append(fileFlags, flag)
		}
		if ok {
			what := "the same file"
			if p == "-" {
				what = "stdout"
			}
			return usagef("%s: %s and %s both write to %s (%s): their bytes would mix; give each its own", cmd, other, flag, p, what)
		}
		seen[key] = flag
	}
	return nil
}

// outputKey is the file path names, absolute, with the symbolic links in
// its directory resolved: ./t.out and /run/link-to-cwd/t.out are one file
// though neither exists yet.
func outputKey(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// unexpectedArg is the usage error for word, an argument cmd takes none
// of, found in args. A word that follows a flag's value is most likely
// the rest of that value with the quotes left out (--egress loss 20%,
// --addr A B): the error says how to give it.
func unexpectedArg(cmd string, args []string, word string) error {
	i := slices.Index(args, word)
	if i < 0 {
		return usagef("%s: unexpected argument %q", cmd, word)
	}
	for i > 0 && !strings.HasPrefix(args[i-1], "-") && (i < 2 || !strings.HasPrefix(args[i-2], "-") || strings.Contains(args[i-2], "=")) {
		i-- // back over the words before it that no flag took
	}
	flag, value := "", ""
	switch {
	case i >= 1 && strings.Contains(args[i-1], "="):
		flag, value, _ = strings.Cut(args[i-1], "=")
	case i >= 2:
		flag, value = args[i-2], args[i-1]
	}
	end := i
	for end < len(args) && (args[end] == "-" || !strings.HasPrefix(args[end], "-")) {
		end++ // the words up to the next flag
	}
	switch strings.TrimLeft(flag, "-") {
	case "egress", "ingress":
		return usagef("%s: unexpected argument %q: a RULE is one argument; quote it whole: %s '%s'", cmd, word, flag, strings.Join(append([]string{value}, args[i:end]...), " "))
	case "addr", "host-addr":
		return usagef("%s: unexpected argument %q: give more CIDRs comma-separated (%s %s,%s) or with %s again", cmd, word, flag, value, word, flag)
	}
	return usagef("%s: unexpected argument %q", cmd, word)
}

// isStdout reports whether path names the file stdout is already
// (/dev/stdout, /proc/self/fd/1, the terminal or the file it goes to).
func isStdout(path string) bool {
	if path == "" || path == "-" {
		return false
	}
	out, err := os.Stdout.Stat()
	if err != nil {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && os.SameFile(fi, out)
}

// flagNamed is where flag's error names a flag, -mtu: the first place.
var flagNamed = regexp.MustCompile(`^(flag provided but not defined: |flag needs an argument: |invalid value ".*?" for flag |invalid boolean value ".*?" for )-([[:alpha:]])`)

// asTyped is flag's error with the flag named as the usage, the help and
// the command line write it, --mtu, not -mtu; a flag the command does not
// have is named as args typed it (ss -tan: -tan).
func asTyped(err error, args []string) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok && slices.ContainsFunc(args, func(a string) bool {
		return a == name || strings.HasPrefix(a, name+"=")
	}) {
		return msg
	}
	return flagNamed.ReplaceAllString(msg, "$1--$2")
}

var boolValueErr = regexp.MustCompile(`^invalid boolean value (".*") for -([^:]+): `)

// notBoolean rewords flag's "invalid boolean value" for a flag that may
// stand alone but takes a value that is not a boolean (--ui ADDR).
func notBoolean(fs *flag.FlagSet, err error) error {
	m := boolValueErr.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	if f := fs.Lookup(m[2]); f != nil {
		v := f.Value
		if o, ok := v.(*onceValue); ok {
			v = o.Value
		}
		if g, ok := v.(flag.Getter); ok {
			if _, ok := g.Get().(bool); ok {
				return err // a true boolean: flag's own words say it
			}
		}
	}
	return fmt.Errorf("invalid value %s for flag -%s: %s", m[1], m[2], err.Error()[len(m[0]):])
}

// isSet reports whether the command line gave flag name.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// checkEmptyArgs refuses a flag among hints given an empty value
// (--kernel "$ADDR" with ADDR unset), which would otherwise mean the
// flag's absence without a word; the error says what the flag wants.
func checkEmptyArgs(cmd string, fs *flag.FlagSet, hints map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(hints)) {
		if f := fs.Lookup(name); f != nil && f.Value.String() == "" && isSet(fs, name) {
			return usagef("%s: --%s is empty: %s", cmd, name, hints[name])
		}
	}
	return nil
}

// checkEmptyOutputs refuses an output flag given an empty value
// (--trace "$OUT" with OUT unset), which would otherwise mean no output
// without a word.
func checkEmptyOutputs(cmd string, fs *flag.FlagSet, names ...string) error {
	for _, name := range names {
		if f := fs.Lookup(name); f != nil && f.Value.String() == "" && isSet(fs, name) {
			return usagef("%s: --%s is empty: name a file (or leave --%s out for none)", cmd, name, name)
		}
	}
	return nil
}
