#!/usr/bin/env bash
# adagrpo GPU check: needs no package registry, only this folder (built by `npm run gpu-bundle`).
# Prints the WebGPU adapter, the four reference workloads (SFT step, rollouts, RL step, beam) on
# webgpu and on wasm with their ratio, then N SFT steps on webgpu.
#
#   bash run.sh [N]            N SFT steps (default 50)
#   SHAPES=tiny ITERS=1 bash run.sh 2    a quick run (software Vulkan, CI)
#
# Dawn needs a Vulkan driver. With an NVIDIA GPU whose driver ships no Vulkan ICD file (common in
# containers), one is written here pointing at libGLX_nvidia.so.0; in containers the driver's
# graphics part must be mounted (NVIDIA_DRIVER_CAPABILITIES must include graphics or all).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
steps="${1:-${N:-50}}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

gunzip -c "$here/dawn.node.gz" >"$work/dawn.node" || exit 2
export ADAGRPO_DAWN_NODE="$work/dawn.node"

node_ok() { "$1" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null; }
if command -v node >/dev/null && node_ok node; then
  NODE=node
elif [[ -f "$here/node.gz" ]]; then
  gunzip -c "$here/node.gz" >"$work/node" && chmod +x "$work/node"
  NODE="$work/node"
  node_ok "$NODE" || { echo "GPU check: the bundled node does not run here: $("$NODE" --version 2>&1 | head -1)" >&2; exit 2; }
else
  echo "GPU check: needs Node >= 20 on PATH (or a bundle built with --node)" >&2
  exit 2
fi

# The Vulkan loader (libvulkan.so.1) travels with the bundle; a system one is used if it is newer.
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

icd_dirs=(/usr/share/vulkan/icd.d /etc/vulkan/icd.d)
icd_files=()
for d in "${icd_dirs[@]}"; do for f in "$d"/*.json; do [[ -f "$f" ]] && icd_files+=("$f"); done; done
if [[ -z "${VK_ICD_FILENAMES:-}" ]] && ! grep -qsi nvidia "${icd_files[@]}" /dev/null; then
  glx="$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0/ {print $NF; exit}')"
  if [[ -n "$glx" ]]; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$glx" >"$work/nvidia_icd.json"
    export VK_ICD_FILENAMES="$work/nvidia_icd.json"
    echo "GPU check: no NVIDIA Vulkan ICD file; wrote one for $glx"
  fi
fi
echo "GPU check: node $("$NODE" --version), VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-<loader default>}, NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-<unset>}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

"$NODE" "$here/adagrpo-gpu.mjs" --shapes "${SHAPES:-beauty}" --iters "${ITERS:-5}" --steps "$steps" --wasm-dir "$here"
rc=$?
if [[ $rc -eq 3 ]]; then
  echo "GPU check: no Vulkan driver Dawn could use. What this machine has:"
  echo "\$ ls ${icd_dirs[*]}"
  ls "${icd_dirs[@]}" 2>&1
  echo "\$ ldconfig -p | grep -i nvidia"
  ldconfig -p | grep -i nvidia
fi
exit $rc
