"""A synthetic population, deterministic from a seed: people as `exchange.model.PersonRecord`s.

Subject i of seed s is always the same person: names drawn from name lists of their
nationality, a date of birth, UK identifiers with valid check characters (PNC ID, CRO
number), and the biometrics of `matchers.synthetic` (a DNA-17 profile drawn from the allele
frequencies of the subject's home population, ten minutiae sets, a face template with low
intrinsic dimension). Capture 0 is
the enrolment capture; capture 1 and later are re-captures (a crime-scene stain with loci
lost, re-rolled prints, another photograph), so the same person searched with a second
capture is a realistic genuine search. Placing subject i in several galleries (UK and
partners) gives drills their ground truth.

Home populations follow the subject numbering of `mock_partners.cluster`: subjects below
`PARTNER_SUBJECTS` are the UK's own and draw DNA from the UK table (NDNAD, group NDU1);
partner j's subjects (j * PARTNER_SUBJECTS onwards, for DE, FR, NL, EUROPOL and INTERPOL alike)
and the subjects nobody holds draw from the European table (EuropaDB v2023). The population is a
property of the person, not of the gallery: a subject enrolled by the UK and by a partner has one
profile in both.

The name lists are short samples of common given and family names per country, written in
each country's own script conventions (diacritics kept; transliteration is the codecs' job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exchange.identifiers import format_cro, format_pnc
from exchange.model import (
    DnaProfile,
    FaceTemplate,
    Finger,
    FingerprintSet,
    Identifiers,
    Impression,
    Minutia,
    MinutiaKind,
    PartialDate,
    PersonName,
    PersonRecord,
    SampleType,
    Sex,
)
from matchers import synthetic
from matchers.dna_profile import LOCI, decode_keys

FEATURE_MODEL = "synthetic-face-512-v1"
FACE_DIM = 512
PARTNER_SUBJECTS = 100_000  # partner j holds subjects j * PARTNER_SUBJECTS onwards
UK_DNA_GROUP = "NDU1"
PARTNER_DNA_GROUP = synthetic.EUROPE

_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # country: (male given, female given, family)
    "GB": (
        ("James", "Oliver", "Harry", "George", "Mohammed"),
        ("Olivia", "Amelia", "Isla", "Emily", "Ava"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Khan"),
    ),
    "DE": (
        ("Lukas", "Jürgen", "Maximilian", "Stefan", "Jonas"),
        ("Anna", "Jülide", "Sophie", "Marie", "Käthe"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Groß", "Schäfer"),
    ),
    "FR": (
        ("Jean", "Étienne", "Louis", "François", "Noé"),
        ("Chloé", "Léa", "Élodie", "Camille", "Inès"),
        ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard"),
    ),
    "NL": (
        ("Daan", "Sem", "Bram", "Jeroen", "Thijs"),
        ("Emma", "Julia", "Sanne", "Fleur", "Ilse"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser"),
    ),
    "PL": (
        ("Jakub", "Łukasz", "Paweł", "Michał", "Wojciech"),
        ("Zofia", "Małgorzata", "Agnieszka", "Katarzyna", "Żaneta"),
        ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński"),
    ),
    "RO": (
        ("Andrei", "Ștefan", "Mihai", "Ion", "Alexandru"),
        ("Ioana", "Elena", "Maria", "Andreea", "Ștefania"),
        ("Popescu", "Ionescu", "Popa", "Dumitru", "Stan"),
    ),
    "BG": (
        ("Георги", "Иван", "Димитър"),
        ("Мария", "Елена", "Йорданка"),
        ("Иванов", "Георгиев", "Димитров", "Петров"),
    ),
    "GR": (
        ("Γιώργος", "Νίκος", "Κώστας"),
        ("Μαρία", "Ελένη", "Κατερίνα"),
        ("Παπαδόπουλος", "Βασιλείου", "Νικολάου"),
    ),
}
NATIONALITIES = tuple(_NAMES)


@dataclass(frozen=True, slots=True)
class Person:
    """Ground truth for one synthetic subject: who they are and their enrolment record."""

    subject: int
    nationality: str
    record: PersonRecord


def _rng(seed: int, subject: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, 900 + stream, subject])


def reference_of(seed: int, subject: int, owner: str) -> str:
    """The opaque reference under which `owner` holds this subject (no personal meaning)."""
    digest = hashlib.sha256(f"{seed}:{subject}:{owner}".encode()).hexdigest()[:20]
    return f"{owner}-{digest}"


def dna_group_of(subject: int) -> str:
    """The allele-frequency group of a subject's home population (see the module docstring)."""
    return UK_DNA_GROUP if subject < PARTNER_SUBJECTS else PARTNER_DNA_GROUP


