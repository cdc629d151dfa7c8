"""Authentication of the query API: a request's credential becomes a ``Principal`` (tenant and scopes).

- ``settings``: the ``API_AUTH__...`` settings group (JWT issuer, audience, JWKS, claims; key cache).
- ``principal``: ``Principal`` and the scopes (read, admin); tenant None means every tenant.
- ``credentials``: which credential a request carries (``Authorization: Bearer``, ``X-API-Key``).
- ``keys``: API keys (``mf_<prefix>_<secret>``) verified against ``api_keys`` with a short TTL cache.
- ``tokens``: JWTs from the company's identity provider, verified with PyJWT against a JWKS file or URL.
- ``dependencies``: the ``Authenticator`` on ``app.state`` and the FastAPI dependency ``ReadAccess`` that
  every /v1 and compatibility route takes (and that declares the security schemes in the OpenAPI document).
"""

from meterflow_api.auth.dependencies import Authenticator, ReadAccess, Require
from meterflow_api.auth.principal import Principal
from meterflow_api.auth.settings import AuthSettings, JwtSettings

__all__ = ["AuthSettings", "Authenticator", "JwtSettings", "Principal", "ReadAccess", "Require"]
