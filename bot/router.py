"""Command, action and message registry; argument parsing; help and usage errors.

Handlers are plain synchronous functions (they run in a worker thread):
`(ctx: Context, args: Args) -> Message | None` for commands,
`(ctx: Context, value: str) -> Message | None` for buttons,
`(ctx: Context) -> Message | None` for mentions and thread messages.
"""

from __future__ import annotations

import difflib
import logging
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.context import Context
    from bot.events import Event
    from bot.forms import FormCheck
    from bot.messages import Message

CommandHandler = Callable[["Context", "Args"], "Message | None"]
ActionHandler = Callable[["Context", str], "Message | None"]
MessageHandler = Callable[["Context"], "Message | None"]
ThreadMatcher = Callable[["Context"], bool]

log = logging.getLogger(__name__)
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})
_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_APOS_MARK = "\ue000"
_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$", re.S)
MAX_COMMAND_TEXT = 4000


class UsageError(Exception):
    """A user error: the message is shown to the user (already translated), with usage."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


@dataclass(frozen=True)
class Opt:
    """A `--name value` option (or a boolean `--name` flag)."""

    name: str
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    flag: bool = False
    help: str = ""
    metavar: str = ""


@dataclass
class Args:
    positional: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    opts: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @property
    def rest(self) -> str:
        """The positional words joined back into one string (a title, a note, a question)."""
        return " ".join(self.positional)

    def opt(self, name: str, default: Any = None) -> Any:
        return self.opts.get(name, default)


@dataclass
class Subcommand:
    name: str
    handler: CommandHandler
    help: str
    usage: str = ""
    options: tuple[Opt, ...] = ()
    min_args: int = 0
    max_args: int | None = None
    params: bool = False  # accepts key=value parameters


@dataclass
class CommandGroup:
    name: str
    help: str
    subs: dict[str, Subcommand] = field(default_factory=dict)

    def sub(
        self,
        name: str,
        handler: CommandHandler,
        *,
        help: str,
        usage: str = "",
        options: list[Opt] | tuple[Opt, ...] = (),
        min_args: int = 0,
        max_args: int | None = None,
        params: bool = False,
    ) -> CommandGroup:
        self.subs[name] = Subcommand(
            name, handler, help, usage or name, tuple(options), min_args, max_args, params
        )
        return self


@dataclass
class Route:
    """What the router decided for a command text: a subcommand and its parsed arguments."""

    group: CommandGroup
    sub: Subcommand | None
    args: Args
    help_topic: str | None = None


class Router:
    """The registry every domain module adds itself to with `register(router)`."""

    def __init__(self) -> None:
        self.commands: dict[str, CommandGroup] = {}
        self.actions: dict[str, ActionHandler] = {}
        self.mention_handler: MessageHandler | None = None
        self.thread_handlers: list[tuple[ThreadMatcher, MessageHandler]] = []
        self.submissions: dict[str, ActionHandler] = {}
        self.form_checks: dict[str, FormCheck] = {}
        self.webhooks: dict[str, ActionHandler] = {}

    def command(self, name: str, *, help: str) -> CommandGroup:
        name = name.lstrip("/")
        group = self.commands.get(name)
        if group is None:
            group = self.commands[name] = CommandGroup(name, help)
        return group

    def action(self, action_id: str, handler: ActionHandler) -> None:
        """Register a button handler by exact action id (e.g. `runbook:approve`)."""
        self.actions[action_id] = handler

    def submission(self, form_id: str, handler: ActionHandler) -> None:
        self.submissions[form_id] = handler

    def form(self, form_id: str, handler: ActionHandler, check: FormCheck | None = None) -> None:
        """Handle submissions of the form `form_id` (value: the form's value; the fields are in
        `ctx.event.form`). `check` runs before the submission is accepted (field errors)."""
        self.submissions[form_id] = handler
        if check is not None:
            self.form_checks[form_id] = check

    def check_form(self, event: Event) -> dict[str, str]:
        """Field errors of a submission (empty: accept it). Runs in the platform's HTTP
        request, in the language the form was shown in; it must be quick and pure."""
        from bot.i18n import normalize_locale, translator

        check = self.form_checks.get(event.action_id or "")
        if check is None:
            return {}
        tr = translator(normalize_locale(event.actor.locale) or "en")
        try:
            return check(event.form, event.action_value or "", tr.t)
        except Exception:  # a broken check must not lose the submission: the handler checks too
            log.exception("form check failed", extra={"form": event.action_id})
            return {}

    def webhook(self, name: str, handler: ActionHandler) -> None:
        """Handle WEBHOOK events named `name` (value: the request body, already validated)."""
        self.webhooks[name] = handler

    def mention(self, handler: MessageHandler) -> None:
        self.mention_handler = handler

    def thread_message(self, matcher: ThreadMatcher, handler: MessageHandler) -> None:
        """Handle plain messages in threads the matcher claims (e.g. an intake thread)."""
        self.thread_handlers.append((matcher, handler))

    # -- parsing -------------------------------------------------------------------------
    def route(self, command: str, text: str, t: Callable[..., str]) -> Route:
        """Parse `/command text` into a Route, or raise UsageError with a specific message."""
        name = command.lstrip("/").strip().lower()
        group = self.commands.get(name)
        if group is None:
            known = ", ".join("/" + c for c in sorted(self.commands))
            raise UsageError(
                t("Unknown command /{name}. Commands: {known}", name=name, known=known)
            )
        if len(text) > MAX_COMMAND_TEXT:
            raise UsageError(t("The command is too long ({n} characters).", n=len(text)))
        words = tokenize(text, t)
        first = words[0].lower() if words else ""
        if not words or (first in ("help", "--help", "-h") and first not in group.subs):
            topic = words[1].lower() if len(words) > 1 else None
            return Route(group, None, Args(text=text), help_topic=topic or "")
        sub = group.subs.get(words[0].lower())
        if sub is None:
            raise UsageError(_unknown_sub(group, words[0], t), usage=None)
        rest = words[1:]
        if any(w in ("--help", "-h") for w in rest) or (rest == ["help"] and sub.max_args == 0):
            return Route(group, None, Args(text=text), help_topic=sub.name)
        args = parse_args(sub, rest, t)
        args.text = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
        return Route(group, sub, args)


def tokenize(text: str, t: Callable[..., str]) -> list[str]:
    """Split like a shell: quotes group words; smart quotes count; errors are usage errors."""
    text = text.translate(_QUOTES).replace("\u00a0", " ")
    # An apostrophe inside a word ("what's", "Checkout's") is a letter, not a quote.
    text = _APOSTROPHE.sub(_APOS_MARK, text)
    try:
        lexer = shlex.shlex(text, posix=True)
        lexer.whitespace_split = True
        lexer.escapedquotes = '"'
        lexer.commenters = ""
        return [word.replace(_APOS_MARK, "'") for word in lexer]
    except ValueError:
        raise UsageError(t("A quote is not closed: check the \" and ' in your command.")) from None


def parse_args(sub: Subcommand, words: list[str], t: Callable[..., str]) -> Args:
    """Apply a subcommand's option spec to its words."""
    opts = {o.name: o for o in sub.options}
    args = Args()
    i = 0
    only_positional = False
    while i < len(words):
        word = words[i]
        i += 1
        if only_positional:
            args.positional.append(word)
            continue
        if word == "--":
            only_positional = True
            continue
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            name = name.replace("_", "-")
            opt = opts.get(name)
            if opt is None:
                raise UsageError(_unknown_opt(sub, name, t), usage=sub.usage)
            if opt.flag:
                if eq:
                    raise UsageError(t("--{name} takes no value.", name=name), usage=sub.usage)
                args.opts[opt.name] = True
                continue
            if not eq:
                if i >= len(words):
                    raise UsageError(t("--{name} needs a value.", name=name), usage=sub.usage)
                value = words[i]
                i += 1
            args.opts[opt.name] = _convert(opt, value, sub, t)
            continue
        match = _PARAM.match(word)
        if sub.params and match:
            key, value = match.group(1), match.group(2)
            if key in args.params:
                raise UsageError(t("{key}= is given twice.", key=key), usage=sub.usage)
            args.params[key] = value
            continue
        args.positional.append(word)
    if len(args.positional) < sub.min_args:
        raise UsageError(t("Missing arguments."), usage=sub.usage)
    if sub.max_args is not None and len(args.positional) > sub.max_args:
        extra = " ".join(args.positional[sub.max_args :])
        raise UsageError(t("Unexpected argument: {extra}", extra=extra), usage=sub.usage)
    return args


