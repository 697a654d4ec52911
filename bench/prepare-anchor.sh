#!/usr/bin/env bash
# Prepares the llama.cpp decode anchor (../shared/anchors/llamacpp) in /tmp, as its README says:
# copies it out of shared/, installs node-llama-cpp, and writes the 1.58 GB Mixtral-shaped model twice
# (Hugging Face checkpoint for `blyan import`, GGUF for llama.cpp). Idempotent; ~1–2 minutes the first time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/../../shared/anchors/llamacpp"
dst=/tmp/llamacpp
if [ ! -d "$dst/node_modules/node-llama-cpp" ]; then
  rm -rf "$dst" && cp -r "$src" "$dst" && chmod -R u+w "$dst"
  (cd "$dst" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund >&2)
fi
if [ ! -f /tmp/llamacpp-model/mixtral-synth/model.gguf ] || [ ! -f /tmp/llamacpp-model/mixtral-synth/hf/model.safetensors ]; then
  (cd "$dst" && node make_model.mjs >&2)
fi
echo /tmp/llamacpp-model/mixtral-synth
