#!/usr/bin/env bash
# The performance comparison of docs/performance.md in one command: builds the server launcher and the load generator
# (Release), then runs `compare` on the demo model and on the generated hidden-1024, 4-layer model. Each compare starts
# its own `lorasqueeze serve` processes on free loopback ports, one per scenario, with the same request sequence.
#   loadtest/run-comparison.sh            full run (60 s per scenario; about 10 minutes per model on 2 busy cores)
#   loadtest/run-comparison.sh --quick    20 s per scenario, sweep 5 → 1000 only (under 5 minutes per model)
# Reports (JSON, markdown, PNG) go to artifacts/loadtest/reports unless --out DIR is given.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./lorasqueeze --version >/dev/null
dotnet build loadtest/LoraSqueeze.LoadTest/LoraSqueeze.LoadTest.csproj -c Release -o artifacts/loadtest-bin -v quiet -nologo >&2
for model in demo h1024; do
  dotnet artifacts/loadtest-bin/lorasqueeze-loadtest.dll compare --model "$model" "$@"
done
