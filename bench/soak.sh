#!/usr/bin/env bash
# Soak test: glassnet serve on a TUN in a network namespace of its own,
# under a mix of traffic from the kernel side (WebSocket echo, /chat with a
# slow member, bulk TCP echo and discard, UDP echo, connection churn) and
# fault sets that change every phase. Prints a summary table; exits 1 when
# a check fails. Needs root. Arguments after DURATION go to the driver
# (bench/cmd/soak: -phase D, -stall D, -backoff-limit D, -settle D, -seed N,
# -faults WORDS, -v).
#
#	bench/soak.sh 60s
#	bench/soak.sh 15m -v
set -euo pipefail
if [ $# -lt 1 ]; then
	echo "usage: bench/soak.sh DURATION [soak flags]" >&2
	exit 2
fi
duration=$1
shift
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/glassnet" ./cmd/glassnet
(cd bench && go build -o "$tmp/soak" ./cmd/soak)
"$tmp/soak" -glassnet "$tmp/glassnet" -duration "$duration" -log-dir "${SOAK_LOG_DIR:-/tmp}" "$@"
