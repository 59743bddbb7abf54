#!/usr/bin/env bash
# The example HTTP service as a user starts it: the shaded jar on a free port with the PyTorch export
# the tests read; waits until it says it is ready, checks /health, one good and one bad /predict, and
# stops it. (examples/service's ServiceTest checks every answer and every kind of bad request.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
java25="$(.mvn/jdk25)/bin/java"
log=$(mktemp)
"$java25" --add-modules jdk.incubator.vector -Dvectorprop.quiet=true -jar examples/service/target/vectorprop-service.jar \
    --model network/src/test/resources/onnx/mlp_784_256_128_10.onnx --port 0 > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  grep -q "vectorprop-service: ready" "$log" && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "service.sh: the service exited"; exit 1; }
  sleep 0.1
done
grep -q "vectorprop-service: ready" "$log" || { cat "$log"; echo "service.sh: not ready within 60 s"; exit 1; }
port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -1)
url="http://127.0.0.1:$port"
health=$(curl -s -w ' %{http_code}' "$url/health")
echo "GET /health -> $health"
[[ "$health" == *' 200' ]] || { echo "service.sh: /health is not 200"; exit 1; }
row="$(printf '0.5,%.0s' $(seq 1 783))0.5"
good=$(curl -s -w ' %{http_code}' -d "{\"rows\": [[$row]]}" "$url/predict")
echo "POST /predict (one row) -> ${good:0:120}..."
[[ "$good" == '{"scores":[['*' 200' ]] || { echo "service.sh: a good request did not get scores"; exit 1; }
bad=$(curl -s -w ' %{http_code}' -d '{"rows": [[1, 2, 3]]}' "$url/predict")
echo "POST /predict (3 values) -> $bad"
[[ "$bad" == '{"error":"row 0 has 3 values; the model takes 784"} 400' ]] || { echo "service.sh: a bad request did not get 400"; exit 1; }
kill $pid
wait $pid 2>/dev/null || true
echo "service OK"
