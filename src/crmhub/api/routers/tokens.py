"""The caller's own personal API tokens: create (shown once), list, revoke."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from crmhub.api.deps import Ctx, TokenId, allow
from crmhub.api.pagination import Cursor, Limit, Page, slice_sorted
from crmhub.api.schemas import TokenCreate, TokenCreated, TokenPublic
from crmhub.services.tokens import IssuedToken
from crmhub.services.users import Permission, Principal
from crmhub.store.models import ApiToken

router = APIRouter(tags=["tokens"])


def token_public(token: ApiToken) -> TokenPublic:
    return TokenPublic.model_validate(token, from_attributes=True)


def token_created(issued: IssuedToken) -> TokenCreated:
    return TokenCreated(**token_public(issued.token).model_dump(), token=issued.text)


@router.get("/tokens", summary="My personal tokens (never their values)")
def list_tokens(
    request: Request, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, principal: Principal = allow(None)
) -> Page[TokenPublic]:
    rows = ctx.tokens.list_personal(principal.user_id)
    items, nxt = slice_sorted(request, rows, limit, cursor, lambda t: t.id, int)
    return Page(items=[token_public(t) for t in items], next=nxt)


@router.post(
    "/tokens",
    status_code=201,
    summary="Create a personal token",
    description="The token is in the response this once; crmhub keeps only its hash.",
)
def create_token(
    body: TokenCreate, ctx: Ctx, principal: Principal = allow(Permission.TOKENS_CREATE)
) -> TokenCreated:
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = ctx.tokens.create_personal(
        principal.user_id, body.name, expires_in=expires, actor=principal.actor
    )
    return token_created(issued)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of my tokens")
def revoke_token(token_id: TokenId, ctx: Ctx, principal: Principal = allow(None)) -> Response:
    """Anyone signed in may revoke their own tokens (giving up access needs no permission)."""
    owner = None if principal.has(Permission.USERS_MANAGE.value) else principal.user_id
    ctx.tokens.revoke(token_id, kind="personal", user_id=owner, actor=principal.actor)
    return Response(status_code=204)
