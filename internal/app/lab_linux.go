package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ui"
)

// envLabChild carries the lab's configuration, as JSON, to the process
// Lab starts in the new namespaces.
const envLabChild = "GLASSNET_LAB_CHILD"

type labChild struct {
	Config   LabConfig
	ParentNS string // the parent's network namespace, "dev:inode"
}

// check refuses what Lab cannot do as asked.
func (cfg LabConfig) check() error {
	if err := cfg.Rules.Check(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := checkLimits("lab", cfg.Port, cfg.MaxMessage, cfg.AllowOrigins); err != nil {
		return err
	}
	if err := checkStackAddrs("lab", cfg.Addrs); err != nil {
		return err
	}
	for _, p := range cfg.Addrs {
		if !tun.HostAddrFor(p).IsValid() {
			return fmt.Errorf("lab: %v leaves no room for the kernel side's address; use a shorter prefix", p)
		}
	}
	// before the namespace is made: the kernel side on the stack's own
	if _, err := hostAddrs("lab", cfg.Addrs, nil); err != nil {
		return err
	}
	return nil
}

// Lab runs a lab: this executable again, in a new network namespace and a
// new PID namespace, where it creates the interfaces, serves, and runs the
// command; see RunLabChild. It returns the command's exit status (128 plus
// the signal number if a signal ended it).
//
// Nothing is created in this process's namespace. The child is PID 1 of
// its PID namespace, so when it exits the kernel kills whatever the
// command left running there, and the network namespace, which nothing
// else holds, goes away with its interfaces. The child also dies with
// this process (PR_SET_PDEATHSIG).
//
// Lab lets SIGINT and SIGQUIT pass, since a terminal sends them to the
// command too, which decides what they mean (an interactive shell ignores
// Ctrl-C); it forwards SIGTERM and SIGHUP to the child, which forwards
// them to the command.
//
// A program that calls Lab must call RunLabChild first thing in main when
// InLabChild reports true.
func Lab(cfg LabConfig) (int, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return 0, configErr(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("lab: find this executable: %w", err)
	}
	ns, err := netnsID()
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	payload, err := json.Marshal(labChild{Config: cfg, ParentNS: ns})
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	cmd := exec.Command(exe)
	if cfg.UI {
		// The view listens here, on the host's stack; the child serves
		// on the listener it inherits as descriptor 3.
		f, url, err := labUIListener(&cfg)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		cmd.ExtraFiles = []*os.File{f}
		if payload, err = json.Marshal(labChild{Config: cfg, ParentNS: ns}); err != nil {
			return 0, fmt.Errorf("lab: %w", err)
		}
		fmt.Fprintln(cfg.Stderr, ui.Announce(url))
	}
	cmd.Args = []string{"glassnet-lab"}
	cmd.Env = append(os.Environ(), envLabChild+"="+string(payload))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cfg.Stdin, cfg.Stdout, cfg.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	return runForwarding(cmd, func(err error) error {
		if errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("lab: create network and PID namespaces: %w (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN)", err)
		}
		return fmt.Errorf("lab: start: %w", err)
	})
}

// labUIListener listens for the lab's browser view on this process's
// stack and returns the listening socket as a file for the child, and the
// URL; it sets cfg.UIToken if it was empty.
func labUIListener(cfg *LabConfig) (*os.File, string, error) {
	if cfg.UIToken == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", fmt.Errorf("lab: --ui: %w", err)
		}
		cfg.UIToken = hex.EncodeToString(b[:])
	}
	addr := cfg.UIAddr
	if addr == "" {
		addr = ui.DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("lab: %w", UIListenError(err))
	}
	defer ln.Close() // the file is a copy of its own
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, "", fmt.Errorf("lab: --ui: %w", err)
	}
	return f, ui.URL(ln.Addr().String(), cfg.UIToken), nil
}

// runForwarding starts cmd and waits for it, passing SIGTERM and SIGHUP
// on to it and letting SIGINT and SIGQUIT by (the terminal delivers them
// to cmd directly). It returns cmd's exit status.
func runForwarding(cmd *exec.Cmd, startErr func(error) error) (int, error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// PR_SET_PDEATHSIG follows the thread that forked: keep it alive
	// until cmd is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return 0, startErr(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM || s == syscall.SIGHUP {
				cmd.Process.Signal(s)
			}
		case err := <-done:
			return exitStatus(cmd.ProcessState, err)
		}
	}
}

func exitStatus(ps *os.ProcessState, err error) (int, error) {
	if ps == nil {
		return 0, err
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}

// InLabChild reports whether this process is a lab's child, started by
// Lab in new namespaces.
func InLabChild() bool {
	_, ok := os.LookupEnv(envLabChild)
	return ok
}

// RunLabChild is the lab inside its namespaces: it brings up loopback,
// creates the TUN or the veth pair, serves on it, runs the command, and
// when the command ends stops serving and returns the command's exit
// status, for os.Exit.
func RunLabChild() int {
	var c labChild
	err := json.Unmarshal([]byte(os.Getenv(envLabChild)), &c)
	os.Unsetenv(envLabChild)
	if err != nil {
		fmt.Fprintf(os.Stderr, "glassnet: lab: bad %s: %v\n", envLabChild, err)
		return 1
	}
	if id, err := netnsID(); err != nil || id == c.ParentNS {
		fmt.Fprintf(os.Stderr, "glassnet: lab: not in a network namespace of its own (%v); refusing to configure interfaces\n", err)
		return 1
	}
	code, err := runLab(c.Config.withDefaults())
	if err != nil {
		fmt.Fprintln(os.Stderr, "glassnet:", err)
		return max(code, 1)
	}
	return code
}

// notRunStatus is the exit status for a command that could not be run,
// as a shell's: 127 when it is not found, 126 when it is not executable.
func notRunStatus(err error) int {
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return 127
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EISDIR):
		return 126
	}
	return 1
}