def dna_profiles(seed: int, subjects: Sequence[int], capture: int = 0) -> list[DnaProfile]:
    """Capture 0: reference profiles; later captures: stains with loci and alleles lost."""
    kind = SampleType.REFERENCE if capture == 0 else SampleType.STAIN
    keys = np.zeros((len(subjects), len(LOCI), 2), dtype=np.int16)
    groups = np.array([dna_group_of(s) for s in subjects])
    for group in dict.fromkeys(groups.tolist()):
        rows = np.flatnonzero(groups == group)
        ids = [subjects[int(i)] for i in rows]
        if capture == 0:
            keys[rows] = synthetic.dna_keys_for(seed, ids, group)
        else:
            keys[rows] = synthetic.dna_recapture_keys(seed, ids, group=group)
    return [DnaProfile(kind, _loci(k), "NGM SElect") for k in keys]


def _loci(keys: np.ndarray) -> dict[str, tuple[str, ...]]:
    return {locus: tuple(alleles) for locus, alleles in decode_keys(keys).items() if all(alleles)}


def fingerprints(seed: int, subject: int, capture: int = 0) -> FingerprintSet:
    fingers = []
    for position, m in synthetic.tenprint(seed, subject, capture).items():
        minutiae = tuple(
            Minutia(
                x=max(0, round(float(row[0]))),
                y=max(0, round(float(row[1]))),
                angle=round(float(row[2])) % 360,
                kind=MinutiaKind.BIFURCATION if row[3] >= 0.5 else MinutiaKind.RIDGE_ENDING,
                quality=int(min(100, max(0, row[4]))),
            )
            for row in m
        )
        fingers.append(Finger(position, minutiae))
    return FingerprintSet(tuple(fingers), Impression.ROLLED, 500)


def faces(seed: int, subjects: Sequence[int], capture: int = 0) -> list[FaceTemplate]:
    vectors = synthetic.face_templates(seed, subjects, FACE_DIM, capture).astype("<f4")
    return [FaceTemplate(FEATURE_MODEL, v.tobytes()) for v in vectors]


def people(
    seed: int,
    subjects: Sequence[int],
    owner: str = "GB",
    capture: int = 0,
    *,
    with_fingerprints: bool = True,
) -> list[Person]:
    """Subjects as enrolled by `owner` (capture 0) or as later captures of them (batched)."""
    dna = dna_profiles(seed, subjects, capture)
    face_list = faces(seed, subjects, capture)
    return [
        _person(seed, subject, owner, capture, d, f, with_fingerprints)
        for subject, d, f in zip(subjects, dna, face_list, strict=True)
    ]


def person(seed: int, subject: int, owner: str = "GB", capture: int = 0) -> Person:
    return people(seed, [subject], owner, capture)[0]


def _person(
    seed: int,
    subject: int,
    owner: str,
    capture: int,
    dna: DnaProfile,
    face: FaceTemplate,
    with_fingerprints: bool,
) -> Person:
    rng = _rng(seed, subject, 0)
    nationality = NATIONALITIES[int(rng.integers(len(NATIONALITIES)))]
    male_given, female_given, family = _NAMES[nationality]
    sex = Sex.MALE if rng.random() < 0.5 else Sex.FEMALE
    given_pool = male_given if sex is Sex.MALE else female_given
    year = int(rng.integers(1950, 2006))
    dob = PartialDate(year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
    arrest_year = int(rng.integers(max(year + 16, 1990), 2026)) % 100
    identifiers = Identifiers(
        pnc_id=format_pnc(arrest_year, subject % 10_000_000),
        cro_number=format_cro(arrest_year, subject % 1_000_000 + 1),
    )
    record = PersonRecord(
        identifiers=identifiers,
        name=PersonName(str(rng.choice(family)), (str(rng.choice(given_pool)),)),
        reference=reference_of(seed, subject, owner),
        date_of_birth=dob,
        sex=sex,
        nationalities=(nationality,),
        dna=dna,
        fingerprints=fingerprints(seed, subject, capture) if with_fingerprints else None,
        face=face,
    )
    return Person(subject, nationality, record)
