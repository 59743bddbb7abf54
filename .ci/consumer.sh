#!/usr/bin/env bash
# A service's view of the library: install kernel and network into the local Maven repository, build the
# consumer project in .ci/consumer (it depends on vectorprop-network alone), print its dependency tree,
# fail if anything but kernel, network and jackson-core reaches its runtime, and run its main on the module
# path: a PyTorch ONNX export loaded and predicted from 8 threads, checked against PyTorch's outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -B -ntp -q install -DskipTests -pl kernel,network -am
tree=$(./mvnw -B -ntp -q -f .ci/consumer/pom.xml dependency:tree -Dscope=runtime -DoutputFile=/dev/stdout)
echo "consumer dependency tree (runtime):"
echo "$tree"
unexpected=$(echo "$tree" | grep -E '^[| +\\-]+' | grep -vE 'io\.vectorprop:vectorprop-(kernel|network):jar|com\.fasterxml\.jackson\.core:jackson-core:jar' || true)
if [ -n "$unexpected" ]; then
  echo "consumer: unexpected runtime dependencies:"; echo "$unexpected"; exit 1
fi
./mvnw -B -ntp -q -f .ci/consumer/pom.xml package dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory=target/lib
java25="$(.mvn/jdk25)/bin/java"
r=network/src/test/resources/onnx/mlp_784_256_128_10
"$java25" --add-modules jdk.incubator.vector -p .ci/consumer/target/classes:.ci/consumer/target/lib \
    -m example.service/example.Service "$r.onnx" "$r.inputs.f32" "$r.expected.f32"