def _convert(opt: Opt, value: str, sub: Subcommand, t: Callable[..., str]) -> Any:
    if opt.choices is not None and value.lower() not in opt.choices:
        raise UsageError(
            t(
                "--{name} must be one of: {choices}.",
                name=opt.name,
                choices=", ".join(opt.choices),
            ),
            usage=sub.usage,
        )
    try:
        return opt.type(value.lower() if opt.choices else value)
    except (TypeError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, UsageError) else ""
        raise UsageError(
            t("--{name}: {value} is not valid.", name=opt.name, value=value[:80]) + detail,
            usage=sub.usage,
        ) from None


def _unknown_sub(group: CommandGroup, word: str, t: Callable[..., str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(group.subs), n=1)
    subs = ", ".join(group.subs)
    if close:
        return t(
            "Unknown subcommand “{word}” for /{cmd}. Did you mean “{close}”? Try: {subs}",
            word=word[:40],
            cmd=group.name,
            close=close[0],
            subs=subs,
        )
    return t(
        "Unknown subcommand “{word}” for /{cmd}. Try: {subs}",
        word=word[:40],
        cmd=group.name,
        subs=subs,
    )


def _unknown_opt(sub: Subcommand, name: str, t: Callable[..., str]) -> str:
    known = ", ".join("--" + o.name for o in sub.options) or t("none")
    return t("Unknown option --{name}. Options: {known}", name=name[:40], known=known)
