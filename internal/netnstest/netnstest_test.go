package netnstest

import "testing"

func TestRunPattern(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"TestA", `^TestA$`},
		{"TestA/sub", `^TestA$/^sub$`},
		{"TestA/a_b_(c)/x#01", `^TestA$/^a_b_\(c\)$/^x#01$`},
		{"TestA/[x]|y.*", `^TestA$/^\[x\]\|y\.\*$`},
	}
	for _, tt := range tests {
		if got := runPattern(tt.name); got != tt.want {
			t.Errorf("runPattern(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestResult(t *testing.T) {
	t.Parallel()
	out := "=== RUN   TestA\n=== RUN   TestA/sub\n    --- SKIP: TestA/sub (0.00s)\n--- PASS: TestA (0.00s)\n"
	for name, want := range map[string]string{"TestA": "PASS", "TestA/sub": "SKIP", "TestA/su": "", "TestB": ""} {
		if got := result(out, name); got != want {
			t.Errorf("result(%q) = %q, want %q", name, got, want)
		}
	}
}
