"""The ``rewards`` section: each reward's points or prizes, limits, expiry, holdout and budget.

Reward ids are recorded in the ``Context`` before anything else refers to them: journeys name a
reward, conditions test ``reward.<id>.available`` and tests expect one.
"""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.journeys.language.checks.content import check_words
from app.journeys.language.checks.shapes import (
    days,
    did_you_mean,
    entries,
    integer,
    mapping,
    required,
    text,
    word_list,
)
from app.journeys.language.context import Context
from app.journeys.language.syntax import LimitDoc, PrizeDoc, RewardDoc
from app.journeys.language.words import (
    CONSOLATION_FIELDS,
    HOLDOUT_RE,
    ID_RE,
    LIMIT_FIELDS,
    MECHANICS,
    PRIZE_FIELDS,
    REQUIREMENTS,
    REWARD_FIELDS,
)
from app.journeys.language.yamlnodes import Entry, construct, is_null, mark, show


def check_rewards(ctx: Context, entry: Entry | None) -> dict[str, RewardDoc]:
    """Return the well-formed rewards by id; every reward id (even a faulty one's) is known."""
    reward_entries: dict[str, Entry] = {}
    if (
        entry is not None
        and not is_null(entry.node)
        and mapping(ctx, entry.node, None, "rewards", "reward id: its fields")
    ):
        reward_entries = entries(ctx, entry.node, None, None, what="reward")
    ctx.reward_ids = tuple(reward_entries)
    rewards: dict[str, RewardDoc] = {}
    for rid, reward_entry in reward_entries.items():
        reward = check_reward(ctx, reward_entry)
        if reward is not None:
            rewards[rid] = reward
    return rewards


def check_reward(ctx: Context, entry: Entry) -> RewardDoc | None:
    rid = entry.key
    label = f"reward '{rid}'"
    before = len(ctx.problems)
    if not ID_RE.fullmatch(rid):
        ctx.problem(
            entry.key_node,
            f"{label}: a reward id must be lowercase letters, digits and dashes, "
            "like welcome-points",
        )
    if not mapping(ctx, entry.node, label, rid, "points, prizes, limit..."):
        return None
    fields = entries(ctx, entry.node, label, REWARD_FIELDS)
    points = integer(ctx, fields.get("points"), label)
    mechanic = text(ctx, fields.get("mechanic"), label) or "instant"
    if mechanic not in MECHANICS:
        ctx.problem(
            fields["mechanic"].node,
            f"{label}: mechanic '{mechanic}' is not one of {word_list(MECHANICS)}"
            f"{did_you_mean(mechanic, MECHANICS)}",
        )
    prizes = check_prizes(ctx, fields.get("prizes"), label)
    consolation = None
    if "consolation" in fields and not is_null(fields["consolation"].node):
        consolation = check_prize(ctx, fields["consolation"].node, label, consolation=True)
    if "points" not in fields and "prizes" not in fields:
        ctx.problem(entry.node, f"{label} gives nothing: give it points or prizes")
    limit = check_limit(ctx, fields.get("limit"), label)
    expires = days(ctx, fields.get("expires"), label)
    holdout = check_holdout(ctx, fields.get("holdout"), label)
    budget = integer(ctx, fields.get("budget"), label, minimum=1)
    requires = check_requires(ctx, fields.get("requires"), label, mechanic)
    words = check_words(ctx, fields, label)
    if len(ctx.problems) > before:
        return None
    line, column = mark(entry.key_node)
    return RewardDoc(
        id=rid,
        points=points,
        mechanic=mechanic,
        prizes=prizes,
        consolation=consolation,
        limit=limit,
        expires=expires,
        holdout=holdout,
        budget=budget,
        requires=requires,
        **words,
        line=line,
        column=column,
    )


def check_prizes(ctx: Context, entry: Entry | None, label: str) -> tuple[PrizeDoc, ...]:
    if entry is None or is_null(entry.node):
        return ()
    if not isinstance(entry.node, SequenceNode) or not entry.node.value:
        ctx.problem(
            entry.node,
            f"{label}: 'prizes' must be a list of prizes like {{id: ten-off, weight: 70}}",
        )
        return ()
    out: list[PrizeDoc] = []
    seen: dict[str, int] = {}
    for node in entry.node.value:
        prize = check_prize(ctx, node, label)
        if prize is None:
            continue
        if prize.id in seen:
            ctx.problem(
                node,
                f"{label}: prize id '{prize.id}' is used twice (first on line {seen[prize.id]})",
            )
            continue
        seen[prize.id] = prize.line
        out.append(prize)
    return tuple(out)


