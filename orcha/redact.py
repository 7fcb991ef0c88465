"""Keep secrets out of transcripts and logs.

A :class:`Redactor` masks two things: secrets orcha itself knows (tokens it minted, configured keys), and
text that looks like a credential (API keys, bearer tokens, ``password=...``). The store redacts every
transcript line before it is written, and the log handler redacts every record.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Sequence

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


_TOKEN_CHARS = "A-Za-z0-9_-"
_TOKEN = re.compile(f"[{_TOKEN_CHARS}]+")
LONG_RUN = 2048
"""A run of token characters longer than this (a base64 blob) is searched with an automaton of the token
secrets, built when first needed after a change, instead of a lookup at each of its places."""
BUILD_AFTER = 50_000
"""Places looked up since the token secrets last changed after which their automaton is built (it costs
about as much), so text searched while sessions come and go costs lookups, and text searched while they
stay costs one automaton pass."""


def _automaton_of(words: Iterable[str]) -> ahocorasick.Automaton | None:
    built = ahocorasick.Automaton()
    for word in words:
        built.add_word(word, word)
    if len(built) == 0:
        return None
    built.make_automaton()
    return built


def longest_first(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Left to right, the longest span at each place, none overlapping the one before (what is masked)."""
    chosen: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, end))
    return chosen


def _trigger_finder() -> ahocorasick.Automaton:
    finder = ahocorasick.Automaton()
    for triggers, _, _ in _PATTERNS:
        for trigger in triggers:
            finder.add_word(trigger, trigger)
    finder.make_automaton()
    return finder


_TRIGGERS = _trigger_finder()
"""Every pattern's triggers, found in one pass over lower-cased text."""
_SEPARATOR = "\n"
"""Between the texts of a batch, scanned as one: no known secret contains it (a secret that does is known
line by line), and it is not a token character."""


