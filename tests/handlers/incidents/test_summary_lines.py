from __future__ import annotations

from datetime import timedelta

from bot.platforms.base import HistoryMessage
from handlers.incidents.summary_lines import chat_lines
from handlers.incidents.summary_types import LineKind
from tests.fakes.warroom import START


def msg(n: int, text: str, **kw: object) -> HistoryMessage:
    base: dict[str, object] = {
        "id": f"{n}.0",
        "ts": START + timedelta(seconds=n),
        "user_id": "U1",
        "user_name": "alice",
        "text": text,
    }
    return HistoryMessage(**{**base, **kw})  # type: ignore[arg-type]


def test_history_becomes_chat_lines() -> None:
    history = [
        msg(3, "restarting now", thread_id="1.0", permalink="https://x/p3"),
        msg(1, "[FIRING:1] CheckoutHighErrorRate", user_id="B1", user_name="", is_bot=True),
        msg(2, "Status: investigating", user_id="B1", is_bot=True),
        msg(4, "   "),
        msg(5, "root", thread_id="5.0"),
        msg(6, "Incident summary …", is_bot=True),
    ]
    lines = chat_lines(history, kinds={"2.0": LineKind.STATUS}, skip={"6.0"})
    assert [line.id for line in lines] == ["1.0", "2.0", "3.0", "5.0"]
    assert [line.kind for line in lines] == [
        LineKind.ALERT,
        LineKind.STATUS,
        LineKind.MESSAGE,
        LineKind.MESSAGE,
    ]
    assert lines[0].user == "B1" and lines[2].thread_id == "1.0" and lines[3].thread_id is None
    assert lines[2].permalink == "https://x/p3"
