#!/usr/bin/env bash
# Starts the microservice deployment as separate processes on loopback, on
# the toolkit's ports, with stores under ${RTA_DEPLOY_DIR:-./rta-microservices}:
# session service, config service, two data services (alpha, beta) and the
# gateway on 8080. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${RTA_DEPLOY_DIR:-./rta-microservices}
mkdir -p "$dir"
cargo build --release -p rta-examples --bins
bin=target/release
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
"$bin/rta-sessionsvc" --bind 127.0.0.1 --data-dir "$dir/sessions" & pids+=($!)
"$bin/rta-configsvc" --bind 127.0.0.1 --data-dir "$dir/configs" & pids+=($!)
"$bin/rta-datasvc" --bind 127.0.0.1 --FilePath "$dir/alpha" & pids+=($!)
"$bin/rta-datasvc" --bind 127.0.0.1 --http-port 2674 --grpc-port 2676 --https-port 2675 \
  --FilePath "$dir/beta" & pids+=($!)
"$bin/rta-gatewaysvc" --bind 127.0.0.1 \
  --SessionServiceUri http://127.0.0.1:2650/ --ConfigServiceUri http://127.0.0.1:2660/ \
  --DataServiceUris:alpha http://127.0.0.1:2670/ --DataServiceUris:beta http://127.0.0.1:2674/ & pids+=($!)
echo "gateway: http://127.0.0.1:8080 (sessions gRPC 2652, configs gRPC 2662, DataWriter 2672 and 2676)"
wait
