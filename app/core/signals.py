"""Domain events: how one domain reacts to another without importing it.

Domains (ownership, aftersales, provenance, rewards...) never import each other. When something
one of them does matters to another, the acting domain sends one of these signals, inside its
transaction, with the session as sender; a listener in the other domain acts in that same
transaction, so both changes commit together or not at all. Listeners connect in their
package's ``init_app``. ``send`` returns ``[(listener, value), ...]``: a sender may use what
listeners return (the points a take-back earned), never rely on a listener being there.

Every signal's keyword arguments are listed with it; all carry ``settings`` (the app's settings
mapping) and ``at`` (an aware UTC moment).
"""

from __future__ import annotations

from blinker import Namespace

_events = Namespace()

service_recorded = _events.signal(
    "service-recorded",
    doc="The brand recorded a service on an item. Keywords: settings, item_id, event_id, at.",
)
service_feedback_recorded = _events.signal(
    "service-feedback-recorded",
    doc="An owner gave feedback on a service done on their item. Keywords: settings, owner_id, "
        "item_id, feedback_id, at.",
)
provenance_issued = _events.signal(
    "provenance-issued",
    doc="An owner issued a provenance record. Keywords: settings, owner_id, ownership_id, "
        "record_id, at.",
)
item_taken_back = _events.signal(
    "item-taken-back",
    doc="The brand took an item back and its ownership ended. Keywords: settings, item_id, "
        "owner_id (who gave it back), at. Listeners may return loyalty entries they made.",
)
message_reward_requested = _events.signal(
    "message-reward-requested",
    doc="A scheduled message naming a reward is about to be sent. Keywords: settings, "
        "ruleset (the brand's live RulesetDoc), brand, reward_id, owner_id, item_id, "
        "message_key, schedule_id, at. A listener grants the reward once per message_key "
        "(a re-sent copy gets the same grant) and returns the grant's private path "
        "(/rewards/<token>), or None when it cannot be given (cap, holdout, stock).",
)
message_undelivered = _events.signal(
    "message-undelivered",
    doc="A scheduled message will never reach its owner (refused for good, out of retries, or "
        "suppressed after an earlier attempt). Keywords: brand, message_key, at. A listener takes "
        "back what it gave for the message (an unrevealed reward grant).",
)
provenance_sections = _events.signal(
    "provenance-sections",
    doc="A provenance record is being built for an item. Keywords: item (an ItemView). "
        "Listeners return a mapping of extra top-level sections for the record (e.g. the "
        "item's service summary); they must hold no personal data.",
)
alert_raised = _events.signal(
    "alert-raised",
    doc="Insights raised a new integrity alert (one per item, kind and UTC day). Keywords: "
        "settings, alert_id, brand_id, item_id, kind, title (the kind in English words), "
        "summary (what was seen, English words: countries, gaps; never a person), at (the "
        "alert's), now (the scan's). A listener queues what it sends in this transaction and "
        "returns True when everything is handed over, False when a call waits for "
        "``alert_delivery_due`` (then the alert stays not notified until it is made).",
)
alert_delivery_due = _events.signal(
    "alert-delivery-due",
    doc="An integrity alert still waits to reach the brand's CRM (sent with a session holding "
        "no write; the listener may end its read before calling out). Keywords: settings, "
        "alert_id, brand_id, item_id, kind, title, summary, at (the alert's), now. A listener "
        "makes the call and returns True once it is done or there is nothing to call, False to "
        "be asked again later.",
)
