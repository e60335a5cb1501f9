#!/usr/bin/env bash
# N LoraSqueeze replicas on loopback behind HAProxy, routed by adapter (docs/scale-out.md).
#
#   deploy/local/replicas.sh [--replicas N] [--policy affinity|round-robin] [--port P] [--base-port B]
#                            [--run-dir DIR] [-- SERVE-ARGS...]
#
# Replica i serves the OpenAI API on B+3i (gRPC on B+3i+1, /metrics on B+3i+2), all from the same adapter roots
# (SERVE-ARGS go to every `lorasqueeze serve`, e.g. -- --adapters /srv/adapters --host-cache 64MiB). HAProxy (Debian's
# haproxy 2.6) listens on 127.0.0.1:P and routes each OpenAI request by a consistent hash of the body's "model" field
# (affinity: every adapter's requests land on one replica, which keeps it squeezed in its host tier and device slots)
# or round robin, with health checks on /health every second, so a dead replica's adapters move to the others.
# Prints "ready: ..." when every replica is healthy and HAProxy is up, writes DIR/replicas.json (ports and PIDs, for
# the scale-out benchmark), and stops everything it started on SIGTERM, SIGINT and its own exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
replicas=3 policy=affinity port=8080 base_port=18000 run_dir="$root/artifacts/replicas"
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) replicas="$2"; shift 2 ;;
    --policy) policy="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --base-port) base_port="$2"; shift 2 ;;
    --run-dir) run_dir="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
serve_args=("$@")
case "$policy" in
  affinity) balance="balance hash req.body,json_query('\$.model')
    hash-type consistent" ;;
  round-robin) balance="balance roundrobin" ;;
  *) echo "error: --policy must be affinity or round-robin (got '$policy')" >&2; exit 2 ;;
esac
[[ "$replicas" =~ ^[1-9][0-9]?$ ]] || { echo "error: --replicas must be 1..99 (got '$replicas')" >&2; exit 2; }
command -v haproxy >/dev/null 2>&1 || { echo "error: haproxy is not installed (Debian: apt-get install haproxy)" >&2; exit 2; }
mkdir -p "$run_dir"

pids=()
stop() {
  trap - EXIT TERM INT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'echo "error: replicas.sh failed at line $LINENO" >&2' ERR
trap 'exit 143' TERM
trap 'exit 130' INT

# Build once before starting replicas, so N launchers never build at the same time.
"$root/lorasqueeze" --version >/dev/null

servers=""
json="[" sep=""
for ((i = 0; i < replicas; i++)); do
  http=$((base_port + 3 * i)) grpc=$((base_port + 3 * i + 1)) metrics=$((base_port + 3 * i + 2))
  "$root/lorasqueeze" serve --http-port "$http" --port "$grpc" --metrics-port "$metrics" "${serve_args[@]}" \
    >"$run_dir/replica-$i.log" 2>&1 &
  pids+=($!)
  servers+="    server r$i 127.0.0.1:$http check
"
  json+="$sep{\"name\":\"r$i\",\"pid\":$!,\"http\":$http,\"grpc\":$grpc,\"metrics\":$metrics}"
  sep=","
done
json+="]"

for ((i = 0; i < replicas; i++)); do
  http=$((base_port + 3 * i))
  for ((t = 0; ; t++)); do
    if curl -fsS "http://127.0.0.1:$http/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "error: replica r$i exited before it was ready; its log: $run_dir/replica-$i.log" >&2
      tail -n 5 "$run_dir/replica-$i.log" >&2
      exit 1
    fi
    if [ "$t" -ge 600 ]; then echo "error: replica r$i not healthy after 300 s ($run_dir/replica-$i.log)" >&2; exit 1; fi
    sleep 0.5
  done
done

cat >"$run_dir/haproxy.cfg" <<CFG
# Written by deploy/local/replicas.sh (policy $policy).
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 600s
    timeout server 600s
    # A request whose replica refuses the connection (it just died) is sent to another one at once.
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response
frontend openai
    bind 127.0.0.1:$port
    # The body must be buffered for the hash to read "model" from it.
    option http-buffer-request
    default_backend replicas
backend replicas
    $balance
    option httpchk GET /health
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
$servers
CFG
haproxy -c -q -f "$run_dir/haproxy.cfg"
haproxy -db -f "$run_dir/haproxy.cfg" >"$run_dir/haproxy.log" 2>&1 &
haproxy_pid=$!
pids+=("$haproxy_pid")
for ((t = 0; ; t++)); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  kill -0 "$haproxy_pid" 2>/dev/null || { echo "error: haproxy exited ($run_dir/haproxy.log)" >&2; cat "$run_dir/haproxy.log" >&2; exit 1; }
  [ "$t" -lt 100 ] || { echo "error: haproxy not answering on $port" >&2; exit 1; }
  sleep 0.1
done
printf '{"policy":"%s","front":"http://127.0.0.1:%s/v1","haproxy_pid":%s,"replicas":%s}\n' "$policy" "$port" "$haproxy_pid" "$json" >"$run_dir/replicas.json"
echo "ready: front http://127.0.0.1:$port/v1 ($policy), $replicas replicas (ports from $base_port), details in $run_dir/replicas.json"
# Until a signal, or until HAProxy exits.
wait "$haproxy_pid"
