"""``crmhub users`` and ``crmhub tokens``: bootstrap the first admin, manage users, issue API tokens."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from crmhub.cli._common import console, err_console, fail, open_hub, user_errors
from crmhub.services.tokens import TokenService
from crmhub.services.users import UserService

users_app = typer.Typer(help="Users and their roles (admin, advanced, viewer).", no_args_is_help=True)
tokens_app = typer.Typer(help="Personal API tokens (shown once, stored hashed).", no_args_is_help=True)


def _read_password(from_stdin: bool, *, required: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise fail("no password on standard input", code=2)
        return line
    if not required:
        return None
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("create")
@user_errors
def create(
    email: str = typer.Argument(..., help="The user's e-mail (their login)."),
    admin: bool = typer.Option(False, "--admin", help="Make the user a global admin."),
    role: str | None = typer.Option(None, "--role", help="admin, advanced or viewer (default viewer)."),
    name: str = typer.Option("", "--name", help="A display name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of standard input."
    ),
    no_password: bool = typer.Option(
        False, "--no-password", help="No password: the user works with API tokens only."
    ),
) -> None:
    """Create a user; `crmhub users create you@example.com --admin` bootstraps the first admin."""
    if admin and role not in (None, "admin"):
        raise fail("--admin and --role disagree", code=2)
    password = None if no_password else _read_password(password_stdin, required=True)
    hub = open_hub()
    try:
        view = UserService(hub).create(
            email, password=password, role="admin" if admin else role or "viewer", name=name, actor="cli"
        )
    finally:
        hub.close()
    console.print(f"created user {view.email} ({view.role})")


@users_app.command("list")
@user_errors
def list_users() -> None:
    """List users with their roles and permission sets."""
    hub = open_hub()
    try:
        views = UserService(hub).list()
    finally:
        hub.close()
    table = Table("id", "email", "name", "role", "active", "permission sets", "last login")
    for v in views:
        table.add_row(
            str(v.id),
            v.email,
            v.name,
            v.role,
            "yes" if v.active else "no",
            ", ".join(v.permission_sets),
            f"{v.last_login_at:%Y-%m-%d %H:%M}" if v.last_login_at else "never",
        )
    console.print(table)


@users_app.command("update")
@user_errors
def update(
    email: str = typer.Argument(...),
    role: str | None = typer.Option(None, "--role", help="admin, advanced or viewer."),
    active: bool | None = typer.Option(None, "--active/--inactive", help="Allow or block logging in."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Set a new password from standard input."
    ),
) -> None:
    """Change a user's role, active flag or password."""
    password = _read_password(password_stdin, required=False)
    hub = open_hub()
    try:
        view = UserService(hub).update(email, role=role, active=active, password=password, actor="cli")
    finally:
        hub.close()
    console.print(f"updated {view.email}: {view.role}, {'active' if view.active else 'inactive'}")


@tokens_app.command("create")
@user_errors
def create_token(
    user: str = typer.Option(..., "--user", "-u", help="The owner's e-mail."),
    name: str = typer.Option(..., "--name", "-n", help="What the token is for."),
    expires_in_days: int | None = typer.Option(None, "--expires-in-days", min=1),
) -> None:
    """Create a personal API token and print it once (crmhub keeps only its hash)."""
    from datetime import timedelta

    hub = open_hub()
    try:
        issued = TokenService(hub).create_personal(
            user,
            name,
            expires_in=timedelta(days=expires_in_days) if expires_in_days else None,
            actor="cli",
        )
    finally:
        hub.close()
    err_console.print(f"token {issued.token.id} for {user} ({name}) — copy it now, it is not shown again:")
    typer.echo(issued.text)


@tokens_app.command("list")
@user_errors
def list_tokens(user: str | None = typer.Option(None, "--user", "-u")) -> None:
    """List personal tokens (never their values)."""
    hub = open_hub()
    try:
        tokens = TokenService(hub).list_personal(user)
    finally:
        hub.close()
    table = Table("id", "user id", "name", "prefix", "created", "last used", "state")
    for t in tokens:
        state = "revoked" if t.revoked_at else "active"
        table.add_row(
            str(t.id),
            str(t.user_id),
            t.name,
            t.prefix,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            state,
        )
    console.print(table)


@tokens_app.command("revoke")
@user_errors
def revoke_token(token_id: int = typer.Argument(...)) -> None:
    """Revoke a personal token."""
    hub = open_hub()
    try:
        TokenService(hub).revoke(token_id, kind="personal", actor="cli")
    finally:
        hub.close()
    console.print(f"revoked token {token_id}")
