"""Issuer adapters: one interface (`interface.py`), one implementation per kind of exchange."""
