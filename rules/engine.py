"""The only module that imports durable-rules. Evaluation is side-effect free.

durable-rules (pinned 2.0.28) is used in a measured safe mode:

* :class:`_SafeHost` never starts the Host's dispatch/timer threads (they segfault when
  states are created and deleted); time comes from the caller, never from durable timers.
* The documents evaluated together are registered as one durable rule set (a *group*,
  each rule named ``position:rule-id``), so each fact is asserted once per call, not
  once per document.
* Each batch of facts is asserted into one short-lived sid that is always deleted, so
  live sids stay far below the per-rule-set limit (1024) and no sid outlives a call;
  calls are serialised by a lock, so at most one sid is live at a time and the 32-bit
  sid hash cannot collide. Every message carries an explicit ``id`` (its index):
  durable's own ids are hashes of the message and two distinct facts of one batch were
  measured to collide (``MessageObservedException``).
* durable refuses a whole batch when one fact matches no rule, and then loses the
  actions of the facts that did match (measured). A catch-all rule joins every fact
  with a pattern no message has, so every fact is "handled" and the join never fires.
* Queued actions are drained straight from durable's native state (no Python closure
  per match): each match only yields ``(rule, fact index)``; no user code ever runs.
  Every batch also carries one sentinel message matched by its own rule: deleting a
  rule set's first state when no action ever ran on it crashes durable (measured).
* Each group is registered once under its key; re-registration is skipped (durable
  raises on a repeated name). A one-document group's key is ``name@hash12``.
* At most ``max_groups`` groups stay registered: beyond that the least recently used
  group that no evaluation is using is deleted (``delete_ruleset``) and registered again
  if needed later. Each registered group costs about 120 KB of native memory, so
  previews of many drafts would otherwise grow a long-running process without bound.
"""

from __future__ import annotations

import decimal
import hashlib
import itertools
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import durable_rules_engine as _native
from durable import engine as _durable

from rules.catalogue import CheckedFacts, fact_check, validate_facts
from rules.compiler import INDEX, compile_ruleset, encode_facts
from rules.decisions import Decision, sort_decisions
from rules.document import Rule, RuleSetDocument

_CATCH_ALL = "__every_fact"
_NEVER = "__never"  # no message carries it: the catch-all join never completes
_SENTINEL = "__batch"  # one message and one action per batch (see the module docstring)
_NOT_HANDLED, _OBSERVED, _QUEUED = 1, 2, 3  # durable's result codes
# A match as durable returns it: {"rule":{"m":{"_i": N, ...}}}; the index is the first key.
_MATCH = re.compile(r'\{"([^"]+)":\{"m":\{"' + re.escape(INDEX) + r'":\s*(-?\d+)[,}]')


class RuleEngineError(RuntimeError):
    """durable-rules refused a rule set or failed during an evaluation."""


class _SafeHost(_durable.Host):
    """A Host without background threads: evaluation is driven synchronously."""

    def _run(self) -> None:  # noqa: D401 - overriding durable's thread starter
        return None


def _never_run(c) -> None:  # durable needs an action per rule; actions are drained natively
    raise AssertionError("durable actions are not run by this engine")


class _Group:
    """Documents registered together as one durable rule set."""

    def __init__(self, key: str, docs: Sequence[RuleSetDocument]):
        self.key = key
        self.docs = tuple(docs)
        self.rules: dict[str, tuple[int, Rule]] = {
            f"{pos}:{rule.id}": (pos, rule)
            for pos, doc in enumerate(self.docs) for rule in doc.rules}
        self.facts = tuple(dict.fromkeys(
            name for doc in self.docs for rule in doc.rules for name in rule.facts))
        self.handle = None  # durable's native rule-set handle, set on registration
        self.pins = 0  # evaluations using the group now: it must not be deleted

    def definition(self) -> dict:
        """The durable rule-set definition of every document plus the catch-all."""
        out = {}
        for pos, doc in enumerate(self.docs):
            for rule_id, rule in compile_ruleset(doc).items():
                out[f"{pos}:{rule_id}"] = {**rule, "run": _never_run}
        out[_CATCH_ALL] = {"all": [{"m": {"$gte": {INDEX: 0}}},
                                   {"never": {"$eq": {_NEVER: 1}}}],
                           "run": _never_run}
        out[_SENTINEL] = {"all": [{"m": {"$eq": {_SENTINEL: 1}}}], "run": _never_run}
        return out


