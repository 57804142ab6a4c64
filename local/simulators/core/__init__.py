"""Provider-neutral machinery for booksync's provider simulators (see CONTRACT.md)."""

from .calls import CallLog
from .clock import Clock
from .faults import FaultRule, FaultRules
from .http import BadRequest, Headers, Request, Response, Route, Router
from .modes import Mode, ModeStore, latency_modes
from .oauth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Grant,
    OAuthError,
    OAuthServer,
    TokenSet,
    pkce_challenge,
)
from .provider import Provider
from .ratelimit import Decision, LimitCheck, RateLimiter
from .server import SimServer, serve
from .webhooks import WebhookSender

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "BadRequest",
    "CallLog",
    "Clock",
    "Decision",
    "FaultRule",
    "FaultRules",
    "Grant",
    "Headers",
    "LimitCheck",
    "Mode",
    "ModeStore",
    "OAuthError",
    "OAuthServer",
    "Provider",
    "RateLimiter",
    "Request",
    "Response",
    "Route",
    "Router",
    "SimServer",
    "TokenSet",
    "WebhookSender",
    "latency_modes",
    "pkce_challenge",
    "serve",
]
