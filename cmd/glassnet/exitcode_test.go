package main

import (
	"bytes"
	"errors"
	"testing"
)

// TestExitCodeSaysEveryError: every error joined into a command's, each on
// a line that says it is glassnet's, also beside an exit status of its own
// (an interrupted demo's 130 hid the output file its full disk cut
// short), and the status is the command's.
func TestExitCodeSaysEveryError(t *testing.T) {
	t.Parallel()
	incomplete := errors.New("/out/t.jsonl is incomplete: write /out/t.jsonl: no space left on device")
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{errors.Join(exitError(130), incomplete), 130, "glassnet: " + incomplete.Error() + "\n"},
		{errors.Join(errors.New("serve: the device glass0 went away"), errors.Join(incomplete, errors.New("/out/p.pcap is incomplete"))), 1,
			"glassnet: serve: the device glass0 went away\nglassnet: " + incomplete.Error() + "\nglassnet: /out/p.pcap is incomplete\n"},
		{errors.Join(usagef("serve: --port 0: want a port from 1 to 65535"), nil), 2, "glassnet: serve: --port 0: want a port from 1 to 65535\n"},
		{exitError(3), 3, ""},
		{nil, 0, ""},
	} {
		var stderr bytes.Buffer
		if code := exitCode(tc.err, &stderr); code != tc.code || stderr.String() != tc.want {
			t.Errorf("exitCode(%q) = %d, said %q; want %d, %q", tc.err, code, stderr.String(), tc.code, tc.want)
		}
	}
}
