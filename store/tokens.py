"""Delete tokens and client keys: what the store keeps instead of the secret itself.

A delete token is `secrets.token_urlsafe(32)`: 256 random bits, shown to the user once. The
database keeps only its sha256. A slow password hash (scrypt, bcrypt) exists to stop guessing of
low-entropy passwords; against 256 random bits a single sha256 is already out of reach, and it
keeps `delete` fast. Tokens are compared with `hmac.compare_digest`, in constant time.

A client key (an IP address, or a session id) is kept as HMAC-SHA256 under a random secret
made per database (`store_secrets.client_key`), so the rate limit can recognise a client
without the table holding its address.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_delete_token() -> str:
    """A fresh delete token, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_delete_token(token: str) -> str:
    """The hex sha256 the database keeps for `token`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Whether `token` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_delete_token(token), stored_hash)


def hash_client_key(client: str, secret: bytes) -> str:
    """The hex HMAC-SHA256 of a client's address or session id under the database's secret."""
    return hmac.new(secret, client.encode("utf-8"), hashlib.sha256).hexdigest()
