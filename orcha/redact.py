"""Keep secrets out of transcripts and logs.

A :class:`Redactor` masks two things: secrets orcha itself knows (tokens it minted, configured keys), and
text that looks like a credential (API keys, bearer tokens, ``password=...``). The store redacts every
transcript line before it is written, and the log handler redacts every record.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Sequence

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


def _trigger_finder() -> ahocorasick.Automaton:
    finder = ahocorasick.Automaton()
    for triggers, _, _ in _PATTERNS:
        for trigger in triggers:
            finder.add_word(trigger, len(trigger))
    finder.make_automaton()
    return finder


_TRIGGERS = _trigger_finder()
"""Every pattern's triggers, found in one pass over lower-cased text."""
_SEPARATOR = "\n"
"""Between the texts of a batch, scanned as one: no known secret contains it (a secret that does is known
line by line)."""


class Redactor:
    """Masks known secrets and credential-shaped text. Thread-safe; secrets may be added and forgotten any time.

    Known secrets are found in one pass over the text whatever their number (an Aho-Corasick automaton,
    rebuilt on the first redaction after the secrets changed): orcha holds one per live session."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._automaton: ahocorasick.Automaton | None = None
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str) -> None:
        """Mask every later occurrence of ``secret`` (ignored when shorter than 6 characters)."""
        if _SEPARATOR in secret:  # e.g. a PEM key: each of its lines is masked on its own
            for part in secret.split(_SEPARATOR):
                self.add_secret(part.strip())
            return
        if len(secret) < 6:
            return
        with self._lock:
            if secret not in self._secrets:
                self._secrets = self._secrets | {secret}
                self._automaton = None

    def forget_secret(self, secret: str) -> None:
        """Stop looking for ``secret`` (it is no longer valid anywhere, e.g. its session ended)."""
        if _SEPARATOR in secret:
            for part in secret.split(_SEPARATOR):
                self.forget_secret(part.strip())
            return
        with self._lock:
            if secret in self._secrets:
                self._secrets = self._secrets - {secret}
                self._automaton = None

    def _finder(self) -> ahocorasick.Automaton | None:
        automaton = self._automaton
        if automaton is None and self._secrets:
            with self._lock:
                if self._automaton is None:
                    built = ahocorasick.Automaton()
                    for secret in self._secrets:
                        built.add_word(secret, len(secret))
                    built.make_automaton()
                    self._automaton = built
                automaton = self._automaton
        return automaton

    def redact(self, text: str) -> str:
        """Return ``text`` with known secrets and credential-shaped substrings masked."""
        finder = self._finder()
        if finder is not None:
            found = list(finder.iter_long(text))  # the longest match at each place, left to right, no overlaps
            for end, length in reversed(found):
                text = text[: end - length + 1] + MASK + text[end + 1 :]
        return _mask_patterns(text)

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """:meth:`redact` of each text, scanning the batch as one text (the common case, no secret and no
        trigger anywhere, costs two C-level scans for the whole batch instead of a dozen per line)."""
        if len(texts) < 2:
            return [self.redact(text) for text in texts]
        lowered = [text.lower() for text in texts]  # (lower-casing may change a text's length)
        touched = _lines_hit(_TRIGGERS, lowered)
        finder = self._finder()
        if finder is not None:
            touched |= _lines_hit(finder, texts)
        return [self.redact(text) if index in touched else text for index, text in enumerate(texts)]


def _lines_hit(finder: ahocorasick.Automaton, texts: Sequence[str]) -> set[int]:
    """The indexes of the texts in which ``finder`` finds a word, in one pass over the texts joined."""
    joined = _SEPARATOR.join(texts)
    ends = list(finder.iter_long(joined))
    if not ends:
        return set()
    starts, position = [], 0
    for text in texts:
        starts.append(position)
        position += len(text) + len(_SEPARATOR)
    return {bisect.bisect_right(starts, end) - 1 for end, _ in ends}


def _mask_patterns(text: str) -> str:
    lowered = text.lower()
    for triggers, pattern, replacement in _PATTERNS:
        if any(trigger in lowered for trigger in triggers):
            text = pattern.sub(replacement, text)
    return text


DEFAULT_REDACTOR = Redactor()
"""The process-wide redactor used by the store and the log handler unless one is passed in."""
