#!/usr/bin/env bash
# The scale-out comparison of docs/scale-out.md in one command: builds the launcher and the load generator (Release),
# generates a small model and 48 adapters, then runs 3 replicas behind HAProxy (deploy/local/replicas.sh) with adapter
# affinity, again with round robin, then with affinity while one replica is killed mid-run.
#   deploy/local/compare.sh            40 s per run (about 5 minutes on 2 cores)
#   deploy/local/compare.sh --quick    20 s per run
# Extra arguments go to `lorasqueeze-loadtest scaleout` (--replicas, --adapters, --host-cache, --concurrency, --out).
# Needs haproxy and curl (installed with apt-get when missing and run as root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if ! command -v haproxy >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "compare.sh: installing haproxy" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy curl >&2
  else
    echo "error: haproxy is not installed (Debian: apt-get install haproxy)" >&2; exit 2
  fi
fi
./lorasqueeze --version >/dev/null
dotnet build loadtest/LoraSqueeze.LoadTest/LoraSqueeze.LoadTest.csproj -c Release -o artifacts/loadtest-bin -v quiet -nologo >&2
dotnet artifacts/loadtest-bin/lorasqueeze-loadtest.dll scaleout --replicas-script deploy/local/replicas.sh "$@"