func runLab(cfg LabConfig) (status int, err error) {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return 0, fmt.Errorf("lab: bring lo up: %w", err)
	}
	hosts, err := hostAddrs("lab", cfg.Addrs, nil)
	if err != nil {
		return 0, err
	}
	shell := len(cfg.Command) == 0
	scfg := ServeConfig{Addrs: cfg.Addrs, Port: cfg.Port, MaxMessage: cfg.MaxMessage, AllowOrigins: cfg.AllowOrigins,
		Log: io.Discard, Rules: cfg.Rules, NoOffload: cfg.NoOffload, NoDelayedACK: cfg.NoDelayedACK}
	if shell {
		scfg.Log = cfg.Stderr
	}
	if cfg.NIC {
		if err := labVeth(hosts); err != nil {
			return 0, err
		}
		scfg.NIC = LabStackLink
	} else {
		scfg.TUN = LabLink
		scfg.HostAddrs = hosts
	}
	var files []*OutFile
	defer func() {
		for _, f := range files {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("lab: %w", cerr)
			}
		}
	}()
	create := func(flag, path string) (io.Writer, error) {
		if path == "-" {
			return cfg.Stdout, nil
		}
		f, err := CreateOutFile(flag, path)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		files = append(files, f)
		return f, nil
	}
	if cfg.TracePath != "" {
		w, err := create("--trace", cfg.TracePath)
		if err != nil {
			return 0, err
		}
		scfg.Tracer = trace.New(trace.NewJSON(w))
	}
	if cfg.PCAPPath != "" {
		if scfg.PCAP, err = create("--pcap", cfg.PCAPPath); err != nil {
			return 0, err
		}
	}
	if cfg.UI {
		// Descriptor 3: the listener Lab opened in the host's namespace.
		f := os.NewFile(3, "ui")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("lab: --ui: the listener from the parent: %w", err)
		}
		scfg.UI = &UIOptions{Listener: l, Token: cfg.UIToken}
	}

	scfg.Outputs = files
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	scfg.Ready = func() { close(ready) }
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, scfg) }()
	select {
	case <-ready:
	case err := <-served:
		return 0, fmt.Errorf("lab: serve: %w", err)
	}
	// The stack may stop while the command runs (its TUN or veth
	// deleted from inside the lab): say so then, not only when the
	// command ends, which may be a shell's hours later.
	stopped := make(chan error, 1)
	go func() {
		err := <-served
		if ctx.Err() == nil {
			fmt.Fprintf(cfg.Stderr, "glassnet: lab: the stack stopped; the command goes on without it: %v\n", err)
		}
		stopped <- err
	}()
	stopServing := func() error {
		cancel()
		select {
		case err := <-stopped:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("lab: serve did not stop within 10s")
		}
	}

	args := cfg.Command
	if shell {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		args = []string{sh}
		fmt.Fprint(cfg.Stderr, labBanner(cfg, hosts))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cfg.Stdin, cfg.Stdout, cfg.Stderr
	cmd.Env = append(os.Environ(), EnvLab+"="+LabLink)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	code, err := runForwarding(cmd, func(err error) error { return fmt.Errorf("lab: run %s: %w", args[0], err) })
	if err != nil {
		code = notRunStatus(err)
	}
	return code, errors.Join(err, stopServing())
}

// labVeth creates the veth pair: LabLink for the kernel, with hosts as its
// addresses, and LabStackLink for the stack, with no addresses and IPv6
// off, so the kernel stays quiet on it.
func labVeth(hosts []netip.Prefix) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: LabLink, MTU: 1500}, PeerName: LabStackLink}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("lab: create veth pair %s/%s: %w", LabLink, LabStackLink, err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+LabStackLink+"/disable_ipv6", []byte("1"), 0); err != nil {
		return fmt.Errorf("lab: disable IPv6 on %s: %w", LabStackLink, err)
	}
	if err := addHostAddrs(LabLink, hosts); err != nil {
		return err
	}
	for _, name := range []string{LabLink, LabStackLink} {
		link, err := netlink.LinkByName(name)
		if err == nil {
			err = netlink.LinkSetUp(link)
		}
		if err != nil {
			return fmt.Errorf("lab: bring %s up: %w", name, err)
		}
	}
	return nil
}

func labBanner(cfg LabConfig, hosts []netip.Prefix) string {
	var hs, stack []string
	for _, h := range hosts {
		hs = append(hs, h.String())
	}
	for _, p := range cfg.Addrs {
		stack = append(stack, p.Addr().String())
	}
	how := "a TUN with segmentation offloads"
	if cfg.NoOffload {
		how = "a TUN without offloads"
	}
	if cfg.NIC {
		how = "a veth pair (glassnet owns " + LabStackLink + " through AF_PACKET)"
	}
	a := cfg.Addrs[0].Addr()
	port := strconv.Itoa(cfg.Port)
	url := "http://" + net.JoinHostPort(a.String(), port) + "/"
	var b strings.Builder
	fmt.Fprintf(&b, "glassnet lab: a network namespace of its own; %s (%s) leads through %s to the stack at %s.\n",
		LabLink, strings.Join(hs, ", "), how, strings.Join(stack, ", "))
	fmt.Fprintf(&b, "  try: curl %s   ping %s   python3 -m websockets ws://%s/echo   nc -u %s %s\n",
		url, a, net.JoinHostPort(a.String(), port), a, port)
	fmt.Fprintf(&b, "  exit the shell to leave; the namespace and its interfaces go with it.\n")
	return b.String()
}

// netnsID identifies the network namespace of this process.
func netnsID() (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return "", err
	}
	return strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10), nil
}