class Redactor:
    """Masks known secrets and credential-shaped text. Thread-safe; secrets may be added and forgotten any time.

    Known secrets are found in one pass over the text whatever their number, and a secret is added or
    forgotten in O(1): orcha holds one per live session (its MCP secret), and sessions start and end all the
    time. A secret made of token characters only (``A-Za-z0-9_-``, as every secret orcha mints) is kept in a
    set of secrets of its length, and looked up at every place of every run of token characters at least that
    long (a regex finds the runs; ordinary text has few long ones; a very long one is searched with an
    automaton of them instead). Any other secret (a configured key of another shape) goes into an
    Aho-Corasick automaton, rebuilt on the first redaction after such a change."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[int, set[str]] = {}
        """Token-shaped secrets by length. A set changes in place under the lock (an add or a forget is O(1)
        whatever the number of secrets of its length); the dict is replaced when a length comes or goes. A
        search holds the dict it started with and looks secrets up in its sets (a membership test, atomic
        beside a change): it may see a secret added meanwhile, never a broken set."""
        self._runs: re.Pattern[str] | None = None
        """Runs of token characters at least as long as the shortest token secret."""
        self._token_automaton: ahocorasick.Automaton | None = None
        """The token secrets, for very long runs; ``None`` until needed after a change."""
        self._looked_up = 0
        """Places looked up since the token secrets changed (a heuristic: not under the lock)."""
        self._others: frozenset[str] = frozenset()
        self._multiline: frozenset[str] = frozenset()
        """Secrets holding the separator, masked whole (as well as line by line); rare: configured keys."""
        self._automaton: ahocorasick.Automaton | None = None
        self._automaton_stale = False
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str) -> None:
        """Mask every later occurrence of ``secret`` (ignored when shorter than 6 characters)."""
        if _SEPARATOR in secret:  # e.g. a PEM key: masked whole, and each of its lines on its own
            with self._lock:
                self._multiline = self._multiline | {secret}
            for part in secret.split(_SEPARATOR):
                self.add_secret(part.strip())
            return
        if len(secret) < 6:
            return
        with self._lock:
            if _TOKEN.fullmatch(secret):
                same = self._tokens.get(len(secret))
                if same is None:  # a new length: the runs' shortest may change
                    self._tokens = {**self._tokens, len(secret): {secret}}
                    self._runs = None
                elif secret in same:
                    return
                else:
                    same.add(secret)
                self._token_automaton = None
                self._looked_up = 0
            elif secret not in self._others:
                self._others = self._others | {secret}
                self._automaton_stale = True

    def forget_secret(self, secret: str) -> None:
        """Stop looking for ``secret`` (it is no longer valid anywhere, e.g. its session ended)."""
        if _SEPARATOR in secret:
            with self._lock:
                self._multiline = self._multiline - {secret}
            for part in secret.split(_SEPARATOR):
                self.forget_secret(part.strip())
            return
        with self._lock:
            same = self._tokens.get(len(secret), set())
            if secret in same:
                if len(same) == 1:  # the last of its length: the runs' shortest may change
                    self._tokens = {length: known for length, known in self._tokens.items() if known is not same}
                    self._runs = None
                else:
                    same.discard(secret)
                self._token_automaton = None
                self._looked_up = 0
            elif secret in self._others:
                self._others = self._others - {secret}
                self._automaton_stale = True

    def _finders(self) -> tuple[dict[int, set[str]], re.Pattern[str] | None, ahocorasick.Automaton | None]:
        with self._lock:
            if self._runs is None and self._tokens:
                self._runs = re.compile(f"[{_TOKEN_CHARS}]{{{min(self._tokens)},}}")
            if self._automaton_stale:  # rare: secrets of another shape changed
                self._automaton, self._automaton_stale = _automaton_of(self._others), False
            return self._tokens, self._runs, self._automaton

    def _long_run_finder(self) -> ahocorasick.Automaton | None:
        """The automaton of the token secrets as they are now (built under the lock: no set changes meanwhile)."""
        with self._lock:
            if self._token_automaton is None:
                self._token_automaton = _automaton_of(word for known in self._tokens.values() for word in known)
            return self._token_automaton

    def _built_token_finder(self) -> ahocorasick.Automaton | None:
        """The automaton of the token secrets if it is built since their last change (or worth building now)."""
        if self._looked_up > BUILD_AFTER:
            return self._long_run_finder()
        return self._token_automaton

    def redact(self, text: str) -> str:
        """Return ``text`` with known secrets and credential-shaped substrings masked."""
        for secret in sorted(self._multiline, key=len, reverse=True):
            text = text.replace(secret, MASK)
        tokens, runs, automaton = self._finders()
        spans: list[tuple[int, int]] = []
        if runs is not None:
            for run in runs.finditer(text):
                spans.extend(self._token_spans(tokens, run.group(), run.start()))
        if automaton is not None:
            spans.extend((end - len(word) + 1, end + 1) for end, word in automaton.iter(text))
        if spans:
            for start, end in reversed(longest_first(spans)):
                text = text[:start] + MASK + text[end:]
        lowered = text.lower()
        for triggers, pattern, replacement in _PATTERNS:
            if any(trigger in lowered for trigger in triggers):
                text = pattern.sub(replacement, text)
        return text

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """:meth:`redact` of each text, the batch scanned as one text: a line in which no secret, no run of
        token characters holding one and no pattern's trigger occurs (almost every line) costs no search of its
        own, and the rest go through :meth:`redact`."""
        if len(texts) < 2 or self._multiline:  # (a secret holding the separator: text by text)
            return [self.redact(text) for text in texts]
        tokens, runs, automaton = self._finders()
        starts, position = [], 0
        for text in texts:
            starts.append(position)
            position += len(text) + len(_SEPARATOR)
        joined = _SEPARATOR.join(texts)
        touched: set[int] = set()
        built = self._built_token_finder()
        if built is not None:
            touched.update(bisect.bisect_right(starts, end) - 1 for end, _ in built.iter(joined))
        elif runs is not None:
            touched.update(
                bisect.bisect_right(starts, run.start()) - 1
                for run in runs.finditer(joined)  # (a run never crosses the separator)
                if any(True for _ in self._token_spans(tokens, run.group(), 0))
            )
        if automaton is not None:
            touched.update(bisect.bisect_right(starts, end) - 1 for end, _ in automaton.iter(joined))
        lowered = [text.lower() for text in texts]  # (lower-casing may change a text's length)
        touched |= _texts_hit(_TRIGGERS, lowered)
        return [self.redact(text) if index in touched else text for index, text in enumerate(texts)]

    def _token_spans(self, tokens: dict[int, set[str]], word: str, offset: int) -> Iterable[tuple[int, int]]:
        """The token secrets in ``word`` (a run of token characters at ``offset``), as spans of the text."""
        built = self._built_token_finder()
        if len(word) > LONG_RUN or built is not None:
            finder = built or self._long_run_finder()
            if finder is not None:
                yield from ((offset + end - len(w) + 1, offset + end + 1) for end, w in finder.iter(word))
            return
        for length, known in tokens.items():
            self._looked_up += max(0, len(word) - length + 1)
            for i in range(len(word) - length + 1):
                if word[i : i + length] in known:
                    yield offset + i, offset + i + length


def _texts_hit(finder: ahocorasick.Automaton, texts: Sequence[str]) -> set[int]:
    """The indexes of the texts in which ``finder`` finds a word, in one pass over the texts joined."""
    joined = _SEPARATOR.join(texts)
    ends = [end for end, _ in finder.iter(joined)]
    if not ends:
        return set()
    starts, position = [], 0
    for text in texts:
        starts.append(position)
        position += len(text) + len(_SEPARATOR)
    return {bisect.bisect_right(starts, end) - 1 for end in ends}


DEFAULT_REDACTOR = Redactor()
"""The process-wide redactor used by the store and the log handler unless one is passed in."""
