"""The only module that touches durable_rules.

durable_rules 2.0.28 has sharp edges this wrapper exists to contain:

* its C core keeps at most 1024 session states per process, after which every post fails with
  ``MemoryError`` until restart — so each evaluation uses a fresh session id and deletes its state
  before returning, whatever happened;
* a ruleset name can be registered only once — so names carry a digest of the compiled rules, and
  registering the same rules again is a no-op;
* an event no rule matches raises ``MessageNotHandledException`` and leaves its session state
  behind, and deleting that state crashes the process with a segmentation fault — so every ruleset
  gets a lowest-priority catch-all rule, every event is handled, and "no journey" is that rule
  firing;
* its host is not documented as thread-safe — so one lock serialises every call into it. Actions run
  synchronously inside ``post``, which is what lets a single result slot carry the decision out;
* its ``Host`` starts two timer threads that keep calling into the C core (dispatching queued
  actions and timers) outside any lock of ours; racing our own calls they crash the process with a
  segmentation fault. We use neither queued actions nor timers, so our host never starts them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import durable_rules_engine as _core
from durable import engine as _dr

# Name of the catch-all rule added to every ruleset.
UNMATCHED = "__unmatched__"
# Session states an engine ruleset may leak (see _after_stack_overflow) before it is replaced.
LEAK_BUDGET = 512


class RulesEngineError(RuntimeError):
    """The engine refused a ruleset or failed while evaluating."""


class EngineStackExceeded(RulesEngineError):
    """The engine's fixed evaluation stack overflowed (its error 303, ERR_MAX_STACK_SIZE)."""


class _SynchronousHost(_dr.Host):
    """A durable_rules host without its background dispatch threads (see the module docstring)."""

    def _run(self) -> None:
        pass


class _Engine:
    def __init__(self) -> None:
        self._host = _SynchronousHost()
        self._lock = threading.Lock()
        # Logical ruleset name -> its rules, and the engine ruleset currently serving it.
        self._specs: dict[str, dict[str, Any]] = {}
        self._serving: dict[str, str] = {}
        self._leaked: dict[str, int] = {}
        self._session_ids = itertools.count(1)
        self._fired: str | None = None

    def register(
        self, prefix: str, rules: Mapping[str, Mapping[str, Any]], anchor: Mapping[str, Any]
    ) -> str:
        """Register ``rules`` (durable_rules JSON, rule name -> {"all"/"any", "pri"}) under a name
        derived from ``prefix`` and their content; return that name.

        Every rule's action records its own rule name as the evaluation's result. ``anchor`` is an
        expression every event satisfies; it becomes the catch-all rule below all others.

        Raises:
            RulesEngineError: the engine rejected the ruleset.
        """
        lowest = max((int(r.get("pri", 0)) for r in rules.values()), default=0) + 1
        rules = {**rules, UNMATCHED: {"all": [{"m": dict(anchor)}], "pri": lowest}}
        canonical = json.dumps(rules, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        name = f"{prefix}__{digest}"
        with self._lock:
            if name in self._serving:
                return name
            self._specs[name] = dict(rules)
            self._install(name, name)
        return name

    def _install(self, name: str, engine_name: str) -> None:
        spec = {rule: {**body, "run": self._recorder(rule)}
                for rule, body in self._specs[name].items()}
        try:
            self._host.register_rulesets({engine_name: spec})
        except Exception as exc:  # the C core raises bare Exceptions with a code
            raise RulesEngineError(f"the rules engine rejected ruleset {name!r}: {exc}") from exc
        self._serving[name] = engine_name
        self._leaked[name] = 0

    def _recorder(self, rule_name: str) -> Callable[[Any], None]:
        def run(_c: Any) -> None:
            self._fired = rule_name

        return run

    def evaluate(self, name: str, event: Mapping[str, Any]) -> str | None:
        """Post ``event`` to ruleset ``name``; return the name of the rule that consumed it, or None
        when only the catch-all did.

        The session state the post creates is deleted before returning, so the engine's state
        table stays bounded.

        Raises:
            EngineStackExceeded: the engine's evaluation stack overflowed for this event.
            RulesEngineError: the engine failed, or the event did not satisfy the anchor.
        """
        with self._lock:
            engine_name = self._serving[name]
            handle = self._host.get_ruleset(engine_name)._handle
            sid = f"e{next(self._session_ids)}"
            message = json.dumps({**event, "sid": sid}, ensure_ascii=False)
            # The C core directly, as the host's post() does it, minus the host's per-action
            # Closure, state re-serialisation and callback plumbing, which cost more than the
            # matching itself. Our actions only need the name of the rule that fired.
            try:
                code, state_offset = _core.assert_event(handle, message)
            except Exception as exc:
                if "error code: 303" in str(exc):
                    self._after_stack_overflow(name)
                    raise EngineStackExceeded(str(exc)) from exc
                raise RulesEngineError(f"rules evaluation failed: {exc}") from exc
            if code == 1:
                # Deleting an unhandled event's state segfaults; leaking one is the lesser harm
                # and cannot happen for events built by the compiler.
                raise RulesEngineError("event does not satisfy the ruleset's anchor")
            fired = None
            started = _core.start_action_for_state(handle, state_offset)
            while started:
                # One pending action per matched rule; the highest-priority one comes first and
                # consumes the event, so completing it leaves nothing else to start.
                if fired is None:
                    fired = next(iter(json.loads(started[1])))
                started = _core.complete_and_start_action(handle, state_offset)
                started = (None, started) if started else None
            _core.delete_state(handle, sid)
            return None if fired in (None, UNMATCHED) else fired

    def _after_stack_overflow(self, name: str) -> None:
        # An overflowing post leaves its session state behind, and deleting that state corrupts
        # the heap. Past 1024 leaked states every post fails, so well before that the ruleset is
        # installed afresh under a new engine name and the poisoned copy is abandoned.
        self._leaked[name] += 1
        if self._leaked[name] >= LEAK_BUDGET:
            generation = next(self._session_ids)
            self._install(name, f"{name}__g{generation}")


# One engine per process: the C core's limits are per process, not per host object.
_ENGINE = _Engine()


def register(
    prefix: str, rules: Mapping[str, Mapping[str, Any]], anchor: Mapping[str, Any]
) -> str:
    """Register compiled rules; see ``_Engine.register``."""
    return _ENGINE.register(prefix, rules, anchor)


def evaluate(name: str, event: Mapping[str, Any]) -> str | None:
    """Evaluate one event; see ``_Engine.evaluate``."""
    return _ENGINE.evaluate(name, event)
