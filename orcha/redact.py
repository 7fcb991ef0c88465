"""Keep secrets out of transcripts and logs.

A :class:`Redactor` masks two things: secrets orcha itself knows (tokens it minted, configured keys), and
text that looks like a credential (API keys, bearer tokens, ``password=...``). The store redacts every
transcript line before it is written, and the log handler redacts every record.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

import ahocorasick

MASK = "[REDACTED]"

# (cheap substring triggers, pattern, replacement): a pattern runs only when one of its triggers occurs in the
# lower-cased text, so ordinary lines cost a few substring scans instead of seven regex passes.
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("bearer",), re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    (("sk-",), re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MASK),
    (("github_pat_",), re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), MASK),
    (("akia",), re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),
    (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),
    (
        ("key", "secret", "token", "passw"),
        re.compile(
            r"(?i)\b([A-Z0-9_]*(?:api[_-]?key|secret|token|password|passwd)[A-Z0-9_]*)(\"?\s*[=:]\s*\"?)([^\s\"',;]{4,})"
        ),
        rf"\1\2{MASK}",
    ),
)


def _automaton_of(words: Iterable[str]) -> ahocorasick.Automaton | None:
    built = ahocorasick.Automaton()
    for word in words:
        built.add_word(word, word)
    if len(built) == 0:
        return None
    built.make_automaton()
    return built


def _spans(automaton: ahocorasick.Automaton | None, text: str, live: AbstractSet[str]) -> list[tuple[int, int]]:
    """Where live secrets occur in ``text``, as ``(start, end)``; every occurrence, overlaps included."""
    if automaton is None:
        return []
    return [(end - len(word) + 1, end + 1) for end, word in automaton.iter(text) if word in live]


def longest_first(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Left to right, the longest span at each place, none overlapping the one before (what is masked)."""
    chosen: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, end))
    return chosen


class Redactor:
    """Masks known secrets and credential-shaped text. Thread-safe; secrets may be added and forgotten any time.

    Known secrets are found in one pass over the text whatever their number: orcha holds one per live session,
    and sessions start and end all the time, so one change never rebuilds an automaton of every secret. The
    secrets are in two Aho-Corasick automata: a large one, rebuilt rarely, and a small one of the secrets added
    since, rebuilt at each change (cheap). A forgotten secret stays in the large automaton, its matches ignored,
    until the next rebuild. The large one is rebuilt when the small one outgrows ``sqrt`` of the secrets (or
    half of what it holds is forgotten): O(sqrt n) per change, amortized, instead of O(n)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        """The live secrets (a fresh frozenset at each change: a search uses a snapshot)."""
        self._base: frozenset[str] = frozenset()
        """The words of the large automaton (some may be forgotten since)."""
        self._base_automaton: ahocorasick.Automaton | None = None
        self._forgotten = 0
        """How many words of the large automaton are no longer live."""
        self._recent: frozenset[str] = frozenset()
        """Live secrets added since the large automaton was built (in the small one)."""
        self._recent_automaton: ahocorasick.Automaton | None = None
        self._version = 0
        """Counts changes; the automata were built at ``_built`` (rebuilt outside the lock, installed if no
        change came meanwhile)."""
        self._built = 0
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str) -> None:
        """Mask every later occurrence of ``secret`` (ignored when shorter than 6 characters)."""
        if len(secret) < 6:
            return
        with self._lock:
            if secret not in self._secrets:
                self._secrets = self._secrets | {secret}
                if secret in self._base:
                    self._forgotten -= 1
                else:
                    self._recent = self._recent | {secret}
                self._version += 1

    def forget_secret(self, secret: str) -> None:
        """Stop looking for ``secret`` (it is no longer valid anywhere, e.g. its session ended)."""
        with self._lock:
            if secret in self._secrets:
                self._secrets = self._secrets - {secret}
                if secret in self._base:
                    self._forgotten += 1
                else:
                    self._recent = self._recent - {secret}
                self._version += 1

    def _finders(self) -> tuple[ahocorasick.Automaton | None, ahocorasick.Automaton | None, frozenset[str]]:
        """The two automata and the live secrets they are searched for, rebuilding what a change made stale
        (outside the lock: adding a secret never waits for a rebuild)."""
        with self._lock:
            version, live, recent = self._version, self._secrets, self._recent
            base, base_automaton = self._base, self._base_automaton
            if version == self._built:
                return base_automaton, self._recent_automaton, live
            rebuild = len(recent) > max(16, math.isqrt(len(live))) or self._forgotten > len(live) // 2 + 8
        if rebuild:
            base, base_automaton, recent = live, _automaton_of(live), frozenset()
        recent_automaton = _automaton_of(recent)
        with self._lock:
            if self._version == version:  # nothing changed meanwhile: keep them
                self._base, self._base_automaton, self._recent = base, base_automaton, recent
                self._recent_automaton, self._built = recent_automaton, version
                if rebuild:
                    self._forgotten = 0
        return base_automaton, recent_automaton, live

    def redact(self, text: str) -> str:
        """Return ``text`` with known secrets and credential-shaped substrings masked."""
        base, recent, live = self._finders()
        spans = _spans(base, text, live)
        if recent is not None:
            spans += _spans(recent, text, live)
        if spans:
            for start, end in reversed(longest_first(spans)):
                text = text[:start] + MASK + text[end:]
        lowered = text.lower()
        for triggers, pattern, replacement in _PATTERNS:
            if any(trigger in lowered for trigger in triggers):
                text = pattern.sub(replacement, text)
        return text


DEFAULT_REDACTOR = Redactor()
"""The process-wide redactor used by the store and the log handler unless one is passed in."""
