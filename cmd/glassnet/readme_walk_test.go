package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/sockets"
)

// The checks in this file keep README.md honest where that is cheap: the
// flags its command lines name, the Go identifiers it names, and the shape
// of the demo's output it shows.

// readme returns README.md.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var commands = []string{"demo", "serve", "ss", "lab", "view"}

// commandFlags returns the flags glassnet cmd -h lists, without their
// dashes.
func commandFlags(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	var help bytes.Buffer
	if err := run([]string{cmd, "-h"}, &help, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("%s -h: %v", cmd, err)
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(help.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "  --") {
			flags[strings.TrimPrefix(f[0], "--")] = true
		}
	}
	if len(flags) == 0 {
		t.Fatalf("%s -h lists no flag", cmd)
	}
	return flags
}

// commandLine finds "glassnet CMD ARGS" in a line of the README; ARGS end
// at a code span's end or a shell comment.
var commandLine = regexp.MustCompile("(?:^|[\\s/`(])glassnet (demo|serve|ss|lab|view)\\b([^`#]*)")

// flagWords returns the flags (without dashes) among the words of args, up
// to a "--" that ends them (lab's -- COMMAND).
func flagWords(args string) []string {
	var names []string
	for _, w := range strings.Fields(args) {
		if w == "--" {
			break
		}
		if name, ok := strings.CutPrefix(w, "--"); ok && name != "" {
			name, _, _ = strings.Cut(name, "=")
			names = append(names, strings.TrimRight(name, ".,;:)"))
		}
	}
	return names
}

// TestREADMEFlags: every flag in a glassnet command line the README shows
// (in a code block or a code span) is one of that command's flags, and a
// code span that starts with a flag names one that the command of its
// section has (any command's, where the heading names none or several).
func TestREADMEFlags(t *testing.T) {
	t.Parallel()
	text := readme(t)
	flags := map[string]map[string]bool{}
	anyCmd := map[string]bool{}
	for _, cmd := range commands {
		flags[cmd] = commandFlags(t, cmd)
		for f := range flags[cmd] {
			anyCmd[f] = true
		}
	}
	lines, checked := 0, 0
	for _, line := range strings.Split(text, "\n") {
		for _, m := range commandLine.FindAllStringSubmatch(line, -1) {
			lines++
			for _, name := range flagWords(m[2]) {
				checked++
				if !flags[m[1]][name] {
					t.Errorf("the README's %q names --%s, which glassnet %s does not have", strings.TrimSpace(m[0]), name, m[1])
				}
			}
		}
	}
	if lines < 20 || checked < 20 {
		t.Errorf("found %d glassnet command lines with %d flags in the README; the walk has lost them", lines, checked)
	}

	spans := 0
	for _, sec := range readmeSections(text) {
		want, of := anyCmd, "any glassnet command"
		if cmd := sectionCommand(sec.heading); cmd != "" {
			want, of = flags[cmd], "glassnet "+cmd
		}
		for _, span := range codeSpans(sec.body) {
			if !strings.HasPrefix(span, "--") || strings.HasPrefix(span, "-- ") {
				continue
			}
			for _, name := range flagWords(span) {
				spans++
				if !want[name] {
					t.Errorf("under %q the README names `%s`, but --%s is not a flag of %s", sec.heading, span, name, of)
				}
			}
		}
	}
	if spans < 50 {
		t.Errorf("found %d flags in the README's code spans; the walk has lost them", spans)
	}
}

type readmeSection struct{ heading, body string }

// readmeSections splits the README at its "## " headings; a "### " section
// is part of the "## " one above it.
func readmeSections(text string) []readmeSection {
	var secs []readmeSection
	cur := readmeSection{}
	var body strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			cur.body = body.String()
			secs = append(secs, cur)
			cur, body = readmeSection{heading: h}, strings.Builder{}
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	cur.body = body.String()
	return append(secs, cur)
}

var commandWord = regexp.MustCompile(`(?i)\b(demo|serve|ss|lab|view)\b`)

