"""ISO 3166-1 country codes, for nationalities and places of birth.

The table lists every officially assigned alpha-2 code with its alpha-3 code (249 entries),
taken from the Debian iso-codes data as packaged by pycountry 26.2.16 (`iso3166-1.json`),
plus `XK` / `XKX` (Kosovo), a user-assigned code that EU and Interpol systems use.
Nationalities are exchanged as alpha-2 (2008/616/JHA Art. 7(5) uses ISO 3166-1 alpha-2 for
state codes); alpha-3 is accepted on input, since UK systems often hold it.
"""

from __future__ import annotations

_TABLE = (
    "ADAND AEARE AFAFG AGATG AIAIA ALALB AMARM AOAGO AQATA ARARG ASASM ATAUT AUAUS AWABW "
    "AXALA AZAZE BABIH BBBRB BDBGD BEBEL BFBFA BGBGR BHBHR BIBDI BJBEN BLBLM BMBMU BNBRN "
    "BOBOL BQBES BRBRA BSBHS BTBTN BVBVT BWBWA BYBLR BZBLZ CACAN CCCCK CDCOD CFCAF CGCOG "
    "CHCHE CICIV CKCOK CLCHL CMCMR CNCHN COCOL CRCRI CUCUB CVCPV CWCUW CXCXR CYCYP CZCZE "
    "DEDEU DJDJI DKDNK DMDMA DODOM DZDZA ECECU EEEST EGEGY EHESH ERERI ESESP ETETH FIFIN "
    "FJFJI FKFLK FMFSM FOFRO FRFRA GAGAB GBGBR GDGRD GEGEO GFGUF GGGGY GHGHA GIGIB GLGRL "
    "GMGMB GNGIN GPGLP GQGNQ GRGRC GSSGS GTGTM GUGUM GWGNB GYGUY HKHKG HMHMD HNHND HRHRV "
    "HTHTI HUHUN IDIDN IEIRL ILISR IMIMN ININD IOIOT IQIRQ IRIRN ISISL ITITA JEJEY JMJAM "
    "JOJOR JPJPN KEKEN KGKGZ KHKHM KIKIR KMCOM KNKNA KPPRK KRKOR KWKWT KYCYM KZKAZ LALAO "
    "LBLBN LCLCA LILIE LKLKA LRLBR LSLSO LTLTU LULUX LVLVA LYLBY MAMAR MCMCO MDMDA MEMNE "
    "MFMAF MGMDG MHMHL MKMKD MLMLI MMMMR MNMNG MOMAC MPMNP MQMTQ MRMRT MSMSR MTMLT MUMUS "
    "MVMDV MWMWI MXMEX MYMYS MZMOZ NANAM NCNCL NENER NFNFK NGNGA NINIC NLNLD NONOR NPNPL "
    "NRNRU NUNIU NZNZL OMOMN PAPAN PEPER PFPYF PGPNG PHPHL PKPAK PLPOL PMSPM PNPCN PRPRI "
    "PSPSE PTPRT PWPLW PYPRY QAQAT REREU ROROU RSSRB RURUS RWRWA SASAU SBSLB SCSYC SDSDN "
    "SESWE SGSGP SHSHN SISVN SJSJM SKSVK SLSLE SMSMR SNSEN SOSOM SRSUR SSSSD STSTP SVSLV "
    "SXSXM SYSYR SZSWZ TCTCA TDTCD TFATF TGTGO THTHA TJTJK TKTKL TLTLS TMTKM TNTUN TOTON "
    "TRTUR TTTTO TVTUV TWTWN TZTZA UAUKR UGUGA UMUMI USUSA UYURY UZUZB VAVAT VCVCT VEVEN "
    "VGVGB VIVIR VNVNM VUVUT WFWLF WSWSM YEYEM YTMYT ZAZAF ZMZMB ZWZWE "
    "XKXKX"
)

ALPHA3_TO_ALPHA2 = {pair[2:]: pair[:2] for pair in _TABLE.split()}
ALPHA2 = frozenset(ALPHA3_TO_ALPHA2.values())
ALPHA2_TO_ALPHA3 = {a2: a3 for a3, a2 in ALPHA3_TO_ALPHA2.items()}


class CountryError(ValueError):
    """A code that is not an assigned ISO 3166-1 alpha-2 or alpha-3 code."""


def normalise_country(code: str) -> str:
    """Alpha-2 form of an ISO 3166-1 alpha-2 or alpha-3 code, or CountryError."""
    c = code.strip().upper()
    if len(c) == 2 and c in ALPHA2:
        return c
    if len(c) == 3 and c in ALPHA3_TO_ALPHA2:
        return ALPHA3_TO_ALPHA2[c]
    raise CountryError(f"{code!r} is not an ISO 3166-1 country code")


def alpha3(code: str) -> str:
    """Alpha-3 form of an ISO 3166-1 alpha-2 or alpha-3 code, or CountryError."""
    return ALPHA2_TO_ALPHA3[normalise_country(code)]