# A number in exponent form right after ':' (messages hold only catalogue facts: their
# strings are choice values, never numbers in disguise).
_EXPONENT = re.compile(r"(?<=: )(-?\d+(?:\.\d+)?[eE][-+]?\d+)(?=[,}])")


def _positional(match: re.Match) -> str:
    text = format(decimal.Decimal(match.group(1)), "f")
    return text if "." in text else text + ".0"  # a float: durable reads integers as int64


def _batch_json(messages: list[dict]) -> str:
    """The JSON durable parses. Its parser crashes the process on exponent notation
    (measured: ``1e-05``, ``1e+20``), which Python writes for floats below 1e-4 or from
    1e16 (a small activity score): those are written out positionally instead."""
    text = json.dumps(messages)
    # Python writes every exponent as e-NN or e+NN: without one there is nothing to
    # rewrite, and the regex scan (a fifth of the engine path) is skipped.
    return _EXPONENT.sub(_positional, text) if "e-" in text or "e+" in text else text


def _parse_match(text: str) -> tuple[str, int]:
    """``(durable rule name, fact index)`` of one queued action's JSON."""
    found = _MATCH.match(text)
    if found:
        return found.group(1), int(found.group(2))
    (name, match), = json.loads(text).items()  # any other layout: parse it all
    return name, match["m"][INDEX]


def _group_key(docs: Sequence[RuleSetDocument]) -> str:
    if len(docs) == 1:
        return docs[0].key
    digest = hashlib.sha256("+".join(d.key for d in docs).encode()).hexdigest()[:12]
    return f"{'+'.join(d.name for d in docs)}@{digest}"


