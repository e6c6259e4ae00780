package wsdiff

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

var tableFile = flag.String("table", "", "write the table of divergences, in Markdown, to this file")

// TestDifferential sends every probe to every server, asserts glassnet's
// outcome (behind net/http and on a raw connection alike), and logs, or
// with -table writes, the probes where the libraries differ.
func TestDifferential(t *testing.T) {
	targets := startTargets(t)
	probes := append(handshakeProbes(), frameProbes()...)
	got := make([][]string, len(probes)) // [probe][target]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // most probes wait for quiet at their end
	for i, p := range probes {
		got[i] = make([]string, len(targets))
		for j, tg := range targets {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				got[i][j] = run(tg.addr, p.head, p.send, p.early)
			})
		}
	}
	wg.Wait()

	var table strings.Builder
	table.WriteString("| probe | glassnet | gorilla | coder | gobwas | who is right |\n|---|---|---|---|---|---|\n")
	for i, p := range probes {
		row := map[string]string{}
		for j, tg := range targets {
			row[tg.name] = got[i][j]
		}
		t.Run(p.name, func(t *testing.T) {
			for _, name := range []string{"glassnet", "glassnet-raw"} {
				if k := keyOf(row[name]); k != p.want {
					t.Errorf("%s: %s\n\twant %s", name, row[name], p.want)
				}
			}
		})
		if !differs(row) {
			continue
		}
		if p.note == "" {
			p.note = notes[p.name]
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %s | %s |\n", cell(p.name), cell(row["glassnet"]),
			cell(mark(row["gorilla"], row["glassnet"])), cell(mark(row["coder"], row["glassnet"])),
			cell(mark(row["gobwas"], row["glassnet"])), cell(p.note))
		if p.note == "" {
			t.Errorf("%s: the libraries differ and no note says who is right", p.name)
		}
	}
	t.Logf("divergences:\n%s", table.String())
	if *tableFile != "" {
		if err := os.WriteFile(*tableFile, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// differs reports whether any library's outcome differs from glassnet's,
// close reasons aside.
func differs(row map[string]string) bool {
	for _, v := range row {
		if keyOf(v) != keyOf(row["glassnet"]) {
			return true
		}
	}
	return false
}

// mark returns v, or "=" when it is glassnet's.
func mark(v, glassnet string) string {
	if keyOf(v) == keyOf(glassnet) {
		return "="
	}
	return v
}

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
