from __future__ import annotations

import pytest

from bot.i18n import Translator
from bot.router import Args, Opt, Router, UsageError

T = Translator("en").t


def _noop(ctx: object, args: Args) -> None:
    return None


@pytest.fixture
def router() -> Router:
    r = Router()
    g = r.command("incident", help="Incidents")
    g.sub(
        "declare",
        _noop,
        help="Declare",
        usage="declare <title> [--sev 1..4]",
        options=[
            Opt("sev", type=int, choices=("1", "2", "3", "4")),
            Opt("service"),
            Opt("dry-run", flag=True),
        ],
        min_args=1,
    )
    r.command("runbook", help="Runbooks").sub("run", _noop, help="Run", params=True, min_args=1)
    return r


def test_quoted_title_options_and_params(router: Router) -> None:
    route = router.route("/incident", 'declare "Checkout is down" --sev 2 --service=cart', T)
    assert route.sub is not None and route.sub.name == "declare"
    assert route.args.positional == ["Checkout is down"]
    assert route.args.opts == {"sev": 2, "service": "cart"}


def test_smart_quotes_and_flags(router: Router) -> None:
    route = router.route("incident", "declare “Оплата не работает” --dry-run", T)
    assert route.args.rest == "Оплата не работает"
    assert route.args.opts["dry-run"] is True


def test_key_value_params(router: Router) -> None:
    route = router.route("runbook", "run restart-deployment namespace=shop deployment=cart", T)
    assert route.args.positional == ["restart-deployment"]
    assert route.args.params == {"namespace": "shop", "deployment": "cart"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("declare", "Missing arguments"),
        ("declare x --sev 9", "--sev must be one of: 1, 2, 3, 4"),
        ("declare x --sev", "--sev needs a value"),
        ("declare x --color red", "Unknown option --color"),
        ("declare x --dry-run=yes", "takes no value"),
        ('declare "x', "quote is not closed"),
        ("declar x", "Did you mean “declare”"),
        ("frobnicate", "Try: declare"),
    ],
)
def test_specific_usage_errors(router: Router, text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        router.route("incident", text, T)
    assert fragment in err.value.message


def test_unknown_command_lists_known(router: Router) -> None:
    with pytest.raises(UsageError, match=r"Unknown command /nope. Commands: /incident, /runbook"):
        router.route("nope", "", T)


def test_help_routes(router: Router) -> None:
    assert router.route("incident", "", T).help_topic == ""
    assert router.route("incident", "help declare", T).help_topic == "declare"
    assert router.route("incident", "declare --help", T).help_topic == "declare"


def test_twice_given_param_is_an_error(router: Router) -> None:
    with pytest.raises(UsageError, match="given twice"):
        router.route("runbook", "run x a=1 a=2", T)


def test_apostrophes_inside_words_are_letters(router: Router) -> None:
    route = router.route("incident", "declare Checkout's API can't pay --sev 1", T)
    assert route.args.rest == "Checkout's API can't pay"
    route = router.route("incident", "declare 'quoted title' x", T)
    assert route.args.positional == ["quoted title", "x"]
