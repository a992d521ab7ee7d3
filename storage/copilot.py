"""Copilot questions, tool calls and feedback: keyword-only repository functions."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.models.copilot import CopilotFeedback, CopilotQuestion, CopilotToolCall
from storage.models.core import utcnow


def add_question(session: Session, *, question: CopilotQuestion) -> CopilotQuestion:
    """Store a new question and return it with its id."""
    session.add(question)
    session.flush()
    return question


def get_question(session: Session, *, question_id: int) -> CopilotQuestion | None:
    return session.get(CopilotQuestion, question_id)


def finish_question(
    session: Session,
    *,
    question_id: int,
    answer: str,
    mode: str,
    status: str = "answered",
    error: str | None = None,
    tool_calls: int = 0,
    rounds: int = 0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    message_key: str | None = None,
) -> None:
    """Record the answer of a question (and how it was produced)."""
    row = session.get(CopilotQuestion, question_id)
    if row is None:
        return
    row.answer = answer
    row.mode = mode
    row.status = status
    row.error = error[:255] if error else None
    row.tool_calls = tool_calls
    row.rounds = rounds
    row.input_tokens = input_tokens
    row.output_tokens = output_tokens
    row.message_key = message_key or row.message_key
    row.answered_at = utcnow()
    session.add(row)


def history(
    session: Session, *, conversation: str, since: datetime, limit: int = 20
) -> list[CopilotQuestion]:
    """Answered questions of a conversation since `since`, oldest first (the last `limit`)."""
    rows = session.exec(
        select(CopilotQuestion)
        .where(
            CopilotQuestion.conversation == conversation,
            CopilotQuestion.status == "answered",
            CopilotQuestion.created_at >= since,
        )
        .order_by(col(CopilotQuestion.created_at).desc(), col(CopilotQuestion.id).desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def add_tool_call(session: Session, *, call: CopilotToolCall) -> CopilotToolCall:
    session.add(call)
    session.flush()
    return call


def tool_calls(session: Session, *, question_id: int) -> list[CopilotToolCall]:
    return list(
        session.exec(
            select(CopilotToolCall)
            .where(CopilotToolCall.question_id == question_id)
            .order_by(col(CopilotToolCall.seq))
        ).all()
    )


def set_feedback(
    session: Session, *, question_id: int, platform: str, user_id: str, vote: str
) -> CopilotFeedback:
    """Store (or change) one person's vote on an answer."""
    row = session.exec(
        select(CopilotFeedback).where(
            CopilotFeedback.question_id == question_id,
            CopilotFeedback.platform == platform,
            CopilotFeedback.user_id == user_id,
        )
    ).first()
    if row is None:
        row = CopilotFeedback(
            question_id=question_id, platform=platform, user_id=user_id, vote=vote
        )
    row.vote = vote
    row.created_at = utcnow()
    session.add(row)
    session.flush()
    return row


def feedback_counts(session: Session, *, question_id: int) -> dict[str, int]:
    rows = session.exec(
        select(CopilotFeedback.vote).where(CopilotFeedback.question_id == question_id)
    ).all()
    out = {"up": 0, "down": 0}
    for vote in rows:
        out[vote] = out.get(vote, 0) + 1
    return out
