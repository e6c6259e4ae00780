#!/usr/bin/env bash
# Runs glassbench: glassnet side by side with kernel loopback and with the
# gorilla, coder and gobwas WebSocket servers, in one run, and prints a
# table of medians and ratios. Arguments go to glassbench (-short for CI,
# -rounds N, -only tcp,serve,ws,allocs,idle,many,scale). The TUN, veth,
# serve, many and scale rows need root: they run in a network namespace
# that glassbench creates for them.
#
#	bench/run.sh            # full run, about 10 minutes on 2 cores
#	bench/run.sh -short     # under a minute
set -euo pipefail
cd "$(dirname "$0")"
exec go run ./cmd/glassbench "$@"
