"""What makes two options look alike to a summed log-likelihood, for choosing distractors of the
same shape as the right answer."""

from __future__ import annotations

from collections.abc import Sequence


def shape(name: str) -> tuple[int, int]:
    """What makes two options look alike to a summed log-likelihood: a number's digit count
    (0 words), or a name's word count and length (capped, so only short codes are told apart)."""
    if name.isdigit():
        return (0, len(name))
    return (len(name.split()), min(len(name), 4))


def same_shape(pool: Sequence[str], like: str, minimum: int = 4) -> tuple[str, ...]:
    """`pool` narrowed to names shaped like `like` (same digit count for numbers; same word count,
    then same short length), each narrowing kept only while it leaves `minimum` candidates."""
    want = shape(like)
    if like.isdigit():
        same = tuple(x for x in pool if x.isdigit() and len(x) == want[1])
        return same if len(same) >= minimum else tuple(pool)
    words = tuple(x for x in pool if not x.isdigit() and len(x.split()) == want[0])
    if len(words) < minimum:
        return tuple(pool)
    exact = tuple(x for x in words if shape(x) == want)
    return exact if len(exact) >= minimum else words
