"""Biometric matching: FAISS galleries for face and fingerprint, Prüm-rule DNA matching.

Arrays and ids in, candidates out; this package never imports `exchange` (DESIGN.md §2).
"""
