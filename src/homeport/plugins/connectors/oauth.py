"""What every OAuth 2 authorization-code sign-in checks on the way back (OpenID Connect and
GitHub): that this home started it, that the other side did not refuse, and that a code came."""

from __future__ import annotations

from starlette.requests import Request

from homeport.plugins.kinds import SignInFailed


def callback_code(request: Request, state: str, who: str) -> str:
    """The code ``who`` (e.g. "GitHub", "The issuer") sent back; SignInFailed saying why not."""
    params = request.query_params
    if params.get("state") != state:
        raise SignInFailed("This sign-in was not started here (its state does not match)")
    if params.get("error"):
        why = params.get("error_description") or params["error"]
        raise SignInFailed(f"{who} refused: {why}")
    code = params.get("code")
    if not code:
        raise SignInFailed(f"{who} sent no code back")
    return code