// sectionCommand is the one command a heading names ("Serve on a TUN
// interface", "A lab of your own"), or "" for none or several.
func sectionCommand(heading string) string {
	var found string
	for _, m := range commandWord.FindAllString(heading, -1) {
		m = strings.ToLower(m)
		if found != "" && found != m {
			return ""
		}
		found = m
	}
	return found
}

var fence = regexp.MustCompile("(?ms)^```.*?^```")

// codeSpans returns the `code spans` of markdown text outside its fenced
// blocks, each on one line.
func codeSpans(text string) []string {
	text = fence.ReplaceAllString(text, "")
	parts := strings.Split(text, "`")
	var spans []string
	for i := 1; i < len(parts); i += 2 {
		spans = append(spans, strings.Join(strings.Fields(parts[i]), " "))
	}
	return spans
}

// goDecls is what a package declares: its top-level names, and for each
// type its methods and fields (those of an embedded type of the same
// package included).
type goDecls struct {
	names   map[string]bool
	members map[string]map[string]bool
	embeds  map[string][]string
}

func (d *goDecls) has(typ, member string) bool {
	if d.members[typ][member] {
		return true
	}
	for _, e := range d.embeds[typ] {
		if d.has(e, member) {
			return true
		}
	}
	return false
}

// parseDecls reads the declarations of the package in dir, of its tests
// only the examples.
func parseDecls(t *testing.T, dir string) *goDecls {
	t.Helper()
	d := &goDecls{names: map[string]bool{}, members: map[string]map[string]bool{}, embeds: map[string][]string{}}
	member := func(typ, name string) {
		if d.members[typ] == nil {
			d.members[typ] = map[string]bool{}
		}
		d.members[typ][name] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		test := strings.HasSuffix(name, "_test.go")
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if test {
				// of a test file, only its examples, which go doc shows
				if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Example") {
					d.names[fn.Name.Name] = true
				}
				continue
			}
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					d.names[decl.Name.Name] = true
					continue
				}
				typ := decl.Recv.List[0].Type
				for {
					switch x := typ.(type) {
					case *ast.StarExpr:
						typ = x.X
						continue
					case *ast.IndexExpr:
						typ = x.X
						continue
					case *ast.IndexListExpr:
						typ = x.X
						continue
					}
					break
				}
				if id, ok := typ.(*ast.Ident); ok {
					member(id.Name, decl.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							d.names[n.Name] = true
						}
					case *ast.TypeSpec:
						d.names[spec.Name.Name] = true
						st, ok := spec.Type.(*ast.StructType)
						if !ok {
							continue
						}
						for _, field := range st.Fields.List {
							for _, n := range field.Names {
								member(spec.Name.Name, n.Name)
							}
							if len(field.Names) == 0 {
								typ := field.Type
								if s, ok := typ.(*ast.StarExpr); ok {
									typ = s.X
								}
								switch x := typ.(type) {
								case *ast.Ident:
									member(spec.Name.Name, x.Name)
									d.embeds[spec.Name.Name] = append(d.embeds[spec.Name.Name], x.Name)
								case *ast.SelectorExpr:
									member(spec.Name.Name, x.Sel.Name)
								}
							}
						}
					}
				}
			}
		}
	}
	return d
}

// goPackages are glassnet's packages a README reader meets by name.
var goPackages = []string{"ctl", "hook", "netstack", "sockets", "trace", "tun", "ws", "ui"}

// receivers are the variables the README's prose and examples call
// methods on, and their types.
var receivers = map[string][2]string{
	"st":    {"netstack", "Stack"},
	"socks": {"sockets", "Sockets"},
	"c":     {"ws", "Conn"},
	"r":     {"hook", "Rule"},
	"p":     {"hook", "Packet"},
}

var (
	// pkg.Name or pkg.Type.Member, and what follows it
	qualified = regexp.MustCompile(`\b(` + strings.Join(goPackages, "|") + `)\.([A-Z]\w*)(?:\.([A-Z]\w*))?`)
	// receiver.Member, for the receivers the README uses
	onReceiver = regexp.MustCompile(`\b(st|socks|c|r|p)\.([A-Z]\w*)`)
	exported   = regexp.MustCompile(`^[A-Z]\w*$`)
)

