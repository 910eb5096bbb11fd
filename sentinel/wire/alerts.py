"""Alerts: parsing, names (TLS registry plus TLCP's 200-205) and the gotlcp fingerprint."""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.wire._reader import Reader

ALERT_NAMES: dict[int, str] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
    21: "decryption_failed", 22: "record_overflow", 30: "decompression_failure",
    40: "handshake_failure", 41: "no_certificate", 42: "bad_certificate",
    43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
    49: "access_denied", 50: "decode_error", 51: "decrypt_error",
    60: "export_restriction", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
    111: "certificate_unobtainable", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
    115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol", 121: "ech_required",
    # GB/T 38636 (TLCP) additions, DOMAIN §1.1 (Tongsuo ntls.h, GmSSL tls.h)
    200: "unsupported_site2site", 201: "no_area", 202: "unsupported_areatype",
    203: "bad_ibcparam", 204: "unsupported_ibcparam", 205: "identity_need",
}

LEVEL_WARNING = 1
LEVEL_FATAL = 2

# gotlcp's answer to a TLS ClientHello: fatal protocol_version in a 0x0101 record (DOMAIN §1.2).
GOTLCP_VERSION_ALERT = bytes.fromhex("15010100020246")


@dataclass(frozen=True)
class Alert:
    """One alert: level (1 warning, 2 fatal) and description code."""

    level: int
    description: int

    @property
    def name(self) -> str:
        """Registry name, or ``unknown_N``."""
        return ALERT_NAMES.get(self.description, f"unknown_{self.description}")

    @property
    def fatal(self) -> bool:
        """True for level 2 (and for unknown levels, which a peer treats as fatal)."""
        return self.level != LEVEL_WARNING

    def encode(self) -> bytes:
        """The two alert bytes."""
        return bytes((self.level & 0xFF, self.description & 0xFF))


def parse_alert(payload: bytes) -> Alert:
    """Parse an alert record payload (exactly two bytes)."""
    reader = Reader(payload, "alert")
    level = reader.u8("level")
    description = reader.u8("description")
    reader.expect_end("alert")
    return Alert(level, description)


def is_gotlcp_version_alert(data: bytes) -> bool:
    """True when ``data`` starts with gotlcp's exact protocol_version alert record."""
    return data[: len(GOTLCP_VERSION_ALERT)] == GOTLCP_VERSION_ALERT
