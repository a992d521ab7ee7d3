"""`/digest now [--service NAME] [--window 1h] [--sections a,b]`: the digest, on demand."""

from __future__ import annotations

from collections.abc import Mapping

from bot.context import Context
from bot.i18n import N_
from bot.messages import Message
from bot.router import Args, Opt, Router, UsageError
from handlers.digests.config import DigestConfig, load_config, parse_window
from handlers.digests.engine import build_digest
from handlers.digests.model import SectionProvider
from handlers.digests.render import render_digest

PROVIDERS_KEY = "digest_providers"  # Services.extra[...]: Mapping[str, SectionProvider]
CONFIG_KEY = "digest_config"  # Services.extra[...]: DigestConfig (default: policies/digests.yaml)


def register(router: Router) -> None:
    g = router.command("digest", help=N_("Status digests from Prometheus and Alertmanager"))
    g.sub(
        "now",
        digest_now,
        help=N_("Post the status digest in this channel"),
        usage="now [--service NAME] [--window 1h] [--sections errors,slo]",
        options=[
            Opt("service", help=N_("only this service")),
            Opt("window", help=N_("look-back window, e.g. 30m, 1h, 1d")),
            Opt("sections", help=N_("comma-separated section ids")),
        ],
        max_args=0,
    )


def _config(ctx: Context) -> DigestConfig:
    cfg = ctx.services.extra.get(CONFIG_KEY)
    return cfg if isinstance(cfg, DigestConfig) else load_config()


def digest_now(ctx: Context, args: Args) -> Message | None:
    """Post the status digest in this channel."""
    window = str(args.opt("window") or "1h")
    try:
        parse_window(window)
    except ValueError:
        raise UsageError(
            ctx.t("Window “{window}” must look like 30m, 1h, 6h or 1d.", window=window[:20])
        ) from None
    config = _config(ctx)
    sections = None
    if args.opt("sections"):
        sections = [s.strip() for s in str(args.opt("sections")).split(",") if s.strip()]
        known = {s.id for s in config.sections}
        unknown = [s for s in sections if s not in known]
        if unknown:
            raise UsageError(
                ctx.t(
                    "Unknown section “{name}”. Known: {known}.",
                    name=unknown[0][:40],
                    known=", ".join(sorted(known)),
                )
            )
    providers: Mapping[str, SectionProvider] = ctx.services.extra.get(PROVIDERS_KEY) or {}
    digest = build_digest(
        prom=ctx.services.prometheus,
        alertmanager=ctx.services.alertmanager,
        config=config,
        window=window,
        service=str(args.opt("service")) if args.opt("service") else None,
        now=ctx.now(),
        providers=providers,
        sections=sections,
    )
    ctx.answer(render_digest(digest, ctx.t))
    return None