// goSnippets returns what the README shows as Go: its code spans and its
// ```go blocks.
func goSnippets(text string) []string {
	snippets := codeSpans(text)
	for _, block := range fence.FindAllString(text, -1) {
		if strings.HasPrefix(block, "```go\n") {
			snippets = append(snippets, block)
		}
	}
	return snippets
}

// literalKeys returns the field names keyed in the composite literal whose
// body starts at s[0] == '{': "{Device: b, Addrs: x{y}}" gives Device and
// Addrs, "{Point, Action, Reason}" (a listing of fields) all three.
func literalKeys(s string) []string {
	depth := 0
	var keys []string
	start := 1
	for i, r := range s {
		switch r {
		case '{', '(', '[':
			depth++
		case '}', ')', ']':
			depth--
		}
		if depth == 1 && r == ',' || depth == 0 {
			elem := strings.TrimSpace(s[start:i])
			if k, _, ok := strings.Cut(elem, ":"); ok {
				elem = strings.TrimSpace(k)
			}
			if exported.MatchString(elem) {
				keys = append(keys, elem)
			}
			start = i + 1
		}
		if depth == 0 {
			break
		}
	}
	return keys
}

// TestREADMEGoNames: every Go identifier of glassnet's packages the README
// names (ctl.Query, netstack.Options.SplitGSO, the keys of a
// sockets.Options{CallLog: w}, st.SetIPHook on a netstack.Stack) is declared
// there.
func TestREADMEGoNames(t *testing.T) {
	t.Parallel()
	decls := map[string]*goDecls{}
	for _, p := range goPackages {
		decls[p] = parseDecls(t, filepath.Join("..", "..", p))
	}
	check := func(where, pkg, name, member string) {
		d := decls[pkg]
		switch {
		case !d.names[name]:
			t.Errorf("the README names %s.%s (in %q), which package %s does not declare", pkg, name, where, pkg)
		case member != "" && !d.has(name, member):
			t.Errorf("the README names %s.%s.%s (in %q), which %s.%s does not have", pkg, name, member, where, pkg, name)
		}
	}
	checked := 0
	for _, s := range goSnippets(readme(t)) {
		for _, m := range qualified.FindAllStringSubmatchIndex(s, -1) {
			pkg, name := s[m[2]:m[3]], s[m[4]:m[5]]
			member := ""
			if m[6] >= 0 {
				member = s[m[6]:m[7]]
			}
			checked++
			check(s[m[0]:m[1]], pkg, name, member)
			// a composite literal, pkg.Type{Key: ...}
			if end := m[1]; member == "" && end < len(s) && s[end] == '{' {
				for _, k := range literalKeys(s[end:]) {
					checked++
					check(s[m[0]:m[1]]+"{"+k+"}", pkg, name, k)
				}
			}
		}
		for _, m := range onReceiver.FindAllStringSubmatch(s, -1) {
			recv := receivers[m[1]]
			checked++
			check(m[0], recv[0], recv[1], m[2])
		}
	}
	if checked < 80 {
		t.Errorf("checked %d Go names in the README; the walk has lost them", checked)
	}
}

// runDemo runs glassnet demo and returns its timeline, and the JSON lines
// of its trace.
func runDemo(t *testing.T) (timeline string, jsonl []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.jsonl")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"demo", "--trace", path}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	jsonl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), jsonl
}

