"""The form decoding of Slack's interaction bodies gives what parse_qsl gives, for any body."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.app import form_fields

# Bodies made of the characters that matter to form decoding, non-ASCII and broken escapes included.
raw = st.text(alphabet=st.sampled_from(list("payload=&%+\\x0123456789abcdefABCDEFgz {}\"é\u20ac\x00\n")),
              max_size=60)


@settings(max_examples=500, deadline=None, database=None)
@given(body=st.one_of(raw, raw.map(lambda t: "payload=" + t)))
def test_any_body_decodes_as_parse_qsl_does(body: str) -> None:
    assert form_fields(body) == dict(parse_qsl(body, keep_blank_values=True))


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text(max_size=200))
def test_an_encoded_payload_comes_back_whole(text: str) -> None:
    """What Slack sends: one field, any text URL-encoded (emoji, quotes, backslashes, `%`)."""
    assert form_fields("payload=" + quote_plus(text)) == {"payload": text}


def test_a_typical_interaction() -> None:
    text = '{"type":"block_actions","text":"Refund `$120` to <@U1> \\u2014 \\"ok\\" ü"}'
    body = "payload=" + quote_plus(text)
    assert form_fields(body) == dict(parse_qsl(body, keep_blank_values=True)) == {"payload": text}
    # Several fields: parse_qsl's answer (the last one wins).
    assert form_fields("payload=%7B%7D&payload=%5B%5D") == {"payload": "[]"}
