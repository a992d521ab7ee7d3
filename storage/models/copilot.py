"""The conversational copilot: questions (one per ask, grouped by conversation), tool calls,
feedback."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow


class CopilotQuestion(SQLModel, table=True):
    """One question asked of the copilot, its answer and how it was produced."""

    __tablename__ = "copilot_question"
    __table_args__ = (Index("ix_copilot_question_conversation", "conversation", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation: str = Field(max_length=255)
    platform: str = Field(max_length=16)
    channel_id: str = Field(max_length=255)
    user_id: str = Field(max_length=255)
    user_name: str = Field(default="", max_length=255)
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str | None = Field(default=None, sa_column=Column(Text))
    mode: str = Field(default="llm", max_length=16)  # llm | rules | fallback | limited
    status: str = Field(default="asked", max_length=16)  # asked | answered | failed
    error: str | None = Field(default=None, max_length=255)
    tool_calls: int = 0
    rounds: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    message_key: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    answered_at: datetime | None = None


class CopilotToolCall(SQLModel, table=True):
    """One tool call the model asked for: what, with which arguments, how long, what came out."""

    __tablename__ = "copilot_tool_call"
    __table_args__ = (Index("ix_copilot_tool_call_question", "question_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="copilot_question.id")
    seq: int = 0
    tool: str = Field(max_length=128)
    args: str = Field(sa_column=Column(Text, nullable=False))
    outcome: str = Field(max_length=16)  # ok | error | invalid | unknown | limit | proposed
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    duration_ms: float = 0.0
    run_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class CopilotFeedback(SQLModel, table=True):
    """Helpful / not helpful, once per person per answer (a second click changes the vote)."""

    __tablename__ = "copilot_feedback"
    __table_args__ = (
        UniqueConstraint("question_id", "platform", "user_id", name="uq_copilot_feedback_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="copilot_question.id")
    platform: str = Field(max_length=16)
    user_id: str = Field(max_length=255)
    vote: str = Field(max_length=8)  # up | down
    created_at: datetime = Field(default_factory=utcnow)
