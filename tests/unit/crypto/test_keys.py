import pytest

from homeport.crypto.keys import (
    PhraseError,
    did_key,
    keys_from_phrase,
    new_phrase,
    public_key_from_did,
)

PHRASE = " ".join(["abandon"] * 23 + ["art"])  # BIP39's all-zero 256-bit test phrase


def test_the_same_phrase_always_gives_the_same_identity_and_keys() -> None:
    a, b = keys_from_phrase(PHRASE), keys_from_phrase("  " + PHRASE.upper() + "\n")
    assert a == b
    assert did_key(a.root.public_key()) == did_key(b.root.public_key())


def test_each_key_is_derived_separately() -> None:
    keys = keys_from_phrase(PHRASE)
    assert len({keys.root_seed, keys.data_key, keys.object_id_key}) == 3


def test_new_phrases_are_24_words_and_distinct() -> None:
    first, second = new_phrase(), new_phrase()
    assert len(first.split()) == 24
    assert first != second
    assert did_key(keys_from_phrase(first).root.public_key()).startswith("did:key:z6Mk")


def test_did_key_round_trips() -> None:
    key = keys_from_phrase(PHRASE).root.public_key()
    assert did_key(public_key_from_did(did_key(key))) == did_key(key)


@pytest.mark.parametrize(
    ("phrase", "says"),
    [
        ("abandon " * 12, "has 24 words"),
        (" ".join(["abandon"] * 23 + ["zzz"]), "not a recovery-phrase word"),
        (" ".join(["abandon"] * 24), "checksum"),
    ],
)
def test_bad_phrases_are_refused_with_a_reason(phrase: str, says: str) -> None:
    with pytest.raises(PhraseError, match=says):
        keys_from_phrase(phrase)
