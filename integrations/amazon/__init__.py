"""The Amazon gateway: the only code that imports `sp_api` (python-amazon-sp-api)."""
