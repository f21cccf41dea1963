"""How hard a passphrase is to guess, estimated by ``zxcvbn`` (Dropbox's estimator: dictionaries, names,
keyboard patterns, dates, l33t substitutions), so that a front end can warn before a weak one seals the keys.

The key store is sealed by Argon2id, which makes each guess cost about half a second on a laptop; the score
still matters because someone holding a copy of the key store (a stolen laptop, a backup) can guess offline
for as long as they like, and people choose guessable passphrases ("abc", "password1", a pet's name).
"""

from __future__ import annotations

from dataclasses import dataclass

from zxcvbn import zxcvbn

MIN_PASSPHRASE_SCORE = 3
"""The lowest acceptable zxcvbn score (0-4). 3 is "safely unguessable" (about 10^10 guesses): with Argon2id at
about half a second per guess that is over a century for one attacker's machine; 2 and below (10^8 guesses)
falls to a modest cluster within weeks."""

MAX_SCORED_CHARS = 100
"""Only the first 100 characters are scored: zxcvbn's matching grows fast with length, and a passphrase that
long is not the weak one this check is for."""


@dataclass(frozen=True, slots=True)
class PassphraseStrength:
    """zxcvbn's estimate: ``score`` 0 (trivial) to 4 (very strong), ``guesses_log10`` the estimated number of
    guesses (base-10 logarithm), and advice in plain words. Never holds or shows the passphrase itself."""

    score: int
    guesses_log10: float
    warning: str
    suggestions: tuple[str, ...]

    @property
    def acceptable(self) -> bool:
        """At least :data:`MIN_PASSPHRASE_SCORE`."""
        return self.score >= MIN_PASSPHRASE_SCORE

    def describe(self) -> str:
        """One line: the score, roughly how many guesses, and zxcvbn's warning and first suggestion."""
        advice = " ".join(part for part in (self.warning, *self.suggestions[:1]) if part)
        line = f"strength {self.score} of 4 (about 10^{int(self.guesses_log10)} guesses)"
        return f"{line}; {advice}" if advice else line


def passphrase_strength(passphrase: str, *, user_inputs: tuple[str, ...] = ()) -> PassphraseStrength:
    """Estimate how hard ``passphrase`` is to guess; ``user_inputs`` are words an attacker would try first
    (the person's name, the relay's host)."""
    result = zxcvbn(passphrase[:MAX_SCORED_CHARS], user_inputs=[u[:MAX_SCORED_CHARS] for u in user_inputs if u])
    feedback = result.get("feedback") or {}
    return PassphraseStrength(
        int(result["score"]),
        float(result["guesses_log10"]),
        str(feedback.get("warning") or ""),
        tuple(str(s) for s in feedback.get("suggestions") or ()),
    )


__all__ = ["MIN_PASSPHRASE_SCORE", "PassphraseStrength", "passphrase_strength"]
