#!/usr/bin/env bash
# Runs scenario.mjs with the SDK that scripts/install-deps.sh installed here
# (npm ci from package-lock.json). Fails loudly when it is missing.
set -euo pipefail
HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -d "$HERE/node_modules/@aws-sdk/client-sqs" ]]; then
  echo "js/run.sh: FAIL: @aws-sdk/client-sqs is not installed in $HERE (run scripts/install-deps.sh)" >&2
  exit 1
fi
NODE_NO_WARNINGS=1 exec node "$HERE/scenario.mjs" "$@"
