"""``flask messages preview``, ``flask schedules dry-run`` and the CRM endpoint commands: what a
marketer sees before anything is sent, and that they send and write nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from app.messages.models import Endpoint, Message
from tests.messages.helpers import BRAND, owned_serum, publish_demo


def _count(db) -> int:  # type: ignore[no-untyped-def]
    return int(db.scalar(select(func.count()).select_from(Message)) or 0)


def test_preview_renders_the_message_the_owner_would_get_and_sends_nothing(app, db, runner):
    publish_demo(db)
    owned = owned_serum(db, 77)
    result = runner.invoke(args=["messages", "preview", "refill-reminder", "--brand", BRAND,
                                 "--item", owned.serial])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Subject: ")
    assert "Test serum" in result.output  # the owner's own product
    assert owned.email not in result.output
    assert _count(db) == 0


def test_preview_of_an_item_nobody_owns_or_an_unknown_schedule_is_one_line(app, db, runner):
    publish_demo(db)
    unowned = runner.invoke(args=["messages", "preview", "refill-reminder", "--brand", BRAND,
                                  "--item", "NOPE"])
    assert unowned.exit_code == 1 and unowned.output.strip() == "Error: item NOPE has no owner"
    unknown = runner.invoke(args=["messages", "preview", "no-such", "--brand", BRAND,
                                  "--item", "NOPE"])
    assert unknown.exit_code == 1 and len(unknown.output.strip().splitlines()) == 1


def test_dry_run_counts_the_owners_of_a_slot_in_the_rulesets_time_and_writes_nothing(
        app, db, runner):
    publish_demo(db)
    due = [owned_serum(db, 77) for _ in range(3)]
    owned_serum(db, 76)  # due tomorrow, not in this slot
    # 09:00 in Paris on 1 December (the helpers' SLOT), written without an offset.
    result = runner.invoke(args=["schedules", "dry-run", "refill-reminder", "--brand", BRAND,
                                 "--at", "2026-12-01T09:00", "--show", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ("refill-reminder at 2026-12-01T09:00:00+01:00: 3 owner(s), "
                        "channels email")
    # Each listed owner with when they are due: 09:00 in their zone (here the ruleset's).
    assert len(lines) == 3 and {line.split()[0] for line in lines[1:]} <= {o.serial for o in due}
    assert all(line.split(maxsplit=1)[1] == "due 2026-12-01 09:00 Europe/Paris "
               "(2026-12-01T08:00:00+00:00)" for line in lines[1:])
    assert all(o.email not in result.output for o in due)
    assert _count(db) == 0
    bad = runner.invoke(args=["schedules", "dry-run", "refill-reminder", "--brand", BRAND,
                              "--at", "tomorrow"])
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1


def test_endpoint_secrets_are_shown_once_and_rotation_keeps_the_previous(app, db, runner):
    publish_demo(db)
    first = runner.invoke(args=["messages", "endpoint", "set", BRAND,
                                "https://crm.example/hooks/aftertap"])
    assert first.exit_code == 0, first.output
    secret = first.output.split("(shown once): ")[1].strip()
    assert secret.startswith("whsec_")
    rotated = runner.invoke(args=["messages", "endpoint", "rotate-secret", BRAND])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.split("(shown once): ")[1].strip()
    assert new.startswith("whsec_") and new != secret
    assert db.scalar(select(func.count()).select_from(Endpoint)) == 1
    refused = runner.invoke(args=["messages", "endpoint", "set", BRAND, "ftp://crm.example"])
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1


def test_dry_run_shows_each_owner_due_at_nine_in_their_own_zone(app, db, runner):
    from sqlalchemy import update

    from app.catalog.models import Owner

    publish_demo(db)
    tokyo = owned_serum(db, 77)
    db.execute(update(Owner).where(Owner.id == tokyo.owner_id).values(timezone="Asia/Tokyo"))
    db.commit()
    result = runner.invoke(args=["schedules", "dry-run", "refill-reminder", "--brand", BRAND,
                                 "--at", "2026-12-01T09:00"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        f"  {tokyo.serial}  due 2026-12-01 09:00 Asia/Tokyo (2026-12-01T00:00:00+00:00)")
