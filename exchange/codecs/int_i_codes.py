"""Constants of Interpol's INT-I v6.00 profile of ANSI/NIST-ITL 1-2011 (Update 2015), XML encoding.

Our own table of the few codes the project uses, written from Interpol's published profile
(INTERPOL-Innovation-Centre/ANSI-NIST-XML-ITL-Implementation, `MRT/MRT_INT-I_LookupCodes.csv`,
code tables `TOT` and `ERR`; field numbers from `MRT_INT-I_FieldDefinition.csv`). The tests read
that CSV from ../shared to check this table against it; nothing of it is copied here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from exchange.codecs.errors import CodecError
from exchange.model import ErrorCode

NS_ITL = "http://biometrics.nist.gov/standard/2011"
NS_BIOM = "http://niem.gov/niem/biometrics/1.0"
NS_NC = "http://niem.gov/niem/niem-core/2.0"
NS_INTI = "http://interpol.gov/int-i/1.0"
NSMAP: Mapping[str, str] = {"itl": NS_ITL, "biom": NS_BIOM, "nc": NS_NC, "int-i": NS_INTI}

ROOT = f"{{{NS_ITL}}}NISTBiometricInformationExchangePackage"

# 1.013 DOM: the profile names itself and its version in every transaction.
DOMAIN_NAME = "INT-I"
DOMAIN_VERSION = "06.00"
#: 1.009 TCN / 1.010 TCR: YY, a twelve-digit serial and a check character
#: (MRT_INT-I_FieldDefinition.csv, row 1/TCN: its regular expression and procedure).
TCN_PATTERN = re.compile(r"\d{14}[A-HJ-NP-RT-Z]")
# 1.002 VER: ANSI/NIST-ITL 1-2011 Update 2015, as the published samples carry it.
STANDARD_VERSION = "0502"

# 1.004 TOT, the transaction types of INT-I v6.00.
TOT_ATP = "ATP"  # add to print collection
TOT_CPS = "CPS"  # criminal print-to-print search
TOT_NPS = "NPS"  # non-criminal print-to-print search
TOT_MPS = "MPS"  # latent-to-print search
TOT_SRE = "SRE"  # search results
TOT_ERR = "ERR"  # error message
TOTS = frozenset({TOT_ATP, TOT_CPS, TOT_NPS, TOT_MPS, TOT_SRE, TOT_ERR})
SEARCH_TOTS = frozenset({TOT_CPS, TOT_NPS, TOT_MPS})

# 2.064 RLS/SRC: the search result code.
RESULT_HIT = "I"
RESULT_NO_HIT = "N"

# 2.074 ERM/ECO: INT-I error codes (code table ERR) and their standard texts.
ERROR_TEXTS: Mapping[str, str] = {
    "001": "ERROR: RECORD NOT FOUND",
    "003": "ERROR: UNAUTHORISED ACCESS",
    "101": "ERROR: MANDATORY ELEMENT MISSING",
    "102": "ERROR: INVALID RECORD TYPE",
    "112": "ERROR: INVALID DATE",
    "115": "ERROR: INVALID ITEM VALUE",
    "116": "ERROR: INVALID TYPE OF TRANSACTION",
    "117": "ERROR: INVALID RECORD DATA",
    "201": "ERROR: INVALID TCN",
    "501": "ERROR: INSUFFICIENT FINGERPRINT QUALITY",
    "502": "ERROR: MISSING FINGERPRINTS",
    "999": "ERROR: RECORD NOT FOUND",
}
#: Every code of table ERR (2.074 ERM item A admits no other).
ERROR_CODES = frozenset(
    {"001", "002", "003", *(str(c) for c in range(101, 119)), "201", "501", "502", "503", "999"}
)

# Our refusals as INT-I codes. INT-I's table (code table ERR) has no code for a quota or for
# an internal failure, and int-i.xsd admits no other code: its 999 means "record not found",
# so sending it for a failure of ours would read as a no-hit. Those two are temporary
# conditions and travel at the transport level instead (HTTP 429 / 503 with Retry-After);
# `int_i_error_code` refuses to write them as an ERR.
INT_I_ERROR_OF: Mapping[ErrorCode, str] = {
    ErrorCode.SCHEMA_INVALID: "101",
    ErrorCode.UNSUPPORTED_MODALITY: "116",
    ErrorCode.UNKNOWN_REFERENCE: "001",
    ErrorCode.UNAUTHORISED_SENDER: "003",
    ErrorCode.PROFILE_REJECTED: "501",
    ErrorCode.UNSUPPORTED_FEATURE_MODEL: "501",  # INT-I has no code of its own for it
}
NO_INT_I_CODE = frozenset(
    {ErrorCode.QUOTA_EXCEEDED, ErrorCode.INTERNAL, ErrorCode.TEMPORARILY_UNAVAILABLE}
)

# INT-I codes as our refusals: 1xx are all syntax/content errors of the request.
_ERROR_BY_CODE: Mapping[str, ErrorCode] = {
    "001": ErrorCode.UNKNOWN_REFERENCE,
    "003": ErrorCode.UNAUTHORISED_SENDER,
    "116": ErrorCode.UNSUPPORTED_MODALITY,
    "501": ErrorCode.PROFILE_REJECTED,
    "502": ErrorCode.PROFILE_REJECTED,
    "503": ErrorCode.PROFILE_REJECTED,
    "999": ErrorCode.UNKNOWN_REFERENCE,  # INT-I's 999 is "record not found", as 001
}


def int_i_error_code(code: ErrorCode) -> str:
    """The INT-I ERR code of one of our refusals; CodecError where INT-I has none."""
    found = INT_I_ERROR_OF.get(code)
    if found is None:
        raise CodecError(
            "body.code",
            f"INT-I has no error code for {code.value}: a node answers it at the transport "
            "level (HTTP 429 or 503 with Retry-After), not as an ERR",
        )
    return found


def error_code_of(int_i_code: str) -> ErrorCode:
    """Our refusal for an INT-I error code; unknown codes are internal errors."""
    if int_i_code in _ERROR_BY_CODE:
        return _ERROR_BY_CODE[int_i_code]
    if int_i_code.startswith("1") or int_i_code == "201":
        return ErrorCode.SCHEMA_INVALID
    return ErrorCode.INTERNAL
