"""The Markdown style features of answers, as the arena's style control counts them."""

from __future__ import annotations

import pytest

from inference.tokens import count_tokens
from playground.arena.style import StyleFeatures, style_features

ANSWER = """# Setting up

Some **important** prose with __underlined bold__ and *italics*, not bold.

## Steps

1. Install it
2) Configure **it**
- one
* two
+ three
  - nested

---
* * *

```bash
# a shell comment, not a header
- not a list item
**not bold**
```

~~~
## nor this
~~~

###### Six hashes

####### seven is a paragraph
#hashtag is a paragraph
"""


def test_counts_headers_lists_and_bold_outside_code_blocks() -> None:
    features = style_features(ANSWER)
    assert features.headers == 3
    assert features.lists == 6
    assert features.bold == 3


def test_length_is_the_whole_answers_tokens() -> None:
    assert style_features(ANSWER).length == count_tokens(ANSWER) > 50
    assert style_features("") == StyleFeatures(length=0, headers=0, lists=0, bold=0)


def test_plain_prose_has_no_markdown() -> None:
    features = style_features("Just one sentence - with a dash, 2. a number and a * star.")
    assert (features.headers, features.lists, features.bold) == (0, 0, 0)


def test_bold_needs_text_inside_and_inline_code_is_not_bold() -> None:
    assert style_features("**a** and **b c** and ** spaced ** and ****").bold == 2
    assert style_features("`**code**` but **real** and ``x **y** z``").bold == 1
    assert style_features("__init__ is bold in Markdown, **half").bold == 1


def test_an_unclosed_fence_hides_the_rest_of_the_answer() -> None:
    text = "# Title\n```python\n# comment\n- item\n**b**\n"
    assert style_features(text).headers == 1
    assert style_features(text).lists == 0
    assert style_features(text).bold == 0


def test_a_fence_closes_only_with_its_own_kind_and_length() -> None:
    text = "````\n```\n# inside\n```\n~~~\n# still inside\n````\n# outside\n"
    assert style_features(text).headers == 1


def test_round_trips_through_a_dict() -> None:
    features = style_features(ANSWER)
    assert features.as_dict() == {
        "length": features.length,
        "headers": 3,
        "lists": 6,
        "bold": 3,
    }
    assert StyleFeatures.from_dict(features.as_dict()) == features
    assert StyleFeatures.from_dict({**features.as_dict(), "extra": 1}) == features


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"length": 1, "headers": 0, "lists": 0}, "lack bold"),
        ({"length": -1, "headers": 0, "lists": 0, "bold": 0}, "'length' must be"),
        ({"length": 1, "headers": True, "lists": 0, "bold": 0}, "'headers' must be"),
        ({"length": 1, "headers": 0, "lists": "2", "bold": 0}, "'lists' must be"),
    ],
)
def test_bad_stored_features_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StyleFeatures.from_dict(data)
