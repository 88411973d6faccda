"""Hypothesis strategies shared by the property-based tests of our filters and modules (issue 8)."""

from __future__ import annotations

from hypothesis import strategies as st

INJECTIONS = (
    "'; DROP TABLE users; --",
    '"; DROP TABLE users; --',
    "x); DROP TABLE users; --",
    "public.schema_migrations; DROP TABLE users",
    "users WHERE 1=1",
    "users--",
    "users/*",
    "$$; DROP TABLE users; $$",
    "../../etc/passwd",
    "..",
    "../",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "${jndi:ldap://x}",
    "{{ lookup('pipe', 'id') }}",
    "$(id)",
    "`id`",
    "a b",
    "a;b",
    "a'b",
    'a"b',
    "a\x00b",
    "a\tb",
    "\nusers",
    "Users",
    "ÜSERS",
    "usérs",
    "użytkownicy",
    "пользователи",
    "用户",
    "🔥",
    "\u202eusers",
    "\ufeffusers",
    "1users",
    "x" * 64,
    "x" * 10_000,
)

#: Strings that are no identifier, name or CIDR: injections, unicode, control characters, empty,
#: blank and huge ones.
NASTY_TEXT = st.one_of(
    st.sampled_from(INJECTIONS),
    st.just(""),
    st.text(st.sampled_from(" \t\r\n\x0b\x0c"), min_size=1, max_size=5),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40),
    st.text(st.characters(categories=["Cc", "Zs", "Po", "Sm", "So"]), min_size=1, max_size=20),
    st.integers(300, 5000).map(lambda n: "ä" * n),
)

#: Values of a type no string option takes.
WRONG_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.binary(max_size=10),
)
