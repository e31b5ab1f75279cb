#!/usr/bin/env bash
# Checks the deployment files under deploy/ against the built binaries:
#  - the systemd units pass `systemd-analyze verify` with their ExecStart
#    pointed at the built binaries (skipped, and said so, when systemd-analyze
#    is missing);
#  - every --flag that the units, the Kubernetes manifests and the Dockerfile
#    pass to berthd or berth-agent appears in that binary's --helpfull;
#  - the Dockerfile copies only paths that exist and installs the binaries
#    the manifests run;
#  - deploy/dev-ca.sh makes certificates that `openssl verify` accepts, for
#    the right purpose, with the agent's CN equal to its node name, and that
#    another CA does not accept.
#
#   bash tests/integration/deploy_test.sh REPO BERTHD BERTH_AGENT BERTH
set -uo pipefail

REPO=${1:?usage: deploy_test.sh REPO BERTHD BERTH_AGENT BERTH}
BERTHD=${2:?}
AGENT=${3:?}
BERTH=${4:?}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# --- systemd units.
if command -v systemd-analyze >/dev/null; then
  cp "$REPO/deploy/systemd/berth.env.example" "$TMP/berth.env"
  for unit in berthd berth-agent; do
    sed -e "s|/usr/local/bin/berthd|$BERTHD|" -e "s|/usr/local/bin/berth-agent|$AGENT|" \
      -e "s|/etc/berth/berth.env|$TMP/berth.env|" \
      "$REPO/deploy/systemd/$unit.service" >"$TMP/$unit.service"
    # verify exits 0 on ignored directives, so any output is a failure too.
    out=$(timeout 60 systemd-analyze verify "$TMP/$unit.service" 2>&1)
    rc=$?
    [[ $rc -eq 0 && -z $out ]] || fail "$unit.service: systemd-analyze verify (rc $rc): $out"
  done
else
  echo "deploy_test: systemd-analyze not found; the units were not verified"
fi
grep -q "^EnvironmentFile=/etc/berth/berth.env$" "$REPO/deploy/systemd/berthd.service" ||
  fail "berthd.service: no EnvironmentFile"
# Every ${VAR} the units use is set in the example environment file.
for var in $(grep -ohE '\$\{?[A-Z_]+\}?' "$REPO"/deploy/systemd/*.service | tr -d '${}' | sort -u); do
  grep -qE "^$var=" "$REPO/deploy/systemd/berth.env.example" ||
    fail "berth.env.example does not set $var"
done

# --- Flags passed to the binaries exist.
"$BERTHD" --helpfull >"$TMP/berthd.help" 2>&1
"$AGENT" --helpfull >"$TMP/agent.help" 2>&1
# flags_of BINARY_NAME FILE...: the --flags on lines that run BINARY_NAME
# (systemd ExecStart, Dockerfile CMD) or in a manifest's command list.
check_flags() {
  local help=$1 what=$2 flags=$3 flag
  [[ -n $flags ]] || fail "$what: no flags found (the check would be empty)"
  for flag in $flags; do
    grep -qE "^ +--$flag " "$help" || fail "$what: berth binary has no --$flag"
  done
}
unit_flags() { grep '^ExecStart=' "$1" | grep -oE -- '--[a-z_]+' | sed 's/^--//' | sort -u; }
check_flags "$TMP/berthd.help" berthd.service "$(unit_flags "$REPO/deploy/systemd/berthd.service")"
check_flags "$TMP/agent.help" berth-agent.service "$(unit_flags "$REPO/deploy/systemd/berth-agent.service")"
# In a manifest, the flags follow "- berthd" or "- berth-agent" in a command.
manifest_flags() {
  awk -v bin="$2" '
    /^ *- [a-z-]+$/ { split($0, a, "- "); running = (a[2] == bin); next }
    running && /^ *- --/ { sub(/^ *- --/, ""); sub(/=.*/, ""); print; next }
    { running = 0 }' "$1" | sort -u
}
check_flags "$TMP/berthd.help" k8s/berthd.yaml "$(manifest_flags "$REPO/deploy/k8s/berthd.yaml" berthd)"
check_flags "$TMP/agent.help" k8s/berth-agent.yaml \
  "$(manifest_flags "$REPO/deploy/k8s/berth-agent.yaml" berth-agent)"
