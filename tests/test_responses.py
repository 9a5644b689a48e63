"""Voice duration responses stored beside the render cache: measured once, read back exactly."""

from __future__ import annotations

import json
import threading
import time

from otio_dub.speech.responses import stored_curve

CURVE = ((0.7, 1.3812345678901234), (1.0, 1.0), (1.45, 0.7123456789012345))


def counting(curve=CURVE, delay: float = 0.0):
    calls = []

    def measure():
        calls.append(1)
        time.sleep(delay)
        return curve

    return measure, calls


def test_a_curve_is_measured_once_and_read_back_bit_for_bit(tmp_path):
    measure, calls = counting()
    assert stored_curve(tmp_path, "k1", measure) == CURVE
    again = stored_curve(tmp_path, "k1", measure)
    assert again == CURVE and calls == [1]  # floats survive JSON exactly: the same takes follow
    assert stored_curve(tmp_path, "k2", measure) == CURVE and calls == [1, 1]  # another key is another voice


def test_a_voice_without_a_response_is_remembered_as_such(tmp_path):
    measure, calls = counting(curve=None)
    assert stored_curve(tmp_path, "k", measure) is None
    assert stored_curve(tmp_path, "k", measure) is None and calls == [1]


def test_a_damaged_or_implausible_file_is_measured_again_and_replaced(tmp_path):
    path = tmp_path / "responses" / "k.json"
    path.parent.mkdir()
    for bad in ("{", "[]", '{"curve": [[1.0, 1.0]]}', '{"curve": [[0.7, 0.9], [1.0, 1.0]]}',
                '{"curve": [[0.7, "x"], [1.0, 1.0]]}', '{"curve": [[0.7, 1.2], [1.2, 0.8]]}'):
        path.write_text(bad)
        measure, calls = counting()
        assert stored_curve(tmp_path, "k", measure) == CURVE and calls == [1], bad
        assert json.loads(path.read_text())["curve"] == [list(p) for p in CURVE]


def test_an_unusable_folder_means_measuring_in_memory(tmp_path):
    (tmp_path / "responses").write_text("not a folder")
    measure, calls = counting()
    assert stored_curve(tmp_path, "k", measure) == CURVE
    assert stored_curve(tmp_path, "k", measure) == CURVE and calls == [1, 1]
    assert stored_curve(None, "k", measure) == CURVE and calls == [1, 1, 1]  # no cache: nothing stored


def test_processes_wanting_the_same_voice_measure_it_once(tmp_path):
    measure, calls = counting(delay=0.5)
    found = []
    threads = [threading.Thread(target=lambda: found.append(stored_curve(tmp_path, "k", measure))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [CURVE] * 3 and calls == [1]
