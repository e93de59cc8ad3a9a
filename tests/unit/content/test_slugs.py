from homeport.content.slugs import candidates, slugify, valid_slug


def test_slugify_folds_accents_and_punctuation() -> None:
    assert slugify("Héllo, World! — Ça va?") == "hello-world-ca-va"


def test_slugify_falls_back_when_nothing_is_left() -> None:
    assert slugify("!!!", fallback="note") == "note"


def test_slugs_are_bounded_in_length() -> None:
    assert len(slugify("word " * 100)) <= 60


def test_candidates_number_the_base_and_avoid_reserved_names() -> None:
    assert candidates("hello")[:3] == ["hello", "hello-2", "hello-3"]
    assert candidates("tags")[0] == "tags-1"


def test_reserved_and_malformed_slugs_are_invalid() -> None:
    assert valid_slug("my-post")
    assert not valid_slug("tags")
    assert not valid_slug("Has Space")
    assert not valid_slug("-dash")
