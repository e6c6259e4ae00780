#!/usr/bin/env bash
# Measures what tracing costs when it is compiled in but switched off: the
# same stack-to-stack TCP benchmark built normally (nil Tracer: one check per
# hook) and with the glassnet_notrace tag (tracing compiled out), run
# alternately so that both see the same machine noise, then compared with
# benchstat (medians and the ratio). Also reports events per second into a
# ring buffer.
#
#	bench/tracecost.sh [COUNT]     # default 8 runs of each
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-8}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

go test -c -o "$out/on.test" ./netstack
go test -c -tags glassnet_notrace -o "$out/off.test" ./netstack
go test -c -o "$out/trace.test" ./trace

for i in $(seq "$count"); do
	"$out/on.test" -test.run '^$' -test.bench 'TCPThroughputTracing/off$' -test.benchtime 200x >>"$out/compiled-in-off.txt"
	"$out/off.test" -test.run '^$' -test.bench 'TCPThroughputTracing/off$' -test.benchtime 200x >>"$out/compiled-out.txt"
done
"$out/trace.test" -test.run '^$' -test.bench 'Emit/ring$' -test.count "$count" >"$out/ring.txt"

benchstat=(go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da)
echo "== stack-to-stack TCP, tracing compiled out vs compiled in but off"
(cd "$out" && "${benchstat[@]}" compiled-out.txt compiled-in-off.txt)
echo "== events into a ring buffer"
(cd "$out" && "${benchstat[@]}" ring.txt)
