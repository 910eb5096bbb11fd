"""Turn an SM2 private key written by Tongsuo into the encrypted PKCS#8 that GmSSL 3.1 reads.

    python3 gmssl_key.py TONGSUO_OPENSSL PASSWORD < key.pem > key.gmssl.pem

key.pem is Tongsuo's unencrypted PKCS#8 ("PRIVATE KEY", `genpkey -algorithm SM2`).

GmSSL's `tlcp_server` takes only encrypted keys (PBES2: PBKDF2-HMAC-SM3, SM4-CBC), and
`tongsuo-openssl pkcs8 -topk8 -v2 sm4-cbc -v2prf hmacWithSM3` is not readable by it, for two
reasons measured with GmSSL 3.1.1-dev:
  * the PRF: Tongsuo names HMAC-SM3 {1.2.156.10197.1.401.3.1, NULL}; GmSSL accepts only
    {1.2.156.10197.1.401.2} without parameters;
  * the inner ECPrivateKey: OpenSSL/Tongsuo leave out the optional [0] curve parameters in
    PKCS#8; GmSSL's sm2_private_key_from_der requires them.
So this script inserts [0] {sm2 1.2.156.10197.1.301} into the ECPrivateKey, has Tongsuo derive
the key (`kdf PBKDF2`, digest SM3) and encrypt (`enc -sm4-cbc`, PKCS#7 padding), and writes
the DER structure with GmSSL's OIDs. Tongsuo does all the cryptography; this only encodes.
"""

import base64
import os
import re
import subprocess
import sys

ITER = 10000
OID_SM2 = bytes.fromhex("06082a811ccf5501822d")  # 1.2.156.10197.1.301
OID_PBES2 = bytes.fromhex("06092a864886f70d01050d")  # 1.2.840.113549.1.5.13
OID_PBKDF2 = bytes.fromhex("06092a864886f70d01050c")  # 1.2.840.113549.1.5.12
OID_HMAC_SM3 = bytes.fromhex("06092a811ccf5501831102")  # 1.2.156.10197.1.401.2 (GmSSL's)
OID_SM4_CBC = bytes.fromhex("06082a811ccf55016802")  # 1.2.156.10197.1.104.2


def tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at pos."""
    tag, n = data[pos], data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    return tag, pos, pos + n


def children(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, content, whole element) of each element in data."""
    out, pos = [], 0
    while pos < len(data):
        tag, start, end = tlv(data, pos)
        out.append((tag, data[start:end], data[pos:end]))
        pos = end
    return out


def enc(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def seq(*parts: bytes) -> bytes:
    return enc(0x30, *parts)


def with_curve_params(pki: bytes) -> bytes:
    """PrivateKeyInfo whose ECPrivateKey carries [0] namedCurve sm2."""
    (tag, body, _), = children(pki)
    version, algid, key = children(body)[:3]
    if tag != 0x30 or key[0] != 0x04 or OID_SM2 not in algid[2]:
        sys.exit("gmssl_key.py: not an SM2 PrivateKeyInfo")
    (_, ec_body, _), = children(key[1])
    fields = children(ec_body)
    tags = [f[0] for f in fields]
    if 0xA0 not in tags:
        fields.insert(2, (0xA0, OID_SM2, enc(0xA0, OID_SM2)))
    ec = seq(*(f[2] for f in fields))
    return seq(version[2], algid[2], enc(0x04, ec))


def run(cmd: list[str], data: bytes = b"") -> bytes:
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True,
                          env=dict(os.environ, OPENSSL_CONF="/dev/null")).stdout


def main() -> None:
    ossl, password = sys.argv[1], sys.argv[2]
    m = re.search(r"-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", sys.stdin.read(), re.S)
    if not m:
        sys.exit("gmssl_key.py: no unencrypted PRIVATE KEY on stdin")
    pki = with_curve_params(base64.b64decode("".join(m.group(1).split())))
    salt, iv = os.urandom(16), os.urandom(16)
    key = run([ossl, "kdf", "-binary", "-keylen", "16", "-kdfopt", "digest:SM3",
               "-kdfopt", "hexpass:" + password.encode().hex(), "-kdfopt", "hexsalt:" + salt.hex(),
               "-kdfopt", f"iter:{ITER}", "PBKDF2"])
    if len(key) != 16:
        sys.exit("gmssl_key.py: PBKDF2 gave no 16-byte key")
    ciphertext = run([ossl, "enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex()], pki)
    pbkdf2 = seq(OID_PBKDF2, seq(enc(0x04, salt), enc(0x02, ITER.to_bytes(2, "big")), seq(OID_HMAC_SM3)))
    der = seq(seq(OID_PBES2, seq(pbkdf2, seq(OID_SM4_CBC, enc(0x04, iv)))), enc(0x04, ciphertext))
    b64 = base64.b64encode(der).decode()
    print("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    for i in range(0, len(b64), 64):
        print(b64[i:i + 64])
    print("-----END ENCRYPTED PRIVATE KEY-----")


if __name__ == "__main__":
    main()
