"""Help and usage messages, built from the router's registry in the user's language."""

from __future__ import annotations

from bot.i18n import Translator
from bot.messages import Actions, Button, Context, Divider, Header, Message, Section
from bot.router import CommandGroup, Router, UsageError

HELP_ACTION = "copilot:help"


def group_help(group: CommandGroup, topic: str, tr: Translator) -> Message:
    """`/cmd help` (all subcommands) or `/cmd help sub` (one, with its options)."""
    t = tr.t
    if topic and topic in group.subs:
        sub = group.subs[topic]
        lines = [f"`/{group.name} {sub.usage}`", t(sub.help)]
        for opt in sub.options:
            choices = " | ".join(opt.choices) if opt.choices else ""
            detail = t(opt.help) if opt.help else ""
            lines.append(f"• `--{opt.name}` {choices} {detail}".rstrip())
        return Message(
            text=f"/{group.name} {sub.name}",
            blocks=[Header(text=f"/{group.name} {sub.name}"), Section(text="\n".join(lines))],
        )
    rows = [f"`/{group.name} {s.usage}` — {t(s.help)}" for s in group.subs.values()]
    blocks = [
        Header(text=f"/{group.name}"),
        Section(text=t(group.help)),
        Section(text="\n".join(rows)),
        Context(text=t("Details: /{cmd} help <subcommand>", cmd=group.name)),
    ]
    if topic and topic not in group.subs:
        blocks.insert(1, Section(text=t("No help topic “{topic}”.", topic=topic[:40])))
    return Message(text=t("Help for /{cmd}", cmd=group.name), blocks=blocks)


def overview(router: Router, tr: Translator) -> Message:
    """Every command with its subcommands: the answer to `/copilot help`."""
    t = tr.t
    blocks: list = [Header(text=t("Console Copilot commands"))]
    for name in sorted(router.commands):
        group = router.commands[name]
        subs = ", ".join(group.subs)
        blocks.append(Section(text=f"**/{name}** — {t(group.help)}\n`{subs}`"))
    buttons = [
        Button(label=f"/{name} help", action_id=HELP_ACTION, value=name)
        for name in sorted(router.commands)
    ]
    blocks.append(Actions(buttons=buttons[:25]))
    blocks.append(Divider())
    blocks.append(
        Context(
            text=t(
                "Mention @copilot with a question. Every command answers “help”, "
                "e.g. /incident help."
            )
        )
    )
    return Message(text=t("Console Copilot commands"), blocks=blocks)


def usage_error(err: UsageError, command: str | None, tr: Translator) -> Message:
    text = "⚠️ " + err.message
    if err.usage and command:
        usage = f"`/{command} {err.usage}`"
        text += "\n" + tr.t("Usage: {usage}", usage=usage)
    elif command:
        text += "\n" + tr.t("See /{cmd} help", cmd=command)
    return Message(text=err.message, blocks=[Section(text=text)])