var (
	// a number, a duration (1ms, 256.152µs) or a port in an address
	number = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(ns|µs|us|ms|s)?`)
	// the mask key, new for each frame
	maskKey = regexp.MustCompile(`key=[0-9a-f]+`)
	// the TCP options, which the README's sample leaves out
	tcpOptions = regexp.MustCompile(`, options \[[^]]*\]`)
	// a connection as the text sink writes it
	connColumn = regexp.MustCompile(`^[0-9a-f.:\[\]]+:[0-9]+(->[0-9a-f.:\[\]]+:[0-9]+)?$`)
)

// shape is a line with what varies from run to run taken out: numbers,
// mask keys, and runs of spaces.
func shape(s string) string {
	s = maskKey.ReplaceAllString(s, "key=K")
	s = number.ReplaceAllString(s, "N")
	return strings.Join(strings.Fields(s), " ")
}

// timelineLine is a line of the demo's timeline, or of the README's copy
// of it, in its columns.
type timelineLine struct {
	node, layer, dir, kind, summary string
}

// parseTimeline reads a line of the text sink ("  0.013252 #89   client ws
// out message   10.0.0.1:29701->10.0.0.2:80  message text ..."); with
// cut, a line as the README shows it, without the time and the connection.
func parseTimeline(line string, cut bool) (l timelineLine, id int, ok bool) {
	f := strings.Fields(line)
	if !cut {
		if len(f) == 0 {
			return timelineLine{}, 0, false
		}
		f = f[1:] // the time
	}
	if len(f) < 4 || !strings.HasPrefix(f[0], "#") {
		return timelineLine{}, 0, false
	}
	id, err := strconv.Atoi(f[0][1:])
	if err != nil {
		return timelineLine{}, 0, false
	}
	l = timelineLine{node: f[1], layer: f[2]}
	f = f[3:]
	if f[0] == "in" || f[0] == "out" {
		l.dir, f = f[0], f[1:]
	}
	if len(f) == 0 {
		return timelineLine{}, 0, false
	}
	l.kind, f = f[0], f[1:]
	if !cut && len(f) > 0 && connColumn.MatchString(f[0]) {
		f = f[1:]
	}
	l.summary = strings.Join(f, " ")
	if !cut {
		l.summary = tcpOptions.ReplaceAllString(l.summary, "")
	}
	l.summary = shape(l.summary)
	return l, id, true
}

// readmeBlockAfter returns the lines of the first fenced block after the
// heading.
func readmeBlockAfter(t *testing.T, text, heading string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(text, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("the README has no heading %q", heading)
	}
	block := fence.FindString(rest)
	if block == "" {
		t.Fatalf("no code block under %q", heading)
	}
	lines := strings.Split(strings.TrimSuffix(block, "```"), "\n")
	return slices.DeleteFunc(lines[1:], func(s string) bool { return strings.TrimSpace(s) == "" })
}

// TestREADMEFollowOneMessage: the trace under "Follow one message from
// packet to frame" has the shape of the demo's own lines: each of its lines
// is a line of a run of the demo (node, layer, direction, step and summary
// the same, numbers and mask keys aside), in the same order for each stack,
// its ids as far apart as the demo's, and the JSON line of its frame has the
// keys, types and words of the demo's. A run in which the server's recv
// was not yet asleep when the message came has no wake-up to show, so the
// demo runs up to five times for one that takes the sample's path.
func TestREADMEFollowOneMessage(t *testing.T) {
	t.Parallel()
	text := readme(t)
	sample := readmeBlockAfter(t, text, "## Follow one message from packet to frame")
	if len(sample) < 10 {
		t.Fatalf("the README's trace has %d lines", len(sample))
	}
	var jsonl []byte
	var mismatch []string
	for range 5 {
		var timeline string
		timeline, jsonl = runDemo(t)
		if mismatch = matchTimeline(sample, timeline); len(mismatch) == 0 {
			break
		}
	}
	for _, m := range mismatch {
		t.Error(m)
	}

	// The JSON line of the frame the sample ends with.
	var wantJSON map[string]any
	for _, block := range fence.FindAllString(text, -1) {
		body := strings.TrimSpace(strings.Trim(block, "`"))
		if strings.HasPrefix(body, "{") && json.Unmarshal([]byte(body), &wantJSON) == nil {
			break
		}
	}
	if wantJSON == nil {
		t.Fatal("the README shows no JSON line of the trace")
	}
	var got map[string]any
	for _, line := range bytes.Split(jsonl, []byte("\n")) {
		var e map[string]any
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		same := true
		for _, k := range []string{"node", "layer", "event", "dir"} {
			same = same && e[k] == wantJSON[k]
		}
		if same && shape(e["summary"].(string)) == shape(wantJSON["summary"].(string)) {
			got = e
			break
		}
	}
	if got == nil {
		t.Fatalf("the demo's trace has no event like the README's %v", wantJSON)
	}
	for k, w := range wantJSON {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("the README's JSON line has %q, the demo's event has not: %v", k, got)
		case k == "conn" || k == "summary":
			if shape(g.(string)) != shape(w.(string)) {
				t.Errorf("the README's JSON line has %s %q, the demo's %q", k, w, g)
			}
		default:
			switch w.(type) {
			case string, bool:
				if g != w {
					t.Errorf("the README's JSON line has %s %v, the demo's %v", k, w, g)
				}
			case float64:
				if _, ok := g.(float64); !ok {
					t.Errorf("the README's JSON line has %s a number, the demo's %v", k, g)
				}
			case []any:
				if _, ok := g.([]any); !ok {
					t.Errorf("the README's JSON line has %s a list, the demo's %v", k, g)
				}
			}
		}
	}
	for k := range got {
		if _, ok := wantJSON[k]; !ok {
			t.Errorf("the demo's event has %q, the README's JSON line has not: %v", k, got)
		}
	}
}

