"""Failure fingerprints: one cause, one fingerprint, whatever the instance, address or count."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_provlog.exporter.fingerprints import (
    FINGERPRINT_LENGTH,
    NO_MESSAGE,
    PATTERN_LENGTH,
    error_pattern,
    fingerprint,
    fingerprint_message,
)

PY_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/opt/engine/ssh.py", line {line}, in wait\n'
    "    sock.connect(addr)\n"
    "TimeoutError: [Errno 110] Connection timed out to {ip}:22"
)


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        (
            "SSH to 10.0.0.12:22 timed out after 300s (instance worker-017)",
            "SSH to <ip>:<port> timed out after <n>s (instance <name>)",
        ),
        (
            "Quota exceeded for resource 'cores': requested 16, available 4",
            "Quota exceeded for resource 'cores': requested <n>, available <n>",
        ),
        (
            "Instance 3f2b1c9a-1111-4a2b-9c3d-0123456789ab failed: [Errno 113] No route to host",
            "Instance <uuid> failed: [Errno <n>] No route to host",
        ),
        (
            "cannot open /var/lib/hadoop/hdfs/dn1: permission denied",
            "cannot open <path>: permission denied",
        ),
        ("HTTP 503 from https://nova:8774/v2.1/servers/abc", "HTTP <n> from <url>"),
        ("request req-9f1b2c3d4e5f failed at 0x7f3a2b", "request <name> failed at <hex>"),
        ('volume "vol-0001" not found', 'volume "<str>" not found'),
        ("IPv6 [2001:db8::5]:8080 refused", "IPv6 <ip>:<port> refused"),
        ("no route to fe80::1 from EC2", "no route to <ip> from EC2"),
        ("disk 1.5GB used of 3.25 GiB at 12:30:45", "disk <n>GB used of <n> GiB at <n>:<n>:<n>"),
        ("image deadbeef0042 missing", "image <hex> missing"),
        ("  Connection\n\n  refused  ", "Connection refused"),
        (
            "java.net.ConnectException: Connection refused\n"
            "\tat com.example.Ssh.open(Ssh.java:42)\n\t... 3 more",
            "java.net.ConnectException: Connection refused",
        ),
        (
            PY_TRACEBACK.format(line=88, ip="10.1.2.3"),
            "TimeoutError: [Errno <n>] Connection timed out to <ip>:<port>",
        ),
        (None, NO_MESSAGE),
        ("", NO_MESSAGE),
    ],
)
def test_error_pattern_replaces_particulars(message, pattern):
    """Ids, addresses, paths, names and numbers become placeholders; the words stay."""
    assert error_pattern(message) == pattern


@pytest.mark.parametrize(
    "messages",
    [
        [
            "SSH to 10.0.0.12:22 timed out after 300s (instance worker-017)",
            "SSH to 192.168.4.200:2222 timed out after 45s (instance worker-3)",
        ],
        [
            "Quota exceeded for instances: requested 1000, limit 500, used 480",
            "Quota exceeded for instances: requested 10, limit 20, used 15",
        ],
        [
            PY_TRACEBACK.format(line=88, ip="10.1.2.3"),
            PY_TRACEBACK.format(line=91, ip="10.9.8.7"),
        ],
        [
            "Node hadoop-cluster-1-master-001.novalocal did not answer",
            "Node hadoop-cluster-2-worker-117.novalocal did not answer",
        ],
    ],
)
def test_one_cause_has_one_fingerprint(messages):
    """Failures that differ only in their particulars share one fingerprint."""
    assert len({fingerprint_message(message)[0] for message in messages}) == 1


def test_different_causes_have_different_fingerprints():
    """A quota error and a timeout, or quotas of two resources, are not grouped together."""
    messages = [
        "SSH to 10.0.0.12:22 timed out after 300s",
        "Quota exceeded for resource 'cores': requested 16",
        "Quota exceeded for resource 'ram': requested 16",
        "Connection refused",
    ]
    assert len({fingerprint_message(message)[0] for message in messages}) == len(messages)


def test_fingerprint_is_short_hex_of_the_whole_pattern():
    """The fingerprint is stable hex; a long pattern is cut but hashed whole."""
    assert fingerprint("Connection refused") == fingerprint("Connection refused")
    assert len(fingerprint("x")) == FINGERPRINT_LENGTH
    assert int(fingerprint("x"), 16) >= 0
    head = "failed " * 100
    one, two = fingerprint_message(head + "alpha"), fingerprint_message(head + "beta")
    assert one[1] == two[1]
    assert len(one[1]) == PATTERN_LENGTH
    assert one[0] != two[0]


@given(st.text(max_size=300))
def test_any_text_has_a_bounded_pattern_and_a_fingerprint(message):
    """No message fails: the pattern is bounded, one line, and stable."""
    found, pattern = fingerprint_message(message)
    assert len(found) == FINGERPRINT_LENGTH
    assert 0 < len(pattern) <= PATTERN_LENGTH
    assert "\n" not in pattern
    assert fingerprint_message(message) == (found, pattern)
