"""Who is asking, in a public lab: the page's side of ``training/public.py``.

A caller can show up to four things, strongest first:

1. the Hugging Face account they signed in with (``gr.OAuthProfile``; only
   when the Space enables OAuth, ``hf_oauth: true``, and gradio's ``oauth``
   extra is installed: then the page has a sign-in button);
2. the user name of the app's own password login (``request.username``;
   ``launch(auth=...)``, not used by ``app.py``);
3. an owner token: a random key the page keeps in the browser's local
   storage (``gr.BrowserState``), so a reload keeps a visitor's runs theirs;
   an API client may pass its own as ``owner_token`` (16-128 letters, digits,
   ``-``, ``_``) to keep its runs across sessions;
4. the Gradio session (``request.session_hash``): one page load, or one
   ``gradio_client.Client``.

A run records the first; the caller owns it if it shows any of them later.
The event functions here take ``gr.Request`` and ``gr.OAuthProfile`` (which
gradio injects and leaves out of the API) and the owner token (an optional
API parameter), and hand plain values to ``public_handlers``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import secrets

import gradio as gr

from lab.ui import public_handlers as ph
from lab.ui import train_handlers as th
from lab.ui.context import policy, proxies
from training.public import TOKEN_RE, client_address


def oauth_enabled() -> bool:
    """Sign-in with Hugging Face: the Space set ``OAUTH_CLIENT_ID`` and gradio's oauth extra is installed."""
    return bool(os.environ.get("OAUTH_CLIENT_ID")) and all(
        importlib.util.find_spec(m) is not None for m in ("authlib", "itsdangerous"))


def owner_token() -> gr.BrowserState:
    """The browser-kept owner token (empty until the page's load event fills it in)."""
    secret = hashlib.sha256(policy().derived_secret("browser-state")).hexdigest()
    return gr.BrowserState(None, storage_key="hicra-lab-owner", secret=secret)


def ensure_token(token):
    """On page load: keep the browser's token, or give it a new random one."""
    return token if isinstance(token, str) and TOKEN_RE.match(token) else secrets.token_urlsafe(24)


def who(owner_token, request: gr.Request | None, profile: gr.OAuthProfile | None) -> dict:
    return {"hf_user": profile.username if profile is not None else None,
            "login": getattr(request, "username", None) if request is not None else None,
            "token": owner_token or None,
            "session": getattr(request, "session_hash", None) if request is not None else None,
            "address": address(request)}


def address(request: gr.Request | None) -> str | None:
    """The caller's network address (``training.public.client_address``): the per-network share is keyed
    by it, so a script that opens a new session per launch is still one caller."""
    if request is None:
        return None
    client = getattr(request, "client", None)
    peer = getattr(client, "host", None) if client is not None else None
    try:
        forwarded = request.headers.get("x-forwarded-for")
    except Exception:  # noqa: BLE001 - a Request built without headers (tests)
        forwarded = None
    return client_address(peer, forwarded, proxies())


# Event functions: gradio injects ``request`` and ``profile`` (typed) and shows ``owner_token`` in the API
# as an optional parameter.

def launch(name, preset, algo, alpha, steps, seeds, lora_r, sg_set, model, owner_token=None,
           request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    message, new = ph.launch(who(owner_token, request, profile), name, preset, algo, alpha, steps, seeds,
                             lora_r, sg_set, model)
    return message, gr.update(choices=th.run_names(), value=new or None)


def stop(name, owner_token=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    return ph.stop(name, who(owner_token, request, profile))


def resume(name, owner_token=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    return ph.resume(name, who(owner_token, request, profile))


def delete(name, owner_token=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    return ph.delete(name, who(owner_token, request, profile))


def download_adapter(name, owner_token=None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None):
    return ph.download_adapter(name, who(owner_token, request, profile))


def refresh(name, window=10, log_scale=False, owner_token=None, request: gr.Request = None,
            profile: gr.OAuthProfile | None = None):
    return ph.refresh(name, who(owner_token, request, profile), window, log_scale)


def with_owner(status, name, owner_token=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    return ph.with_owner(status, name, who(owner_token, request, profile))


def use_sg_set(sg_file, owner_token=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    return ph.use_sg_set(sg_file, who(owner_token, request, profile))


def sg_choices(owner_token=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    return gr.update(choices=ph.sg_choices(who(owner_token, request, profile)))


def notice(owner_token=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
    return ph.notice(who(owner_token, request, profile))
