"""Azure Key Vault emulator: the secrets REST API the gateway reads the organisation's S/MIME certificates
with (``azure-keyvault-secrets``), over HTTPS on loopback. Imports nothing of the gateway.

    state = VaultState(token="kv-token")
    state.set_secret("org-smime", base64_pfx, content_type="application/x-pkcs12")
    with serve(state, certfile=..., keyfile=...) as vault:   # vault.url: https://127.0.0.1:PORT
        ...
"""

from graph_dpg.sandbox.keyvault.app import create_app
from graph_dpg.sandbox.keyvault.server import RunningVault, serve
from graph_dpg.sandbox.keyvault.state import SecretVersion, VaultState

__all__ = ["RunningVault", "SecretVersion", "VaultState", "create_app", "serve"]
