"""A hand-written guide to functools whose every fact is checked against its page, for the
docwriting tests (each test plants one fault in it)."""

PAGE = "library/functools.html"
GUIDE = f"""# A guide to functools

`functools` holds higher-order functions ([the functools page]({PAGE})).

## Main functions

| Function | Signature | Added in | Source |
|---|---|---|---|
| `cache` | `cache(user_function)` | 3.9 | [docs]({PAGE}#functools.cache) |
| `lru_cache` | `lru_cache(maxsize=128, typed=False)` | 3.2 | [docs]({PAGE}#functools.lru_cache) |
| `cmp_to_key` | `cmp_to_key(func)` | 3.2 | [docs]({PAGE}) |
| `reduce` | `functools.reduce(function, iterable[, initializer])` | - | [docs]({PAGE}) |
| `wraps` | `wraps(wrapped, assigned=WRAPPER_ASSIGNMENTS, updated=WRAPPER_UPDATES)` | - | \
[docs]({PAGE}) |
| `total_ordering` | `@total_ordering` | 3.2 | [docs]({PAGE}) |

## Notes

`cache` is `lru_cache(maxsize=None)`, as the page says.
"""