// matchTimeline says how the README's sample lines differ from the demo's
// timeline, or nothing when each is a line of the timeline, in order for
// each stack, and the ids of each stack's lines lie as far apart as the
// demo's.
func matchTimeline(sample []string, timeline string) []string {
	var mismatch []string
	demo := map[string][]timelineLine{}
	demoIDs := map[string][]int{}
	for _, line := range strings.Split(timeline, "\n") {
		if l, id, ok := parseTimeline(line, false); ok {
			demo[l.node] = append(demo[l.node], l)
			demoIDs[l.node] = append(demoIDs[l.node], id)
		}
	}
	next := map[string]int{} // per stack, the demo line after the last one matched
	// per stack, the ids of the first and the last line matched, the
	// README's and the demo's
	type span struct{ first, last, demoFirst, demoLast int }
	spans := map[string]*span{}
	lastID := 0
	for _, line := range sample {
		want, id, ok := parseTimeline(line, true)
		if !ok {
			mismatch = append(mismatch, fmt.Sprintf("the README's line %q is not a timeline line (#ID NODE LAYER [DIR] STEP SUMMARY)", line))
			continue
		}
		lines := demo[want.node]
		if _, seen := spans[want.node]; !seen {
			// A stack's first line is one after the last line matched
			// of the other stack: the same message, not an earlier one
			// of the same shape.
			for next[want.node] < len(lines) && demoIDs[want.node][next[want.node]] < lastID {
				next[want.node]++
			}
		}
		i := slices.Index(lines[next[want.node]:], want)
		if i < 0 {
			return append(mismatch, fmt.Sprintf("the README's line\n\t%s\nis not a line of the demo's %s after the README's line before it; its lines of that layer and step:\n%s",
				line, want.node, sameStep(lines, want)))
		}
		next[want.node] += i + 1
		demoID := demoIDs[want.node][next[want.node]-1]
		lastID = demoID
		if sp := spans[want.node]; sp == nil {
			spans[want.node] = &span{id, id, demoID, demoID}
		} else {
			sp.last, sp.demoLast = id, demoID
		}
	}
	// The ids differ by a few from run to run, as the stacks' goroutines
	// interleave; a sample whose lines lie further apart or closer together
	// than the demo's is from a demo that traced more or fewer steps.
	for node, sp := range spans {
		if d := (sp.last - sp.first) - (sp.demoLast - sp.demoFirst); d > 5 || d < -5 {
			mismatch = append(mismatch, fmt.Sprintf("the README's lines of the %s run from #%d to #%d, the demo's from #%d to #%d: the sample is from a demo that traced other steps; take it again from a run",
				node, sp.first, sp.last, sp.demoFirst, sp.demoLast))
		}
	}
	return mismatch
}

