package ws

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// messagePath is every function with a defer that a message read with
// ReadMessageInto and echoed with WriteMessage over a *net.TCPConn
// passes through.
var messagePath = []string{
	"readMessageInto", "readMessage", "WriteMessage", "writeRaw", "writeSmallFrame",
}

// TestMessagePathDefersOpenCoded checks that every defer on the path of a
// message is compiled inline (open-coded). The compiler turns a defer into
// a deferred call, which costs a few dozen nanoseconds per message, when
// its function has many returns times defers (more than 15) or a defer
// in a loop: readMessage's loop over frames and writeFrameTo's three
// kinds of frame did.
func TestMessagePathDefersOpenCoded(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the package")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goBin, "build", "-gcflags=-d=defer", "-o", "/dev/null", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-d=defer: %v\n%s", err, out)
	}
	// Where each function of messagePath is, by file and lines.
	fset := token.NewFileSet()
	type span struct {
		file       string
		start, end int
	}
	spans := map[string]span{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				spans[fd.Name.Name] = span{name, fset.Position(fd.Pos()).Line, fset.Position(fd.End()).Line}
			}
		}
	}
	re := regexp.MustCompile(`(?m)^(?:.*/)?([^/:\s]+\.go):(\d+):\d+: (.*defer.*)$`)
	seen := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		line, _ := strconv.Atoi(m[2])
		for _, fn := range messagePath {
			s, ok := spans[fn]
			if !ok || s.file != m[1] || line < s.start || line > s.end {
				continue
			}
			seen[fn]++
			if m[3] != "open-coded defer" {
				t.Errorf("%s:%d, in %s: %s, want an open-coded defer", m[1], line, fn, m[3])
			}
		}
	}
	for _, fn := range messagePath {
		if seen[fn] == 0 {
			t.Errorf("the compiler reported no defer in %s", fn)
		}
	}
}
