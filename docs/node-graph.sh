#!/usr/bin/env bash
# Draws the component graph of a reference node for docs/ARCHITECTURE.md: a headless
# host with audio and four children, on 127.0.0.1, as `canopy introspect --dot` sees
# it. Run through `make architecture-graph` (which builds `canopy` first).
#
#   docs/node-graph.sh CANOPY OUT.svg
set -euo pipefail

canopy=${1:?usage: docs/node-graph.sh CANOPY OUT.svg}
out=${2:?usage: docs/node-graph.sh CANOPY OUT.svg}
command -v dot >/dev/null || { echo "node-graph: 'dot' (graphviz) is needed" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$canopy" host --headless --new --name host --data "$work/host" --listen 127.0.0.1:0 \
    >"$work/host.out" 2>"$work/host.log" &
pids+=($!)
url=""
for _ in $(seq 100); do
    url=$(sed -n 's/^invite editor //p' "$work/host.out" | head -n1)
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "node-graph: the host printed no invite; its log:" >&2; cat "$work/host.log" >&2; exit 1; }

for i in 1 2 3 4; do
    "$canopy" join "$url" --headless --no-audio --name "child$i" --data "$work/child$i" \
        --listen 127.0.0.1:0 >/dev/null 2>"$work/child$i.log" &
    pids+=($!)
done

children=0
for _ in $(seq 200); do
    children=$("$canopy" status --data "$work/host" 2>/dev/null \
        | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["children"]))' 2>/dev/null || echo 0)
    [ "$children" = 4 ] && break
    sleep 0.1
done
[ "$children" = 4 ] || { echo "node-graph: only $children of 4 children joined" >&2; exit 1; }
# Let handshake components end, so the picture shows the steady state.
sleep 1

"$canopy" introspect --data "$work/host" --dot >"$work/graph.dot"
components=$("$canopy" introspect --data "$work/host" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["components"]))')
dot -Tsvg "$work/graph.dot" -o "$out"
echo "node-graph: $components components (host with audio and 4 children) drawn in $out"
