"""Admin: users and roles, permission sets, personal tokens, the audit log; notification rules per job.

Each page asks for the permission the matching API route asks for (``users:manage``,
``tokens:create``, ``audit:read``, ``jobs:write``) and calls the same services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError as PydanticValidationError

from crmhub.api import queries, views
from crmhub.api.pagination import decode_cursor, encode_cursor
from crmhub.core.errors import ValidationError
from crmhub.services.users import ROLE_PERMISSIONS, Permission
from crmhub.sync.spec import JobSpec, NotificationRule
from crmhub.web._core import Viewer, WebRoute, ctx_of, form_lists, form_of, redirect, render, viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(form_of)]
Lists = Annotated[dict[str, list[str]], Depends(form_lists)]
MANAGE = Permission.USERS_MANAGE.value
PAGE = 50
ROLES = [r.value for r in ROLE_PERMISSIONS]


def _int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(f"{what} {text[:20]!r} is not a number") from None
    if not 1 <= value < 2**31:
        raise ValidationError(f"{what} {value} is out of range")
    return value


# Users and permission sets -----------------------------------------------------------------------


@router.get("/admin/users")
def users_page(request: Request, me: Signed) -> Response:
    me.require(MANAGE)
    ctx = ctx_of(request)
    return render(
        request,
        "users.html",
        me,
        users=ctx.users.list()[:1000],
        sets=ctx.users.permission_sets(),
        roles=ROLES,
        permissions=[p.value for p in Permission],
    )


@router.post("/admin/users")
def create_user(request: Request, me: Signed, form: Form) -> Response:
    me.require(MANAGE)
    view = ctx_of(request).users.create(
        form.get("email", "").strip(),
        password=form.get("password") or None,
        role=form.get("role", "viewer"),
        name=form.get("name", "").strip(),
        actor=me.principal.actor,
    )
    return redirect("/admin/users", notice=f"User {view.email} added.")


@router.post("/admin/users/{user_id}")
def update_user(request: Request, user_id: str, me: Signed, form: Form) -> Response:
    me.require(MANAGE)
    ctx = ctx_of(request)
    uid = _int(user_id, "user id")
    view = ctx.users.update(
        uid, role=form.get("role") or None, active=form.get("active") == "on", actor=me.principal.actor
    )
    if form.get("grant"):
        ctx.users.grant(uid, form["grant"], actor=me.principal.actor)
    if form.get("revoke"):
        ctx.users.revoke(uid, form["revoke"], actor=me.principal.actor)
    return redirect("/admin/users", notice=f"User {view.email} saved.")


@router.post("/admin/permission-sets")
def create_set(request: Request, me: Signed, form: Lists) -> Response:
    me.require(MANAGE)
    name = (form.get("name") or [""])[-1]
    pset = ctx_of(request).users.create_permission_set(
        name, form.get("permissions", []), actor=me.principal.actor
    )
    return redirect("/admin/users", notice=f"Permission set {pset.name} added.")


@router.post("/admin/permission-sets/{name}/delete")
def delete_set(request: Request, name: str, me: Signed) -> Response:
    me.require(MANAGE)
    ctx_of(request).users.delete_permission_set(name, actor=me.principal.actor)
    return redirect("/admin/users", notice=f"Permission set {name} deleted.")


# Personal tokens ----------------------------------------------------------------------------------


@router.get("/admin/tokens")
def tokens_page(request: Request, me: Signed) -> Response:
    tokens = ctx_of(request).tokens.list_personal(me.principal.user_id)
    return render(request, "tokens.html", me, tokens=tokens, created=None)


@router.post("/admin/tokens")
def create_token(request: Request, me: Signed, form: Form) -> Response:
    me.require(Permission.TOKENS_CREATE.value)
    ctx = ctx_of(request)
    days = form.get("expires_in_days", "").strip()
    issued = ctx.tokens.create_personal(
        me.principal.user_id,
        form.get("name", "").strip() or "console",
        expires_in=timedelta(days=_int(days, "expiry in days")) if days else None,
        actor=me.principal.actor,
    )
    tokens = ctx.tokens.list_personal(me.principal.user_id)
    return render(request, "tokens.html", me, tokens=tokens, created=issued.text)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, me: Signed) -> Response:
    # Anyone may give up their own tokens; an admin may revoke anyone's (as in the API).
    owner = None if me.can(MANAGE) else me.principal.user_id
    ctx_of(request).tokens.revoke(
        _int(token_id, "token id"), kind="personal", user_id=owner, actor=me.principal.actor
    )
    return redirect("/admin/tokens", notice="Token revoked.")


# Audit log ----------------------------------------------------------------------------------------


@router.get("/admin/audit")
def audit_page(request: Request, me: Signed, cursor: str | None = None) -> Response:
    me.require(Permission.AUDIT_READ.value)
    rows = queries.audit_page(ctx_of(request).hub.db, before=decode_cursor(cursor, int), limit=PAGE + 1)
    nxt = encode_cursor(rows[PAGE - 1].id) if len(rows) > PAGE else None
    return render(request, "audit.html", me, events=rows[:PAGE], next_cursor=nxt)


# Notification rules per job ---------------------------------------------------------------------


@router.get("/jobs/{job}/notifications")
def notifications_page(request: Request, job: str, me: Signed) -> Response:
    me.require(Permission.JOBS_READ.value)
    row, spec = ctx_of(request).jobs.get(job)
    return render(request, "notifications.html", me, job=row, rules=views.masked(spec).notifications)


@router.post("/jobs/{job}/notifications")
def save_notifications(request: Request, job: str, me: Signed, form: Form) -> Response:
    me.require(Permission.JOBS_WRITE.value)
    ctx = ctx_of(request)
    row, stored = ctx.jobs.get(job)
    rules = list(stored.notifications)
    if form.get("remove"):
        index = _int(form["remove"], "rule number") - 1
        if not 0 <= index < len(rules):
            raise ValidationError(f"job {row.name!r} has no notification rule {index + 1}")
        rules.pop(index)
    else:
        rules.append(_rule(form))
    spec = views.unmasked(JobSpec.model_validate({**stored.model_dump(), "notifications": rules}), stored)
    ctx.jobs.update(row.name, spec, actor=me.principal.actor)
    return redirect(f"/jobs/{row.name}/notifications", notice="Notification rules saved.")


def _rule(form: dict[str, str]) -> NotificationRule:
    channel: dict[str, Any]
    if form.get("channel") == "email":
        channel = {"kind": "email", "to": [a.strip() for a in form.get("to", "").split(",") if a.strip()]}
    else:
        channel = {
            "kind": "webhook",
            "url": form.get("url", "").strip(),
            "secret": form.get("secret") or None,
        }
    data: dict[str, Any] = {"when": form.get("when", "failure"), "channel": channel}
    if form.get("when") == "errors_above":
        data["threshold"] = form.get("threshold") or 0
    try:
        return NotificationRule.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(
            "the notification rule is not valid: "
            + "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:4]),
            hint="correct the rule and add it again",
        ) from None
