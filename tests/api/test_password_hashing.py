"""Passwords are hashed with argon2id on one lane (a login takes one core, not all of them), and a
hash made with other parameters is replaced at the owner's next right login."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type

from crmhub.services.hub import HubService
from crmhub.services.users import AuthenticationError, UserService
from crmhub.store import users as repo

PASSWORD = "correct horse battery"


def _stored(hub: HubService, email: str) -> str:
    with hub.db.read() as session:
        return repo.get_user(session, email).password_hash or ""


def test_new_passwords_are_argon2id_with_one_lane_one_pass_and_46_mib(hub: HubService) -> None:
    users = UserService(hub)
    users.create("a@example.com", password=PASSWORD, role="viewer")
    stored = _stored(hub, "a@example.com")
    # The PHC string names the variant and the parameters: m in KiB, t passes, p lanes.
    assert stored.startswith("$argon2id$v=19$m=47104,t=1,p=1$"), stored


def test_a_hash_with_older_parameters_is_replaced_at_the_next_right_login(hub: HubService) -> None:
    users = UserService(hub)
    users.create("b@example.com", password=PASSWORD, role="viewer")
    old = PasswordHasher(time_cost=3, memory_cost=65_536, parallelism=4, type=Type.ID).hash(PASSWORD)
    with hub.db.begin() as session:
        repo.get_user(session, "b@example.com").password_hash = old
    with pytest.raises(AuthenticationError):
        users.authenticate("b@example.com", "not the password", client="127.0.0.9")
    assert _stored(hub, "b@example.com") == old  # a wrong password changes nothing
    principal = users.authenticate("b@example.com", PASSWORD, client="127.0.0.9")
    assert principal.email == "b@example.com"
    assert _stored(hub, "b@example.com").startswith("$argon2id$v=19$m=47104,t=1,p=1$")
