#!/usr/bin/env bash
# Build llama.cpp's `llama-bench` offline from the source bundle that node-llama-cpp ships
# (node_modules/node-llama-cpp/llama/gitRelease.bundle), so that the benchmark compares
# node-llama-cpp with the very same llama.cpp revision it was built from.
#
# Usage: scripts/build-llama-bench.sh [variant] [extra cmake args...]
#   variant  name of the build folder under .cache/llama-bench/ (default: native)
#   e.g.     scripts/build-llama-bench.sh native-noomp -DGGML_OPENMP=OFF
#
# Prints the path of the binary on the last line of stdout. Skips the build when the binary
# already exists. Needs git, cmake >= 3.14 and a C++17 compiler; never touches the network.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VARIANT="${1:-native}"
shift || true
BUNDLE="$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle"
SRC="$ROOT/.cache/llama.cpp-src"
BUILD="$ROOT/.cache/llama-bench/$VARIANT"
BIN="$BUILD/bin/llama-bench"
JOBS="${JOBS:-$(nproc)}"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

if [ ! -f "$BUNDLE" ]; then
  echo "build-llama-bench: $BUNDLE not found (is node-llama-cpp installed?)" >&2
  exit 1
fi

# The bundle holds one squashed commit (HEAD) of the release named in llama.cpp.info.json.
if [ ! -d "$SRC/.git" ]; then
  git clone --quiet "$BUNDLE" "$SRC"
fi
git -C "$SRC" -c advice.detachedHead=false checkout --quiet --detach HEAD
echo "build-llama-bench: llama.cpp $(cat "$ROOT/node_modules/node-llama-cpp/llama/llama.cpp.info.json" | tr -d '\n ') commit $(git -C "$SRC" rev-parse --short HEAD), variant $VARIANT" >&2

start=$(date +%s)
cmake -S "$SRC" -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF \
  "$@" >&2
cmake --build "$BUILD" --target llama-bench -j "$JOBS" >&2
end=$(date +%s)
echo "build-llama-bench: built in $((end - start)) s" >&2
echo "$BIN"