class RuleEngine:
    """Registers rule-set versions and evaluates facts against them.

    Thread-safe; one instance per process is enough (:func:`default_engine`).
    ``max_groups`` bounds the groups kept registered (see the module docstring).
    """

    def __init__(self, batch_size: int = 500, max_groups: int = 64):
        self._host = _SafeHost()
        self._lock = threading.Lock()
        self._groups: OrderedDict[str, _Group] = OrderedDict()  # least recently used first
        self._sids = itertools.count()
        self.batch_size = batch_size
        self.max_groups = max_groups
        # CPU seconds of the calling threads in evaluate_all, for benchmarks: the engine's
        # own cost, not inflated by other processes sharing the cores.
        self.busy_seconds = 0.0

    @property
    def registered(self) -> tuple[str, ...]:
        """Keys of the groups registered now, least recently used first."""
        with self._lock:
            return tuple(self._groups)

    def _group(self, docs: Sequence[RuleSetDocument], *, pin: bool = False) -> _Group:
        """Compile and register ``docs`` as one group, once; returns the group.

        With ``pin`` the group is kept registered until :meth:`_unpin`.
        """
        key = _group_key(docs)
        with self._lock:
            group = self._groups.get(key)
            if group is None:
                group = _Group(key, docs)
                try:
                    self._host.register_rulesets({key: group.definition()})
                    group.handle = self._host.get_ruleset(key)._handle
                except Exception as exc:  # durable raises bare Exception
                    self._host._ruleset_directory.pop(key, None)
                    raise RuleEngineError(f"{key}: engine refused the rule set: {exc}") from exc
                self._groups[key] = group
            self._groups.move_to_end(key)
            group.pins += pin
            self._evict()
        return group

    def _unpin(self, group: _Group) -> None:
        with self._lock:
            group.pins -= 1
            self._evict()

    def _evict(self) -> None:
        """Delete least recently used unpinned groups beyond ``max_groups`` (lock held)."""
        excess = len(self._groups) - self.max_groups
        if excess <= 0:
            return
        for key in [k for k, g in self._groups.items() if not g.pins][:excess]:
            group = self._groups.pop(key)
            self._host._ruleset_directory.pop(key, None)
            _native.delete_ruleset(group.handle)

    def register(self, doc: RuleSetDocument) -> str:
        """Compile and register ``doc`` once; returns its engine key ``name@hash12``."""
        return self._group([doc]).key

    def _drain(self, handle, state) -> list[str]:
        """Every queued action of one state, as durable's JSON ``{rule: {"m": fact}}``."""
        result = _native.start_action_for_state(handle, state)
        if not result:
            return []
        out = [result[1]]
        while True:
            following = _native.complete_and_start_action(handle, state)
            if not following:
                return out
            out.append(following)

    def _run_batch(self, group: _Group, messages: list[dict]) -> list[tuple[str, int]]:
        """Assert ``messages`` into a fresh sid; ``(durable rule name, fact index)`` hits."""
        sid = f"e{next(self._sids)}"
        for m in messages:
            m["sid"] = sid
            m["id"] = m[INDEX]
        sentinel = {INDEX: -1, _SENTINEL: 1, "id": -1, "sid": sid}
        try:
            code, state = _native.assert_facts(group.handle, _batch_json([*messages, sentinel]))
            if code in (_NOT_HANDLED, _OBSERVED):
                raise RuleEngineError(f"{group.key}: durable refused the batch (code {code})")
            hits = []
            for text in self._drain(group.handle, 0 if code == _QUEUED else state):
                name, index = _parse_match(text)
                if name != _SENTINEL:
                    hits.append((name, index))
            return hits
        except RuleEngineError:
            raise
        except Exception as exc:
            raise RuleEngineError(f"{group.key}: evaluation failed: {exc}") from exc
        finally:
            try:
                self._host.delete_state(group.key, sid)
            except Exception:  # noqa: BLE001 - a sid that never got state has nothing to free
                pass

    def evaluate(self, doc: RuleSetDocument, facts: Sequence[dict]) -> list[list[Decision]]:
        """Decisions of ``doc`` for each facts object, in input order.

        Facts are checked against the catalogue first (:class:`rules.errors.FactError`).
        """
        return self.evaluate_all([doc], facts)

    def evaluate_all(self, docs: Iterable[RuleSetDocument], facts: Sequence[dict]
                     ) -> list[list[Decision]]:
        """Decisions of every rule set in ``docs`` for each facts object, merged.

        Facts are checked against the catalogue first (:class:`rules.errors.FactError`),
        except :class:`rules.catalogue.CheckedFacts`, checked once where they were built;
        each facts object is asserted once whatever the number of docs.
        """
        started = time.thread_time()
        try:
            return self._evaluate_all(docs, facts)
        finally:
            self.busy_seconds += time.thread_time() - started

    def _evaluate_all(self, docs: Iterable[RuleSetDocument], facts: Sequence[dict]
                      ) -> list[list[Decision]]:
        check = fact_check()
        clean = [f if f.__class__ is CheckedFacts  # checked once at its source
                 else c if (c := check(f)) is not None
                 else validate_facts(f, label=f"facts[{i}]")
                 for i, f in enumerate(facts)]
        docs = list(docs)
        out: list[list[Decision]] = [[] for _ in clean]
        if not docs:
            return out
        group = self._group(docs, pin=True)
        try:
            for start in range(0, len(clean), self.batch_size):
                messages = [encode_facts(clean[i], i, group.facts)
                            for i in range(start, min(start + self.batch_size, len(clean)))]
                with self._lock:
                    hits = self._run_batch(group, messages)
                for name, index in hits:
                    pos, rule = group.rules[name]
                    doc = group.docs[pos]
                    matched = {n: clean[index].get(n) for n in rule.facts}
                    out[index].append(Decision(rule.id, doc.name, doc.version, rule.action,
                                               rule.params, rule.priority, matched))
        finally:
            self._unpin(group)
        return [sort_decisions(d) if len(d) > 1 else d for d in out]


_check_host: _SafeHost | None = None
_check_lock = threading.Lock()
_check_ids = itertools.count()


def refusals(doc: RuleSetDocument) -> list[tuple[str, str]]:
    """``(rule id, reason)`` for each rule of ``doc`` that durable refuses to compile.

    Each rule is registered alone on a scratch host and deleted at once, so validation
    meets every refusal (e.g. codes 202/204 for numbers durable cannot represent)
    before a draft is stored, and nothing stays registered.
    """
    global _check_host
    out = []
    with _check_lock:
        if _check_host is None:
            _check_host = _SafeHost()
        for rule_id, definition in compile_ruleset(doc).items():
            key = f"__check{next(_check_ids)}"
            try:
                _check_host.register_rulesets(
                    {key: {rule_id: {**definition, "run": _never_run}}})
            except Exception as exc:  # noqa: BLE001 - durable raises bare Exception
                out.append((rule_id, f"the rule engine refuses it: {exc}"))
                continue
            finally:
                ruleset = _check_host._ruleset_directory.pop(key, None)
            if ruleset is not None:
                _native.delete_ruleset(ruleset._handle)
    return out


_default: RuleEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> RuleEngine:
    """The process-wide engine, created on first use (never at import time)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = RuleEngine()
        return _default
