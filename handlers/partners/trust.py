"""Trust Center: public scorecards of published offers (HTML via Jinja2, and Markdown)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.i18n import N_, translator
from handlers.partners import compliance, flow, questionnaire
from storage import partners as repo
from storage.db import unit_of_work
from storage.models.partners import Intake

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
PART_NAMES = {
    "completeness": N_("Completeness"),
    "compliance": N_("Compliance coverage"),
    "sla": N_("SLA"),
    "support": N_("Support"),
    "documentation": N_("Documentation"),
}


def card(row: Intake, t: Any, locale: str) -> dict[str, Any]:
    """Everything a scorecard shows, computed from the stored answers."""
    answers = repo.answers(row)
    rules = flow.rules()
    check = compliance.checklist(answers, rules, t)
    sc = compliance.score(flow.questions(), answers, check, rules)

    def show(key: str) -> str:
        return questionnaire.display(answers.get(key), t) if key in answers else "—"

    return {
        "slug": row.slug,
        "name": row.offer_name or answers.get("offer_name") or row.slug,
        "company": show("company"),
        "category": show("category"),
        "vertical": show("vertical"),
        "deployment": show("deployment"),
        "score": sc.total,
        "coverage": round(check.coverage * 100),
        "parts": [(t(PART_NAMES[k]), v, rules.score.get(k, 0)) for k, v in sc.parts.items()],
        "checklist": [
            {
                "rule": i.rule,
                "title": i.label(locale),
                "status": i.status,
                "status_label": t(flow.STATUS_LABEL[i.status]),
                "reason": i.reason,
            }
            for i in check.items
        ],
        "certifications": show("certifications") if answers.get("certifications") else "",
        "storage": show("storage_regions"),
        "processing": show("processing_regions"),
        "sla": (show("sla") + " %") if "sla" in answers else "—",
        "support": show("support"),
        "pricing": show("pricing"),
        "security_contact": show("security_contact"),
        "published": row.published_at.strftime("%Y-%m-%d") if row.published_at else "",
    }


def markdown(c: dict[str, Any], t: Any) -> str:
    """The scorecard as Markdown."""
    lines = [
        f"# {c['name']}",
        "",
        f"{c['company']} · {c['category']} · {c['vertical']} · {c['deployment']}",
        "",
        f"**{t('Quality score')}: {c['score']}/100** · {t('Checklist coverage')}: {c['coverage']}%",
        "",
        f"## {t('Compliance')}",
        "",
    ]
    lines += [
        f"- `{i['rule']}` {i['title']}: {i['status_label']} — {i['reason']}" for i in c["checklist"]
    ]
    lines += [
        "",
        f"## {t('Data locations')}",
        "",
        f"- {t('Storage')}: {c['storage']}",
        f"- {t('Processing')}: {c['processing']}",
        "",
        f"{t('Certifications')}: {c['certifications'] or '—'}",
        "",
    ]
    return "\n".join(lines)


def _published(engine: Any) -> list[Intake]:
    with unit_of_work(engine) as s:
        rows = repo.listing(s, states=("published",))
        for r in rows:
            s.expunge(r)
        return rows


def routes(app: Any) -> list[web.RouteDef]:
    """`GET /trust/` (index), `/trust/<slug>` (HTML scorecard), `/trust/<slug>.md`."""

    def tr() -> tuple[Any, str]:
        locale = app.settings.copilot_default_locale
        return translator(locale).t, locale

    async def index(request: web.Request) -> web.Response:
        rows = await asyncio.to_thread(_published, app.engine)
        t, locale = tr()
        offers = [card(r, t, locale) for r in rows]
        html = _ENV.get_template("trust_index.html.j2").render(
            offers=offers, t=t, locale=locale, title=t("Trust Center")
        )
        return web.Response(text=html, content_type="text/html")

    async def offer(request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        as_md = slug.endswith(".md")
        slug = slug.removesuffix(".md")
        rows = await asyncio.to_thread(_published, app.engine)
        row = next((r for r in rows if r.slug == slug), None)
        if row is None:
            raise web.HTTPNotFound(text="no such published offer")
        t, locale = tr()
        c = card(row, t, locale)
        if as_md:
            return web.Response(text=markdown(c, t), content_type="text/markdown")
        html = _ENV.get_template("trust_offer.html.j2").render(
            o=c, t=t, locale=locale, title=c["name"]
        )
        return web.Response(text=html, content_type="text/html")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/trust/")

    return [
        web.get("/trust", redirect),
        web.get("/trust/", index),
        web.get("/trust/{slug}", offer),
    ]
