"""`console-copilot mattermost-setup`: register the slash commands on a team."""

from __future__ import annotations

import argparse
import sys


def setup(ns: argparse.Namespace) -> int:
    """Create (or keep) one slash command per router command; print their tokens."""
    from bot.cli import _settings
    from bot.i18n import Translator
    from bot.platforms.mattermost import MattermostApi, driver_options
    from bot.router import Router
    from handlers import register_all

    s = _settings()
    if not s.mattermost_enabled:
        print("error: MATTERMOST_URL and MATTERMOST_TOKEN are required", file=sys.stderr)
        return 2
    if not s.copilot_public_url:
        print(
            "error: COPILOT_PUBLIC_URL (how Mattermost reaches the bot) is required",
            file=sys.stderr,
        )
        return 2
    from mattermostdriver import Driver

    driver = Driver(driver_options(s.mattermost_url or "", s.mattermost_token or ""))
    api = MattermostApi(driver, s.mattermost_url or "", ns.team or s.mattermost_team)
    team = api.team()
    router = Router()
    register_all(router)
    t = Translator(s.copilot_default_locale).t
    existing = {
        c["trigger"]: c
        for c in driver.commands.list_commands_for_team(
            params={"team_id": team["id"], "custom_only": True}
        )
    }
    tokens = []
    url = s.copilot_public_url.rstrip("/") + "/mattermost/command"
    for name, group in sorted(router.commands.items()):
        if name in existing and existing[name].get("url") == url:
            cmd = existing[name]
            state = "kept"
        else:
            cmd = driver.commands.create_command(
                options={
                    "team_id": team["id"],
                    "trigger": name,
                    "method": "P",
                    "url": url,
                    "display_name": f"/{name}",
                    "description": t(group.help),
                    "auto_complete": True,
                    "auto_complete_desc": t(group.help),
                    "auto_complete_hint": "|".join(group.subs),
                    "username": "copilot",
                }
            )
            state = "created"
        tokens.append(cmd["token"])
        print(f"/{name}: {state}")
    print(f"MATTERMOST_COMMAND_TOKENS={','.join(tokens)}")
    return 0