// sameStep lists the lines of the same layer, direction and step, for a
// message that shows what the README should say instead.
func sameStep(lines []timelineLine, want timelineLine) string {
	var b strings.Builder
	n := 0
	for _, l := range lines {
		if l.layer == want.layer && l.dir == want.dir && l.kind == want.kind && n < 5 {
			b.WriteString("\t" + l.summary + "\n")
			n++
		}
	}
	return b.String()
}

// TestREADMEDemoOutputs: a glassnet demo command the README shows with its
// output ("$ go run ./cmd/glassnet demo --calls -" and the lines under it)
// prints lines of that shape: each of the README's lines is one of the
// command's, numbers aside, in the same order for each stack (the
// "server: " or "client: " the lines start with).
func TestREADMEDemoOutputs(t *testing.T) {
	t.Parallel()
	const prompt = "    $ go run ./cmd/glassnet "
	lines := strings.Split(readme(t), "\n")
	shown := 0
	for i, line := range lines {
		cmdline, ok := strings.CutPrefix(line, prompt)
		if !ok || !strings.HasPrefix(cmdline, "demo ") {
			continue // only demo runs here without privileges
		}
		var want []string
		for _, l := range lines[i+1:] {
			l, ok := strings.CutPrefix(l, "    ")
			if !ok || strings.HasPrefix(l, "$ ") {
				break
			}
			want = append(want, l)
		}
		if len(want) == 0 {
			continue
		}
		shown++
		args := strings.Fields(cmdline)
		var stdout, stderr bytes.Buffer
		if err := run(args, &stdout, &stderr); err != nil {
			t.Errorf("%s: %v\n%s", cmdline, err, stderr.String())
			continue
		}
		got := map[string][]string{}
		for _, l := range strings.Split(stdout.String(), "\n") {
			node, _, _ := strings.Cut(l, ": ")
			got[node] = append(got[node], shape(l))
		}
		next := map[string]int{}
		for _, w := range want {
			node, _, _ := strings.Cut(w, ": ")
			j := slices.Index(got[node][next[node]:], shape(w))
			if j < 0 {
				t.Errorf("glassnet %s printed no line like the README's\n\t%s\nafter the README's line before it:\n%s", cmdline, w, stdout.String())
				break
			}
			next[node] += j + 1
		}
	}
	if shown == 0 {
		t.Error("the README shows the output of no glassnet demo command")
	}
}

// fuzzCount is the README's count of fuzz targets: "(28 in the module, 4 in
// `bench/`)".
var fuzzCount = regexp.MustCompile("\\(([0-9]+) in the module, ([0-9]+) in `bench/`\\)")

// TestREADMEFuzzTargets: the README counts the fuzz targets of the module
// and of bench/ as many as there are.
func TestREADMEFuzzTargets(t *testing.T) {
	t.Parallel()
	m := fuzzCount.FindStringSubmatch(readme(t))
	if m == nil {
		t.Fatal("the README does not count the fuzz targets as (N in the module, M in `bench/`)")
	}
	count := func(root string, skip ...string) int {
		n := 0
		for _, name := range testFuncs(t, root, skip...) {
			if strings.HasPrefix(name, "Fuzz") {
				n++
			}
		}
		return n
	}
	module := count("../..", ".git", "bench", "interop", "third_party", "node_modules", "testdata")
	bench := count("../../bench", "node_modules", "testdata")
	if got := fmt.Sprintf("(%d in the module, %d in `bench/`)", module, bench); got != m[0] {
		t.Errorf("the README counts the fuzz targets as %s; there are %s", m[0], got)
	}
}

