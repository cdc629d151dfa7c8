"""The tenants of the API tests' fixtures (``tenant_client``, ``other_tenant_client``). Imported as
``integration.api.api_tenants`` (tests/ is on sys.path through tests/conftest.py)."""

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
