#!/usr/bin/env bash
# The performance comparison of docs/performance.md in one command: builds the server launcher and the load generator
# (Release), then runs `compare` on the demo model and on the generated hidden-1024, 4-layer model. Each compare starts
# long-lived `lorasqueeze serve` processes (ours, padded; then a fresh one for the cold run) on free loopback ports and
# replays the same request sequence in every window.
#   loadtest/run-comparison.sh            full run (4 rounds of 40 s windows; about 20 minutes for h1024 on 2 cores)
#   loadtest/run-comparison.sh --quick    2 rounds of 15 s windows, sweep 5 → 1000 only (about 5 minutes per model)
# Extra arguments go to every compare, e.g. --slot-dtype bfloat16.
# Reports (JSON, markdown, PNG) go to artifacts/loadtest/reports unless --out DIR is given.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./lorasqueeze --version >/dev/null
dotnet build loadtest/LoraSqueeze.LoadTest/LoraSqueeze.LoadTest.csproj -c Release -o artifacts/loadtest-bin -v quiet -nologo >&2
for model in demo h1024; do
  dotnet artifacts/loadtest-bin/lorasqueeze-loadtest.dll compare --model "$model" "$@"
done
