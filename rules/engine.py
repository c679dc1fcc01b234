"""The only module that imports durable-rules. Evaluation is side-effect free.

durable-rules is used in a measured safe mode:

* :class:`_SafeHost` never starts the Host's dispatch/timer threads (they segfault when
  states are created and deleted); time comes from the caller, never from durable timers.
* Each batch of facts is asserted into one short-lived sid that is always deleted, so
  live sids stay far below the per-rule-set limit (1024) and no sid outlives a call;
  calls are serialised by a lock, so at most one sid is live at a time and the 32-bit
  sid hash cannot collide.
* Actions only append ``(rule id, fact index)`` to an in-memory list: no I/O, nothing
  that can fail or be slow enough to be re-run.
* Each version is registered once under ``name@hash12``; re-registration is skipped
  (durable raises on a repeated name).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence

from durable import engine as _durable

from rules.catalogue import validate_facts
from rules.compiler import INDEX, compile_ruleset, encode_facts
from rules.decisions import Decision, sort_decisions
from rules.document import RuleSetDocument

_CATCH_ALL = "__every_fact"


class RuleEngineError(RuntimeError):
    """durable-rules refused a rule set or failed during an evaluation."""


class _SafeHost(_durable.Host):
    """A Host without background threads: evaluation is driven synchronously."""

    def _run(self) -> None:  # noqa: D401 - overriding durable's thread starter
        return None


class RuleEngine:
    """Registers rule-set versions and evaluates facts against them.

    Thread-safe; one instance per process is enough (:func:`default_engine`).
    """

    def __init__(self, batch_size: int = 500):
        self._host = _SafeHost()
        self._lock = threading.Lock()
        self._docs: dict[str, RuleSetDocument] = {}
        self._hits: list[tuple[str, int]] = []
        self._sids = itertools.count()
        self.batch_size = batch_size

    def _record(self, rule_id: str):
        hits = self._hits

        def action(c) -> None:
            hits.append((rule_id, c.m[INDEX]))

        return action

    def register(self, doc: RuleSetDocument) -> str:
        """Compile and register ``doc`` once; returns its engine key ``name@hash12``."""
        key = doc.key
        with self._lock:
            if key in self._docs:
                return key
            definition = compile_ruleset(doc)
            for rule_id, rule in definition.items():
                rule["run"] = self._record(rule_id)
            definition[_CATCH_ALL] = {"all": [{"m": {"$gte": {INDEX: 0}}}],
                                      "run": lambda c: None}
            try:
                self._host.register_rulesets({key: definition})
            except Exception as exc:  # durable raises bare Exception
                raise RuleEngineError(f"{key}: engine refused the rule set: {exc}") from exc
            self._docs[key] = doc
        return key

    def _run_batch(self, key: str, messages: list[dict]) -> list[tuple[str, int]]:
        sid = f"e{next(self._sids)}"
        for m in messages:
            m["sid"] = sid
        self._hits.clear()
        try:
            self._host.assert_facts(key, messages)
            return list(self._hits)
        except Exception as exc:
            raise RuleEngineError(f"{key}: evaluation failed: {exc}") from exc
        finally:
            self._hits.clear()
            try:
                self._host.delete_state(key, sid)
            except Exception:  # noqa: BLE001 - a sid that never got state has nothing to free
                pass

    def evaluate(self, doc: RuleSetDocument, facts: Sequence[dict]) -> list[list[Decision]]:
        """Decisions of ``doc`` for each facts object, in input order.

        Facts are checked against the catalogue first (:class:`rules.errors.FactError`).
        """
        clean = [validate_facts(f, label=f"facts[{i}]") for i, f in enumerate(facts)]
        key = self.register(doc)
        rules = {r.id: r for r in doc.rules}
        out: list[list[Decision]] = [[] for _ in clean]
        for start in range(0, len(clean), self.batch_size):
            chunk = clean[start:start + self.batch_size]
            messages = [encode_facts(f, start + i) for i, f in enumerate(chunk)]
            with self._lock:
                hits = self._run_batch(key, messages)
            for rule_id, index in hits:
                rule = rules[rule_id]
                matched = {name: clean[index][name] for name in rule.facts}
                out[index].append(Decision(rule.id, doc.name, doc.version, rule.action,
                                           rule.params, rule.priority, matched))
        return [sort_decisions(d) for d in out]

    def evaluate_all(self, docs: Iterable[RuleSetDocument], facts: Sequence[dict]
                     ) -> list[list[Decision]]:
        """Decisions of every rule set in ``docs`` for each facts object, merged."""
        merged: list[list[Decision]] = [[] for _ in facts]
        for doc in docs:
            for i, decisions in enumerate(self.evaluate(doc, facts)):
                merged[i].extend(decisions)
        return [sort_decisions(d) for d in merged]


_default: RuleEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> RuleEngine:
    """The process-wide engine, created on first use (never at import time)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = RuleEngine()
        return _default
