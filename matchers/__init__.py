"""Biometric matching: FAISS galleries for face and fingerprint, Prüm-rule DNA matching.

Arrays and ids in, candidates out; this package never imports `exchange` (DESIGN.md §2).

- `dna`, `dna_profile`: `DnaGallery` (add, remove, search -> `DnaMatch`), the 2008/616 rules.
- `face`, `vector_gallery`: `FaceGallery` on FAISS, index chosen by factory string.
- `fingerprint`, `fingerprint_shortlist`, `minutiae_encoding`, `minutiae_pairing`, `fusion`:
  `FingerprintGallery`.
- `thresholds`: score thresholds for a target false-match rate.
- `synthetic`: deterministic synthetic biometrics for subject i (DNA, minutiae, face).
- `errors`: `MatcherError` and its subclasses; `rwlock`: the galleries' readers-writer lock.
"""
