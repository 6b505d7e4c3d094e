"""A checked token's principal is reused for a moment, and every change to rights ends that at once.

Each API request would otherwise ask the database who its token belongs to (two queries); the
server keeps the answer for ``PRINCIPAL_TTL`` (2 s). In the process that makes a change — revoking
a token, deactivating a user, changing a role, taking a permission set away, deleting one — the
next request already sees it. A change this process did not make (another server process, the CLI)
is seen within ``PRINCIPAL_TTL``: simulated here by writing the database directly.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from crmhub.services.hub import HubService
from crmhub.store.models import ApiToken, User

from .conftest import ManualClock, running_api

NO_SUCH_RUN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _user_id(client_admin: object, email: str) -> int:
    users = client_admin.get("/users").json()["items"]  # type: ignore[attr-defined]
    return int(next(u["id"] for u in users if u["email"] == email))


def test_a_revoked_token_is_refused_on_the_very_next_request(hub: HubService) -> None:
    with running_api(hub) as api:
        viewer = api.client("viewer")
        assert viewer.get("/jobs").status_code == 200  # checked, and now remembered
        mine = viewer.get("/tokens").json()["items"]
        assert viewer.delete(f"/tokens/{mine[0]['id']}").status_code == 204
        refused = viewer.get("/jobs")
        assert refused.status_code == 401, refused.text


def test_a_deactivated_user_and_a_lowered_role_take_effect_on_the_next_request(hub: HubService) -> None:
    with running_api(hub) as api:
        admin, advanced, viewer = api.client("admin"), api.client("advanced"), api.client("viewer")
        assert viewer.get("/jobs").status_code == 200
        assert advanced.post("/tokens", json={"name": "may write"}).status_code == 201
        assert (
            admin.patch(f"/users/{_user_id(admin, 'viewer@example.com')}", json={"active": False}).status_code
            == 200
        )
        assert viewer.get("/jobs").status_code == 401
        # advanced → viewer: creating a connection (connections:write) is refused at once
        body = {"name": "files2", "kind": "csv", "settings": {"path": "files"}}
        assert (
            admin.patch(
                f"/users/{_user_id(admin, 'advanced@example.com')}", json={"role": "viewer"}
            ).status_code
            == 200
        )
        refused = advanced.post("/connections", json=body)
        assert refused.status_code == 403, refused.text


def test_taking_a_permission_set_away_or_deleting_it_takes_effect_on_the_next_request(
    hub: HubService,
) -> None:
    with running_api(hub) as api:
        admin, runner = api.client("admin"), api.client("runner")
        runner_id = _user_id(admin, "runner@example.com")

        def may_run() -> bool:
            # Cancelling a run needs jobs:run (the "run jobs" set): checked before the run is looked up.
            status = runner.post(f"/runs/{NO_SUCH_RUN}/cancel").status_code
            assert status in (403, 404), status
            return status == 404

        assert may_run()  # and remembered
        assert admin.delete(f"/users/{runner_id}/permission-sets/run jobs").status_code == 200
        assert not may_run()
        granted = admin.post(f"/users/{runner_id}/permission-sets", json={"permission_set": "run jobs"})
        assert granted.status_code in (200, 201), granted.text
        assert may_run()
        assert admin.delete("/permission-sets/run jobs").status_code == 204
        assert not may_run()


def test_a_change_made_elsewhere_is_seen_within_two_seconds(hub: HubService) -> None:
    clock = ManualClock()
    with running_api(hub, clock=clock) as api:
        viewer = api.client("viewer")
        assert viewer.get("/jobs").status_code == 200
        # Another process (or the CLI) revokes every token of the viewer, behind this server's back.
        with hub.db.begin() as session:
            viewer_id = session.query(User.id).filter(User.email == "viewer@example.com").scalar()
            session.execute(
                update(ApiToken).where(ApiToken.user_id == viewer_id).values(revoked_at=clock.now)
            )
        clock.advance(timedelta(seconds=1))
        assert viewer.get("/jobs").status_code == 200  # still remembered for up to two seconds
        clock.advance(timedelta(seconds=1))
        assert viewer.get("/jobs").status_code == 401  # and then refused


def test_a_remembered_token_is_not_used_past_its_expiry(hub: HubService) -> None:
    clock = ManualClock()
    with running_api(hub, clock=clock) as api:
        issued = api.client("admin").post("/tokens", json={"name": "short", "expires_in_days": 1})
        assert issued.status_code == 201, issued.text
        short = api.client(None, headers={"Authorization": f"Bearer {issued.json()['token']}"})
        clock.advance(timedelta(days=1) - timedelta(seconds=1))
        assert short.get("/jobs").status_code == 200  # checked one second before it expires
        clock.advance(timedelta(seconds=1))  # expired, though checked less than two seconds ago
        assert short.get("/jobs").status_code == 401
