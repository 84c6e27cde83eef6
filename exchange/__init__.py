"""prum-exchange: the UK adapter for Prüm II and Interpol biometric exchange."""

__version__ = "0.1.0"
