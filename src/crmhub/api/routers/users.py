"""Users, their roles and permission sets, the tokens an admin issues for them, and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from crmhub.api import queries
from crmhub.api.deps import Ctx, Ref, UserId, allow
from crmhub.api.pagination import Cursor, Limit, Page, decode_cursor, page_of, slice_sorted
from crmhub.api.routers.auth import user_public
from crmhub.api.routers.tokens import token_created, token_public
from crmhub.api.schemas import (
    AuditEventPublic,
    GrantCreate,
    PermissionSetCreate,
    PermissionSetPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from crmhub.services.users import Permission, Principal

router = APIRouter(tags=["users"])
MANAGE = Permission.USERS_MANAGE
SetRef = Annotated[Ref, Path(max_length=127, description="The permission set's name or id.")]


@router.get("/users", summary="List users")
def list_users(
    request: Request, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, _: Principal = allow(MANAGE)
) -> Page[UserPublic]:
    items, nxt = slice_sorted(request, ctx.users.list(), limit, cursor, key=lambda u: u.email)
    return Page(items=[user_public(u) for u in items], next=nxt)


@router.post("/users", status_code=201, summary="Create a user")
def create_user(body: UserCreate, ctx: Ctx, principal: Principal = allow(MANAGE)) -> UserPublic:
    view = ctx.users.create(
        body.email, password=body.password, role=body.role, name=body.name, actor=principal.actor
    )
    return user_public(view)


@router.get("/users/{user_id}", summary="Get a user")
def get_user(user_id: UserId, ctx: Ctx, _: Principal = allow(MANAGE)) -> UserPublic:
    return user_public(ctx.users.get(user_id))


@router.patch("/users/{user_id}", summary="Change a user's name, role, password or active flag")
def update_user(
    user_id: UserId, body: UserUpdate, ctx: Ctx, principal: Principal = allow(MANAGE)
) -> UserPublic:
    view = ctx.users.update(
        user_id,
        name=body.name,
        role=body.role,
        active=body.active,
        password=body.password,
        actor=principal.actor,
    )
    return user_public(view)


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user (their tokens go with them)")
def delete_user(user_id: UserId, ctx: Ctx, principal: Principal = allow(MANAGE)) -> Response:
    ctx.users.delete(user_id, actor=principal.actor)
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/permission-sets", summary="Grant a permission set to a user", response_model=UserPublic
)
def grant(user_id: UserId, body: GrantCreate, ctx: Ctx, principal: Principal = allow(MANAGE)) -> UserPublic:
    return user_public(ctx.users.grant(user_id, body.permission_set, actor=principal.actor))


@router.delete("/users/{user_id}/permission-sets/{permission_set}", summary="Take a permission set away")
def revoke(
    user_id: UserId, permission_set: SetRef, ctx: Ctx, principal: Principal = allow(MANAGE)
) -> UserPublic:
    return user_public(ctx.users.revoke(user_id, permission_set, actor=principal.actor))


@router.get("/users/{user_id}/tokens", summary="A user's personal tokens (never their values)")
def user_tokens(
    user_id: UserId,
    request: Request,
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    _: Principal = allow(MANAGE),
) -> Page[TokenPublic]:
    items, nxt = slice_sorted(request, ctx.tokens.list_personal(user_id), limit, cursor, lambda t: t.id, int)
    return Page(items=[token_public(t) for t in items], next=nxt)


@router.post("/users/{user_id}/tokens", status_code=201, summary="Issue a personal token for a user")
def issue_user_token(
    user_id: UserId, body: TokenCreate, ctx: Ctx, principal: Principal = allow(MANAGE)
) -> TokenCreated:
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = ctx.tokens.create_personal(user_id, body.name, expires_in=expires, actor=principal.actor)
    return token_created(issued)


@router.get("/permission-sets", summary="List permission sets")
def list_permission_sets(
    request: Request, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, _: Principal = allow(MANAGE)
) -> Page[PermissionSetPublic]:
    items, nxt = slice_sorted(request, ctx.users.permission_sets(), limit, cursor, key=lambda s: s.name)
    return Page(
        items=[PermissionSetPublic(id=s.id, name=s.name, permissions=s.permissions) for s in items], next=nxt
    )


@router.post("/permission-sets", status_code=201, summary="Create a named set of single permissions")
def create_permission_set(
    body: PermissionSetCreate, ctx: Ctx, principal: Principal = allow(MANAGE)
) -> PermissionSetPublic:
    pset = ctx.users.create_permission_set(body.name, body.permissions, actor=principal.actor)
    return PermissionSetPublic(id=pset.id, name=pset.name, permissions=pset.permissions)


@router.delete("/permission-sets/{permission_set}", status_code=204, summary="Delete a permission set")
def delete_permission_set(permission_set: SetRef, ctx: Ctx, principal: Principal = allow(MANAGE)) -> Response:
    ctx.users.delete_permission_set(permission_set, actor=principal.actor)
    return Response(status_code=204)


@router.get("/audit-events", tags=["audit"], summary="Configuration changes: who, what, when (newest first)")
def audit_events(
    request: Request,
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Cursor = None,
    _: Principal = allow(Permission.AUDIT_READ),
) -> Page[AuditEventPublic]:
    rows = queries.audit_page(ctx.hub.db, before=decode_cursor(cursor, int), limit=limit + 1)
    items, nxt = page_of(request, rows, limit, key=lambda e: e.id)
    return Page(items=[AuditEventPublic.model_validate(e, from_attributes=True) for e in items], next=nxt)
