#!/usr/bin/env bash
# Makes a development certificate authority and certificates for berthd and
# the agents with openssl, into a folder. For development and tests only:
# the keys are unencrypted and the CA signs anything this script asks.
#
#   deploy/dev-ca.sh DIR [NODE...]
#
# DIR gets:
#   ca.key, ca.crt              the CA (EC P-256, 10 years)
#   berthd.key, berthd.crt      server certificate; CN berthd, SAN
#                               DNS:berthd, DNS:berthd.berth.svc,
#                               DNS:localhost, IP:127.0.0.1, and every
#                               $BERTHD_SANS entry (e.g. "DNS:berth.example.com,IP:10.0.0.5")
#   agent-NODE.key, .crt        one client certificate per NODE; CN = the
#                               node name, SAN DNS:NODE (default NODE:
#                               this host's name)
# Keys are mode 0600. Certificates last 825 days. Running it again keeps an
# existing CA and remakes the leaf certificates. Check a certificate with
#   openssl verify -CAfile DIR/ca.crt DIR/berthd.crt
set -euo pipefail

usage() { echo "usage: dev-ca.sh DIR [NODE...]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
DIR=$1
shift
NODES=("$@")
[[ ${#NODES[@]} -gt 0 ]] || NODES=("$(hostname)")
command -v openssl >/dev/null || { echo "dev-ca.sh: openssl not found (apt-get install openssl)" >&2; exit 1; }
for node in "${NODES[@]}"; do
  [[ $node =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] ||
    { echo "dev-ca.sh: bad node name \"$node\" (letters, digits, . and -)" >&2; exit 2; }
done

mkdir -p "$DIR"
umask 077
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ca: a self-signed CA, made once.
if [[ ! -f $DIR/ca.key || ! -f $DIR/ca.crt ]]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/ca.key"
  openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days 3650 \
    -subj "/O=berth development/CN=berth development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$DIR/ca.crt" 2>/dev/null
fi

# leaf NAME CN SAN USAGE: a key and a certificate signed by the CA.
leaf() {
  local name=$1 cn=$2 san=$3 usage=$4
  openssl ecparam -name prime256v1 -genkey -noout -out "$DIR/$name.key"
  openssl req -new -key "$DIR/$name.key" -subj "/O=berth development/CN=$cn" \
    -out "$WORK/$name.csr" 2>/dev/null
  cat >"$WORK/$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
  openssl x509 -req -in "$WORK/$name.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
    -CAcreateserial -CAserial "$WORK/ca.srl" -sha256 -days 825 \
    -extfile "$WORK/$name.ext" -out "$DIR/$name.crt" 2>/dev/null
}

server_san="DNS:berthd,DNS:berthd.berth.svc,DNS:berthd.berth.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
[[ -n ${BERTHD_SANS:-} ]] && server_san="$server_san,$BERTHD_SANS"
leaf berthd berthd "$server_san" serverAuth
for node in "${NODES[@]}"; do
  leaf "agent-$node" "$node" "DNS:$node" clientAuth
done
chmod 0644 "$DIR"/*.crt
chmod 0600 "$DIR"/*.key

echo "dev-ca.sh: CA and certificates in $DIR:"
(cd "$DIR" && ls -1 ./*.crt | sed 's|^\./|  |')
