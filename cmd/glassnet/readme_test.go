package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestREADMETshark runs the tshark commands the README shows on a demo's
// pcapng and checks that they print what the README says they print,
// event ids, times and frame numbers aside (they vary from run to run). A line "..."
// at the end of the README's output stands for the lines after it.
func TestREADMETshark(t *testing.T) {
	t.Parallel()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		netnstest.SkipOrFail(t, "tshark not installed (Debian: apt-get install tshark)")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run([]string{"demo", "--pcap", filepath.Join(dir, "demo.pcapng")}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	cmds := readmeShell(string(readme), "$ tshark -r demo.pcapng ")
	if len(cmds) == 0 {
		t.Fatal("the README shows no tshark command on demo.pcapng")
	}
	for _, c := range cmds {
		cmd := exec.Command("/bin/sh", "-c", strings.Replace(c.cmd, "tshark", tshark, 1))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: %v", c.cmd, err)
			continue
		}
		got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		want := c.out
		if n := len(want); n > 0 && want[n-1] == "..." {
			want = want[:n-1]
			if len(got) > len(want) {
				got = got[:len(want)]
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s printed %d lines, the README shows %d:\n%s", c.cmd, len(got), len(want), out)
			continue
		}
		for i := range want {
			if g, w := normalizeRun(got[i]), normalizeRun(want[i]); g != w {
				t.Errorf("%s printed\n\t%q\nwhere the README shows\n\t%q", c.cmd, got[i], want[i])
			}
		}
	}
}

type shellExample struct {
	cmd string
	out []string
}

// readmeShell returns the commands in the README's code blocks that start
// with prefix (after "$ "), each with the lines up to the next "$ " or the
// end of the block.
func readmeShell(readme, prefix string) []shellExample {
	var ex []shellExample
	var cur *shellExample
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, "```"), strings.HasPrefix(line, "$ "):
			cur = nil
			if strings.HasPrefix(line, prefix) {
				ex = append(ex, shellExample{cmd: strings.TrimPrefix(line, "$ ")})
				cur = &ex[len(ex)-1]
			}
		case cur != nil:
			cur.out = append(cur.out, line)
		}
	}
	return ex
}

var (
	eventID     = regexp.MustCompile(`#[0-9]+`)
	frameNumber = regexp.MustCompile(`^\s*[0-9]+\b`)
	seconds     = regexp.MustCompile(`\b[0-9]+\.[0-9]{6,}\b`)
)

// normalizeRun leaves out of a line what differs between runs: event ids,
// times, the frame number at the start (on a busy machine a timer may
// add an ACK), and runs of spaces.
func normalizeRun(s string) string {
	s = frameNumber.ReplaceAllString(s, "N")
	s = eventID.ReplaceAllString(s, "#N")
	s = seconds.ReplaceAllString(s, "T")
	return strings.Join(strings.Fields(s), " ")
}

// TestUsageListsFlags: every flag a command's -h lists is in its lines of
// glassnet help, so that the overview does not leave one out.
func TestUsageListsFlags(t *testing.T) {
	t.Parallel()
	sections := strings.Split(usage, "\n  glassnet ")
	for _, cmd := range []string{"demo", "serve", "ss", "lab", "view"} {
		var section string
		for _, s := range sections {
			if strings.HasPrefix(s, cmd+" ") {
				section = s
			}
		}
		if section == "" {
			t.Errorf("glassnet help has no lines for %s", cmd)
			continue
		}
		var help bytes.Buffer
		if err := run([]string{cmd, "-h"}, &help, io.Discard); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s -h: %v", cmd, err)
		}
		listed := 0
		for _, line := range strings.Split(help.String(), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || !strings.HasPrefix(line, "  --") {
				continue
			}
			listed++
			if name := f[0]; !strings.Contains(section, name+" ") && !strings.Contains(section, name+"]") {
				t.Errorf("glassnet help does not list %s %s", cmd, name)
			}
		}
		// each flag as the docs write it, --name
		if listed == 0 {
			t.Errorf("%s -h lists no flag as --name:\n%s", cmd, help.String())
		}
	}
}

// TestDocMatchesUsage: the synopsis in the package comment (go doc) is
// glassnet help's, line by line, so that the two do not drift apart.
func TestDocMatchesUsage(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "package main")
	n := 0
	for _, line := range strings.Split(doc, "\n") {
		syn, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			continue
		}
		n++
		if !strings.Contains(usage, "\n  "+syn+"\n") {
			t.Errorf("the package comment's %q is not a line of glassnet help", syn)
		}
	}
	if n < 5 {
		t.Errorf("the package comment has %d synopsis lines, want every command's", n)
	}
}
