"""The one exception type users see.

Anything raised as :class:`ScoreKitError` is a problem with the input (a file, a case, a
region, a rating), not a bug: the command line prints its message on one line and exits 2.
"""

import sys


class ScoreKitError(Exception):
    """Bad input; the message names the file / case / region and what is wrong."""


# How a front end recognises, in a child's one-line error, that TotalSegmentator's weights
# are missing (and offers `scorekit download-weights`).
WEIGHTS_MISSING = "TotalSegmentator weights missing"


def warn(message: str) -> None:
    """One line on stderr for input that is used, but not quite as the file states it."""
    print(f"warning: {message}", file=sys.stderr)


def not_utf8(path, error: UnicodeDecodeError) -> ScoreKitError:
    """The refusal of a text file that is not UTF-8 (a spreadsheet's "CSV" in Latin-1, say)."""
    return ScoreKitError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8")