def check_prize(
    ctx: Context, node: Node, label: str, consolation: bool = False
) -> PrizeDoc | None:
    """One prize, or the consolation (which has no weight, stock or min_plays)."""
    name = "consolation" if consolation else "prize"
    if not isinstance(node, MappingNode):
        ctx.problem(node, f"{label}: a {name} is a mapping like {{id: ten-off, weight: 70}}")
        return None
    before = len(ctx.problems)
    allowed = CONSOLATION_FIELDS if consolation else PRIZE_FIELDS
    fields = entries(ctx, node, f"{label}: {name}", allowed)
    required(ctx, node, fields, ("id",), f"{label}: {name}")
    pid = text(ctx, fields.get("id"), label, ID_RE, "lowercase letters, digits and dashes")
    plabel = f"{label}: {name} '{pid}'"
    weight: float = 0
    if not consolation:
        w = fields.get("weight")
        weight = 1
        if w is not None:
            value = construct(w.node) if isinstance(w.node, ScalarNode) else None
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                ctx.problem(w.node, f"{plabel}: 'weight' must be a number above 0")
            else:
                weight = value
    stock = integer(ctx, fields.get("stock"), plabel)
    points = integer(ctx, fields.get("points"), plabel)
    min_plays = None if consolation else integer(ctx, fields.get("min_plays"), plabel)
    code, code_list = check_code(ctx, fields.get("code"), plabel)
    words = check_words(ctx, fields, plabel)
    if len(ctx.problems) > before or pid is None:
        return None
    line, column = mark(node)
    return PrizeDoc(pid, weight, stock, code, code_list, points, min_plays, **words,
                    line=line, column=column)


def check_code(ctx: Context, entry: Entry | None, label: str) -> tuple[str | None, str | None]:
    """Return (code, code_list): ``generated``, or ``list`` and the list's name."""
    if entry is None or is_null(entry.node):
        return None, None
    node = entry.node
    if isinstance(node, ScalarNode) and node.value == "generated":
        return "generated", None
    if isinstance(node, MappingNode):
        fields = entries(ctx, node, f"{label}: code", ("list",))
        name = text(ctx, fields.get("list"), label)
        if name:
            return "list", name
        if "list" not in fields:
            required(ctx, node, fields, ("list",), f"{label}: code")
        return None, None
    ctx.problem(node, f"{label}: 'code' must be generated or {{list: NAME}}, not {show(node)}")
    return None, None


def check_requires(
    ctx: Context, entry: Entry | None, label: str, mechanic: str
) -> tuple[str, ...]:
    """Return the actions a reveal waits for: one name or a list of names from REQUIREMENTS."""
    if entry is None or is_null(entry.node):
        return ()
    node = entry.node
    nodes = node.value if isinstance(node, SequenceNode) else [node]
    out: list[str] = []
    for one in nodes:
        if not isinstance(one, ScalarNode):
            ctx.problem(one, f"{label}: 'requires' names actions like review or "
                             f"[review, email_confirmed], not {show(one)}")
            continue
        value = str(one.value)
        if value not in REQUIREMENTS:
            ctx.problem(one, f"{label}: requires '{value}' is not one of "
                             f"{word_list(REQUIREMENTS)}{did_you_mean(value, REQUIREMENTS)}")
        elif value not in out:
            out.append(value)
    if out and mechanic == "instant":
        # An instant reward is settled when it is given: there is no reveal to hold back.
        ctx.problem(node, f"{label}: 'requires' needs a reveal: give it a mechanic "
                          "(click_to_reveal, scratch_off or unwrap_gift)")
    return tuple(out)


def check_limit(ctx: Context, entry: Entry | None, label: str) -> LimitDoc:
    if entry is None or is_null(entry.node):
        return LimitDoc()
    if not mapping(ctx, entry.node, label, "limit", "per_item, per_owner, per_day, per"):
        return LimitDoc()
    llabel = f"{label}: limit"
    fields = entries(ctx, entry.node, llabel, LIMIT_FIELDS)
    return LimitDoc(
        per_item=integer(ctx, fields.get("per_item"), llabel),
        per_owner=integer(ctx, fields.get("per_owner"), llabel),
        per_day=integer(ctx, fields.get("per_day"), llabel),
        per=days(ctx, fields.get("per"), llabel),
    )


def check_holdout(ctx: Context, entry: Entry | None, label: str) -> float:
    """A percentage, written ``10%`` or ``10``."""
    if entry is None or is_null(entry.node):
        return 0
    value = construct(entry.node) if isinstance(entry.node, ScalarNode) else None
    if isinstance(value, str) and (match := HOLDOUT_RE.fullmatch(value)):
        value = float(match.group(1))
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        ctx.problem(
            entry.node,
            f"{label}: 'holdout' must be a percentage from 0% to 100%, like 10%, "
            f"not {show(entry.node)}",
        )
        return 0
    return int(value) if float(value).is_integer() else value
