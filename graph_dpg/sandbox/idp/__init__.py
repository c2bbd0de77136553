"""An emulated Microsoft Entra ID (identity platform v2.0) for the sandbox console sign-in.

Only what an OpenID Connect authorisation-code flow with PKCE needs: the discovery document, the authorize
endpoint (a form to pick a demo user), the token endpoint (checks the client secret, the redirect URI and the
PKCE ``code_verifier``), the JWKS and RS256 ID tokens carrying the app's ``roles``. It serves HTTPS because
msal requires an https authority. Imports nothing of the gateway (a witness, not a mirror).
"""

from graph_dpg.sandbox.idp.app import DEMO_USERS, IdpState, create_app
from graph_dpg.sandbox.idp.server import RunningIdp, serve

__all__ = ["DEMO_USERS", "IdpState", "RunningIdp", "create_app", "serve"]
