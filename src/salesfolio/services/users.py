"""Users: creation, password hashing (argon2id through pwdlib) and authentication."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from salesfolio.store.models import ROLES, User

MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user could not be created or changed; the message says why."""


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    """Argon2id hash of ``password`` (pwdlib's recommended parameters)."""
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches ``password_hash``."""
    try:
        return bool(_hasher().verify(password, password_hash))
    except Exception:  # a malformed hash never authenticates
        return False


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    full_name: str = "",
    rep_id: str | None = None,
    team: str | None = None,
    language: str = "en",
) -> User:
    """Add a user (the caller's transaction commits).

    A rep must name the ``rep_id`` whose clients they see, a manager the ``team`` they lead.
    """
    username = username.strip()
    if not username or len(username) > 80:
        raise UserError("username must be 1 to 80 characters")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if role == "rep" and not rep_id:
        raise UserError("a rep needs --rep-id: the rep ID whose clients they see")
    if role == "manager" and not team:
        raise UserError("a manager needs --team: the team whose clients they see")
    if language not in ("en", "pl"):
        raise UserError(f"language must be en or pl, not {language!r}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} exists already")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        full_name=full_name,
        rep_id=rep_id,
        team=team,
        language=language,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (the same answer for an unknown user and a bad password)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        verify_password(password, _dummy_hash())  # same time whether or not the user exists
        return None
    if not user.active or not verify_password(password, user.password_hash):
        return None
    return user


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not-a-real-password")
