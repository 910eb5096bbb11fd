#!/usr/bin/env bash
# Generate the certificates of the Tongsuo and GmSSL lab servers with Tongsuo's openssl.
# Usage: tongsuo/gencerts.sh TONGSUO_OPENSSL OUT_DIR
#
# OUT_DIR gets (keys: unencrypted PKCS#8 "PRIVATE KEY" unless said otherwise):
#   ca.crt ca.key            SM2 root CA, SM2-with-SM3, KU keyCertSign+cRLSign
#   sign.crt sign.key        TLCP signing cert, SM2, KU digitalSignature (critical)
#   enc.crt enc.key          TLCP encryption cert, SM2, KU keyEncipherment+dataEncipherment+keyAgreement (critical)
#   tlcp-chain.pem           sign.crt + enc.crt, in that order (GmSSL's tlcp_server -cert)
#   sign.gmssl.pem enc.gmssl.pem
#                            the same two SM2 keys as encrypted PKCS#8 in GmSSL's form
#                            (PBKDF2-HMAC-SM3 + SM4-CBC), password "sentinel-lab"
#   rsa-ca.crt rsa-ca.key    RSA 2048 root CA, sha256WithRSAEncryption
#   rsa.crt rsa.key          RSA 2048 server cert, KU digitalSignature+keyEncipherment, EKU serverAuth
# Leaf certs: CN $SENTINEL_LAB_CN (default sentinel-lab.local), SAN $SENTINEL_LAB_SAN (default
# localhost,127.0.0.1,::1), valid from one hour ago for 365 days. SM2 signatures use the
# default ID 1234567812345678. The leaf certs have no basicConstraints extension: GmSSL 3.1
# rejects the DER form of CA:FALSE (an empty SEQUENCE) and then fails the whole chain.
# tlcp-chain.pem leaves the root out: GmSSL's TLCP client (x509_certs_verify_tlcp) takes every
# certificate after the two leaves for an intermediate, so a root there fails the path length.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OSSL="$1"
OUT="$2"
CN="${SENTINEL_LAB_CN:-sentinel-lab.local}"
SAN_LIST="${SENTINEL_LAB_SAN:-localhost,127.0.0.1,::1}"
GMSSL_PASS=sentinel-lab
ID=distid:1234567812345678

san=""
IFS=',' read -ra items <<<"$SAN_LIST"
for item in "${items[@]}"; do
  if [[ "$item" =~ ^[0-9.]+$ || "$item" == *:* ]]; then san+="${san:+,}IP:$item"; else san+="${san:+,}DNS:$item"; fi
done

mkdir -p "$OUT"
TMP="$(mktemp -d "${OUT%/}.tmp.XXXXXX")"  # next to OUT, so that the final mv stays on one file system
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
umask 077
export OPENSSL_CONF=/dev/null
# Run the tool, its chatter ("Certificate request self-signature ok") into a log shown on failure.
ossl() { "$OSSL" "$@" 2>>"$TMP/log" || { echo "tongsuo-openssl $1 failed:" >&2; cat "$TMP/log" >&2; return 1; }; }
NB="$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)"

cat >ext.cnf <<EOF
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[sign]
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[enc]
keyUsage = critical, keyEncipherment, dataEncipherment, keyAgreement
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[rsa]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

serial() { printf '0x%s' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"; }

# root NAME SUBJ MD KEYALG-ARGS...: self-signed CA
root() {
  local name="$1" subj="$2" md="$3"; shift 3
  ossl genpkey "$@" -out "$name.key"
  local sigopt=()
  [[ "$md" == sm3 ]] && sigopt=(-sigopt "$ID")
  ossl req -new -x509 -key "$name.key" -"$md" "${sigopt[@]}" -subj "$subj" -not_before "$NB" -days 3650 \
    -set_serial "$(serial)" -config ext.cnf -extensions ca -out "$name.crt"
}

# leaf NAME CA SECTION SUBJ MD KEYALG-ARGS...
leaf() {
  local name="$1" ca="$2" section="$3" subj="$4" md="$5"; shift 5
  ossl genpkey "$@" -out "$name.key"
  local sigopt=() vfyopt=()
  [[ "$md" == sm3 ]] && sigopt=(-sigopt "$ID") && vfyopt=(-vfyopt "$ID")
  ossl req -new -key "$name.key" -"$md" "${sigopt[@]}" -subj "$subj" -config ext.cnf -out "$name.csr"
  ossl x509 -req -in "$name.csr" "${vfyopt[@]}" -CA "$ca.crt" -CAkey "$ca.key" -"$md" "${sigopt[@]}" \
    -not_before "$NB" -days 365 -set_serial "$(serial)" -extfile ext.cnf -extensions "$section" -out "$name.crt"
}

SM2=(-algorithm SM2)
RSA=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)
root ca "/C=CN/O=Sentinel Lab/CN=Sentinel Lab Tongsuo SM2 Root CA" sm3 "${SM2[@]}"
leaf sign ca sign "/C=CN/O=Sentinel Lab/CN=$CN" sm3 "${SM2[@]}"
leaf enc ca enc "/C=CN/O=Sentinel Lab/CN=$CN (enc)" sm3 "${SM2[@]}"
root rsa-ca "/C=CN/O=Sentinel Lab/CN=Sentinel Lab Tongsuo RSA Root CA" sha256 "${RSA[@]}"
leaf rsa rsa-ca rsa "/C=CN/O=Sentinel Lab/CN=$CN" sha256 "${RSA[@]}"
cat sign.crt enc.crt >tlcp-chain.pem

for k in sign enc; do python3 "$HERE/../gmssl/gmssl_key.py" "$OSSL" "$GMSSL_PASS" <"$k.key" >"$k.gmssl.pem"; done

for c in sign enc; do ossl verify -vfyopt "$ID" -CAfile ca.crt "$c.crt" >/dev/null; done
ossl verify -CAfile rsa-ca.crt rsa.crt >/dev/null
chmod 644 ./*.crt ./*.pem
chmod 600 ./*.key ./*.gmssl.pem
rm -f ./*.csr ext.cnf log
mkdir -p "$OUT"
mv -f ./* "$OUT/"
