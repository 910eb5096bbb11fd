#!/bin/sh
# How the fixed test keys and SM2 certificates here were made (once; the tests never run this:
# they read the committed files, so no test depends on a key made at test time).
# RSA keys for tests/unit/test_certificates*.py; an SM2 CA, a TLCP signing and encryption
# certificate, an encryption certificate that reuses the signing key, and one with mixed
# usages, signed with SM3withSM2 (OpenSSL 3.0 with -sigopt distid:1234567812345678, the GB/T 35276 default ID: without it OpenSSL 3.0 signs with an empty ID).
set -eu
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.key
for k in sm2-ca sm2-sign sm2-enc; do openssl genpkey -algorithm SM2 -out $k.key; done
openssl req -x509 -new -key sm2-ca.key -sm3 -sigopt distid:1234567812345678 -days 36500 -subj "/C=CN/O=Sentinel Test/CN=Test SM2 Root" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -set_serial 1 -out sm2-ca.pem
leaf() {  # name key usage
  openssl req -new -key "$2" -sm3 -subj "/C=CN/O=Sentinel Test/CN=tlcp.test" -out "$1.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,%s\nsubjectAltName=DNS:tlcp.test\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA sm2-ca.pem -CAkey sm2-ca.key -sm3 -sigopt distid:1234567812345678 -days 36500 -set_serial "$4" \
    -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
leaf sm2-sign sm2-sign.key digitalSignature 2
leaf sm2-enc sm2-enc.key keyEncipherment,dataEncipherment 3
leaf sm2-enc-samekey sm2-sign.key keyEncipherment,dataEncipherment 4
leaf sm2-sign-mixed sm2-sign.key digitalSignature,keyEncipherment 5
# Weak signatures (cryptography 48 no longer signs with SHA-1 or MD5): a root with a 1024-bit
# RSA key signing itself and an intermediate with SHA-1, a leaf signed by that intermediate
# with MD5.
openssl req -x509 -new -key rsa1024.key -sha1 -days 36500 -subj "/CN=Weak Root" -set_serial 11 \
  -addext "basicConstraints=critical,CA:TRUE" -out weak-root.pem
openssl req -new -key rsa2048.key -subj "/CN=Weak Intermediate" -out weak-inter.csr
printf 'basicConstraints=critical,CA:TRUE\n' > weak-inter.ext
openssl x509 -req -in weak-inter.csr -CA weak-root.pem -CAkey rsa1024.key -sha1 -days 36500 \
  -set_serial 12 -extfile weak-inter.ext -out weak-inter.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out md5-leaf.key
openssl req -new -key md5-leaf.key -subj "/CN=www.example.test" -out md5-leaf.csr
printf 'subjectAltName=DNS:www.example.test\n' > md5-leaf.ext
openssl x509 -req -in md5-leaf.csr -CA weak-inter.pem -CAkey rsa2048.key -md5 -days 36500 \
  -set_serial 13 -extfile md5-leaf.ext -out md5-leaf.pem
rm -f weak-inter.csr weak-inter.ext md5-leaf.csr md5-leaf.ext md5-leaf.key