// TestREADMESS: the glassnet ss output the README shows has ss's header as
// ctl.Render writes it, rows of its seven columns, and detail lines whose
// items ctl.InfoLine writes, in its order.
func TestREADMESS(t *testing.T) {
	t.Parallel()
	const prompt = "    $ sudo ./glassnet ss "
	var shown []string
	lines := strings.Split(readme(t), "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, prompt) {
			continue
		}
		for _, l := range lines[i+1:] {
			l, ok := strings.CutPrefix(l, "    ")
			if !ok {
				break
			}
			shown = append(shown, l)
		}
		break
	}
	if len(shown) < 3 {
		t.Fatalf("the README shows no output of glassnet ss (a block starting %q)", prompt)
	}

	var header bytes.Buffer
	if err := ctl.Render(&header, nil, ctl.RenderOptions{Info: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(strings.TrimSpace(header.String())), strings.Fields(shown[0]); !slices.Equal(got, want) {
		t.Errorf("the README's ss header is\n\t%s\nctl.Render's\n\t%s", shown[0], header.String())
	}

	// Every item InfoLine writes, in its order.
	full := ctl.InfoLine(sockets.SocketInfo{TCP: &sockets.TCPInfo{
		TS: true, SACK: true, CC: "reno", CAState: "Loss", RTT: time.Millisecond, RTTVar: time.Millisecond,
		RTO: time.Second, Cwnd: 10, Ssthresh: 20, MSS: 1448, SndWnd: 1, RcvWnd: 1, SndWScale: 7, RcvWScale: 7,
		Unacked: 1, RetransOut: 1, Retrans: 1, Timeouts: 1, SegsIn: 1, SegsOut: 1, BytesReceived: 1, BytesSent: 1,
		Windows: true,
	}})
	var order []string
	for _, item := range strings.Fields(full) {
		key, _, _ := strings.Cut(item, ":")
		order = append(order, key)
	}
	for _, line := range shown[1:] {
		switch {
		case line == "...":
		case strings.HasPrefix(line, "\t"):
			at := 0
			for _, item := range strings.Fields(line) {
				key, _, _ := strings.Cut(item, ":")
				i := slices.Index(order[at:], key)
				if i < 0 {
					t.Errorf("the README's ss detail line has %q where ctl.InfoLine writes %s:\n\t%s", item, strings.Join(order, " "), line)
					break
				}
				at += i + 1
			}
		default:
			if f := strings.Fields(line); len(f) != 7 {
				t.Errorf("the README's ss row %q has %d columns, ctl.Render's 7", line, len(f))
			}
		}
	}
}

var (
	// a link or a picture to a file of the repository
	mdLink = regexp.MustCompile(`\]\(([^)#:]+)\)`)
	// a test, benchmark or fuzz target named on its own in a code span
	testName = regexp.MustCompile(`^(Test|Benchmark|Fuzz)[A-Z]\w*$`)
)

// TestREADMEPaths: the files, directories, links and pictures the README
// names are in the repository, and so are the tests, benchmarks and fuzz
// targets it names in code spans.
func TestREADMEPaths(t *testing.T) {
	t.Parallel()
	text := readme(t)
	root := filepath.Join("..", "..")
	top, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	isTop := map[string]bool{}
	for _, e := range top {
		isTop[e.Name()] = true
	}
	var paths []string
	for _, span := range codeSpans(text) {
		first, _, ok := strings.Cut(span, "/")
		if ok && !strings.ContainsAny(span, " $*") && isTop[first] {
			paths = append(paths, span)
		}
	}
	for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
		paths = append(paths, m[1])
	}
	if len(paths) < 30 {
		t.Errorf("found %d paths in the README; the walk has lost them", len(paths))
	}
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			t.Errorf("the README names %s, which is not in the repository: %v", p, err)
		}
	}

	// Every Test, Benchmark and Fuzz function of the repository, the
	// interop and bench modules included.
	funcs := map[string]bool{}
	for _, name := range testFuncs(t, root, ".git", "node_modules", "third_party") {
		funcs[name] = true
	}
	named := 0
	for _, span := range codeSpans(text) {
		// golang.org/x/net/nettest's TestConn is not glassnet's
		if !testName.MatchString(span) || span == "TestConn" {
			continue
		}
		named++
		if !funcs[span] {
			t.Errorf("the README names %s, which no test file of the repository declares", span)
		}
	}
	if named < 10 {
		t.Errorf("found %d tests named in the README; the walk has lost them", named)
	}
}

// testFuncs returns the names of the functions (not methods) declared in
// the _test.go files under root, leaving out the directories named skip.
func testFuncs(t *testing.T, root string, skip ...string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && slices.Contains(skip, d.Name()) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil {
				names = append(names, fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