docker_flags=$(sed -n '/^CMD/,/]/p' "$REPO/deploy/container/Dockerfile" | grep -oE -- '--[a-z_]+' | sed 's/^--//' | sort -u)
check_flags "$TMP/berthd.help" "Dockerfile CMD" "$docker_flags"

# --- The Dockerfile copies what exists and builds what it installs.
while read -r src; do
  [[ -e $REPO/$src ]] || fail "Dockerfile: COPY $src: no such path"
done < <(grep -E '^COPY [^-]' "$REPO/deploy/container/Dockerfile" | awk '{print $2}' | grep -v '^\.$')
for binary in daemon/berthd agents/berth-agent cli/berth; do
  grep -q "build-release/$binary" "$REPO/deploy/container/Dockerfile" ||
    fail "Dockerfile: does not install $binary"
done
grep -q 'bash deploy/install-deps.sh' "$REPO/deploy/container/Dockerfile" ||
  fail "Dockerfile: does not use deploy/install-deps.sh"
grep -qE '^FROM debian:12' "$REPO/deploy/container/Dockerfile" || fail "Dockerfile: not Debian 12"

# --- dev-ca.sh.
bash "$REPO/deploy/dev-ca.sh" "$TMP/ca" h100-0 a100-1 >"$TMP/devca.out" 2>&1 ||
  fail "dev-ca.sh failed: $(cat "$TMP/devca.out")"
for cert in berthd agent-h100-0 agent-a100-1; do
  [[ -f $TMP/ca/$cert.crt && -f $TMP/ca/$cert.key ]] || { fail "dev-ca.sh: no $cert.crt/.key"; continue; }
  openssl verify -CAfile "$TMP/ca/ca.crt" "$TMP/ca/$cert.crt" >/dev/null 2>&1 ||
    fail "openssl verify rejects $cert.crt"
  # The key belongs to the certificate.
  [[ $(openssl pkey -in "$TMP/ca/$cert.key" -pubout 2>/dev/null) == \
     $(openssl x509 -in "$TMP/ca/$cert.crt" -noout -pubkey 2>/dev/null) ]] ||
    fail "$cert.key does not match $cert.crt"
  [[ $(stat -c %a "$TMP/ca/$cert.key") == 600 ]] || fail "$cert.key is not mode 0600"
done
openssl verify -purpose sslserver -CAfile "$TMP/ca/ca.crt" "$TMP/ca/berthd.crt" >/dev/null 2>&1 ||
  fail "berthd.crt is not a server certificate"
openssl verify -purpose sslclient -CAfile "$TMP/ca/ca.crt" "$TMP/ca/agent-h100-0.crt" >/dev/null 2>&1 ||
  fail "agent-h100-0.crt is not a client certificate"
openssl x509 -in "$TMP/ca/agent-h100-0.crt" -noout -subject | grep -qE 'CN ?= ?h100-0$' ||
  fail "agent-h100-0.crt: CN is not the node name: $(openssl x509 -in "$TMP/ca/agent-h100-0.crt" -noout -subject)"
openssl x509 -in "$TMP/ca/berthd.crt" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" ||
  fail "berthd.crt: no IP:127.0.0.1 in subjectAltName"
# Another CA does not accept them; a second run keeps the CA.
bash "$REPO/deploy/dev-ca.sh" "$TMP/other" x >/dev/null 2>&1
openssl verify -CAfile "$TMP/other/ca.crt" "$TMP/ca/berthd.crt" >/dev/null 2>&1 &&
  fail "a certificate of one CA verifies against another"
ca_before=$(openssl x509 -in "$TMP/ca/ca.crt" -noout -fingerprint)
bash "$REPO/deploy/dev-ca.sh" "$TMP/ca" h100-0 >/dev/null 2>&1
[[ $(openssl x509 -in "$TMP/ca/ca.crt" -noout -fingerprint) == "$ca_before" ]] ||
  fail "dev-ca.sh made a new CA on its second run"
bash "$REPO/deploy/dev-ca.sh" "$TMP/bad" 'bad name' >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "dev-ca.sh accepted the node name \"bad name\""

if [[ $failures -gt 0 ]]; then
  echo "deploy_test: $failures failure(s)" >&2
  exit 1
fi
echo "deploy_test: all checks passed"
