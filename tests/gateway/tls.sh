#!/usr/bin/env bash
# The gateway over HTTPS (--tls-cert/--tls-key) with a throwaway self-signed
# certificate, signed requests included.
#
#   tls.sh BROKER
set -euo pipefail
HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
DIR=$(mktemp -d /tmp/shmq-gw-tls.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
"$HERE/with_broker.sh" "$1" --broker-arg --tls-cert --broker-arg "$DIR/cert.pem" \
  --broker-arg --tls-key --broker-arg "$DIR/key.pem" \
  --broker-arg --credentials-file --broker-arg "$HERE/credentials.txt" -- python3 "$HERE/auth.py" "{ENDPOINT}"
