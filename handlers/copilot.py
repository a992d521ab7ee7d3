"""/copilot: help for everything, and the language preference (user or channel)."""

from __future__ import annotations

from sqlmodel import select

from bot import help as help_
from bot.context import Context
from bot.i18n import LOCALES, N_, translator
from bot.messages import Message, Section
from bot.router import Args, Opt, Router, UsageError
from handlers import copilot_ask
from storage.models.core import ChannelPref, UserPref, utcnow


def register(router: Router) -> None:
    g = router.command("copilot", help=N_("The assistant: help, language, questions"))
    g.sub("help", copilot_help, help=N_("List every command"), usage="help", max_args=1)
    g.sub(
        "lang",
        copilot_lang,
        help=N_("Set your language (or the channel's with --channel)"),
        usage="lang ru|en [--channel]",
        options=[Opt("channel", flag=True, help=N_("set the channel's default"))],
        max_args=1,
    )
    router.action(help_.HELP_ACTION, on_help_button)
    copilot_ask.register(router)


def copilot_help(ctx: Context, args: Args) -> Message | None:
    """List every command."""
    ctx.answer(help_.overview(ctx.runtime.router, ctx.i18n), ephemeral=True)
    return None


def on_help_button(ctx: Context, value: str) -> Message | None:
    """A command's help, from the buttons under /copilot help."""
    group = ctx.runtime.router.commands.get(value)
    if group is None:
        raise UsageError(ctx.t("Unknown command /{name}.", name=value[:40]))
    ctx.answer(help_.group_help(group, "", ctx.i18n), ephemeral=True)
    return None


def copilot_lang(ctx: Context, args: Args) -> Message | None:
    """Show or set the language."""
    if not args.positional:
        ctx.answer(
            Message.plain(ctx.t("Your language: {lang}. Available: ru, en.", lang=ctx.locale)),
            ephemeral=True,
        )
        return None
    lang = args.positional[0].lower()
    if lang not in LOCALES:
        raise UsageError(ctx.t("Unknown language “{lang}”. Available: ru, en.", lang=lang[:20]))
    platform, now = str(ctx.event.platform), utcnow()
    with ctx.session() as s:
        if args.opt("channel"):
            row = s.exec(
                select(ChannelPref).where(
                    ChannelPref.platform == platform, ChannelPref.channel_id == ctx.channel.id
                )
            ).first() or ChannelPref(platform=platform, channel_id=ctx.channel.id)
        else:
            row = s.exec(
                select(UserPref).where(
                    UserPref.platform == platform, UserPref.user_id == ctx.actor.id
                )
            ).first() or UserPref(platform=platform, user_id=ctx.actor.id)
        row.locale = lang
        row.updated_at = now
        s.add(row)
        t = translator(lang).t
        text = (
            t("This channel now speaks {lang} by default.", lang=lang)
            if args.opt("channel")
            else t("I will answer you in {lang}.", lang=lang)
        )
        ctx.reply(Message(text=text, blocks=[Section(text="✅ " + text)]), ephemeral=True)
    return None
