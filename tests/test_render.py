"""Broadcast WAV output: the 24-bit/48 kHz files, their bext chunk, atomic writes and stem mixing."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from otio_dub.audio.bwf import BwfWriter, Placement, mix_blocks, mix_spans, render_stem, to_int24, write_bwf

LSB = 1.0 / 2**23


def noise(n: int, seed: int = 0, amp: float = 0.9) -> np.ndarray:
    return (np.random.default_rng(seed).uniform(-amp, amp, n)).astype(np.float32)


def check_bwf(tools, path, frames: int, time_reference: int) -> np.ndarray:
    """Common checks of a mono BWF written by otio-dub; returns its samples."""
    info = sf.info(str(path))
    assert info.samplerate == 48000
    assert info.channels == 1
    assert info.subtype == "PCM_24"
    assert info.frames == frames
    chunks = tools.riff_chunks(path)
    assert "bext" in chunks
    assert "fmt " in chunks and "data" in chunks
    assert len(chunks["data"]) == frames * 3
    fmt = tools.fmt_of(path)
    assert fmt["format_tag"] == 1
    assert fmt["bits"] == 24
    assert fmt["channels"] == 1
    assert fmt["sample_rate"] == 48000
    assert fmt["block_align"] == 3
    assert fmt["byte_rate"] == 48000 * 3
    assert tools.bext_time_reference(path) == time_reference
    return tools.read_wav(path)


@pytest.mark.parametrize("frames", [48000, 4801, 1, 0])  # odd sizes need a RIFF pad byte
def test_write_bwf_roundtrip(tools, tmp_path, frames):
    audio = noise(frames, seed=frames)
    path = write_bwf(tmp_path / "line.wav", audio, 172_972_800, description="ANNA: Hello")
    assert path == tmp_path / "line.wav"
    back = check_bwf(tools, path, frames, 172_972_800)
    assert back.size == frames
    if frames:
        assert np.max(np.abs(back - audio.astype(np.float64))) <= LSB * 1.0001
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("reference", [0, 1, 2**32 - 1, 2**32, 2**32 + 12345, 5 * 2**32 + 7, 24 * 3600 * 48000 - 1])
def test_bext_time_reference(tools, tmp_path, reference):
    path = write_bwf(tmp_path / "ref.wav", np.zeros(10, dtype=np.float32), reference)
    assert tools.bext_time_reference(path) == reference
    body = tools.riff_chunks(path)["bext"]
    low, high = struct.unpack_from("<II", body, tools.BEXT_TIME_REFERENCE_OFFSET)
    assert (low, high) == (reference & 0xFFFFFFFF, reference >> 32)


def test_bext_description_and_version(tools, tmp_path):
    path = write_bwf(tmp_path / "desc.wav", np.zeros(4, dtype=np.float32), 0, description="MARCUS: I know.")
    body = tools.riff_chunks(path)["bext"]
    assert len(body) == 602
    assert body[:256].rstrip(b"\0") == b"MARCUS: I know."
    assert body[256:288].rstrip(b"\0") == b"otio-dub"
    version = struct.unpack_from("<H", body, tools.BEXT_TIME_REFERENCE_OFFSET + 8)[0]
    assert version == 1


def test_bwf_writer_streams_blocks(tools, tmp_path):
    audio = noise(10_001, seed=3)
    path = tmp_path / "sub" / "streamed.wav"
    with BwfWriter(path, 2**33 + 5, description="stream") as out:
        assert not path.exists()  # nothing appears under the final name until close
        for start in range(0, audio.size, 777):
            out.write(audio[start:start + 777])
        assert out.frames == audio.size
    back = check_bwf(tools, path, audio.size, 2**33 + 5)
    assert np.max(np.abs(back - audio)) <= LSB * 1.0001
    assert sorted(p.name for p in path.parent.iterdir()) == ["streamed.wav"]


def test_full_scale_is_clipped_not_wrapped(tools, tmp_path):
    audio = np.array([1.0, -1.0, 1.5, -1.5, 0.5, -0.5], dtype=np.float32)
    back = tools.read_wav(write_bwf(tmp_path / "clip.wav", audio, 0))
    np.testing.assert_allclose(back, [1 - LSB, -1.0, 1 - LSB, -1.0, 0.5, -0.5], atol=LSB * 1.0001)
    assert to_int24(np.array([0.5], dtype=np.float32)) == (4194304).to_bytes(3, "little")


def test_exception_inside_writer_leaves_nothing(tmp_path):
    path = tmp_path / "broken.wav"
    with pytest.raises(RuntimeError, match="boom"):
        with BwfWriter(path, 0) as out:
            out.write(noise(1000))
            raise RuntimeError("boom")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_exception_does_not_replace_an_existing_file(tools, tmp_path):
    path = write_bwf(tmp_path / "keep.wav", np.full(100, 0.25, dtype=np.float32), 42)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        with BwfWriter(path, 0) as out:
            out.write(noise(5000))
            raise ValueError("interrupted")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


# --- render_stem -----------------------------------------------------------------------------


def _line_file(tmp_path, name: str, audio: np.ndarray):
    path = write_bwf(tmp_path / "media" / f"{name}.wav", audio, 0)
    return path


@pytest.mark.parametrize("block", [1000, 1 << 18, 7])
def test_render_stem_mixes_placements_at_their_samples(tools, tmp_path, block):
    a = noise(2500, seed=1, amp=0.4)
    b = noise(1800, seed=2, amp=0.4)
    pa = _line_file(tmp_path, "a", a)
    pb = _line_file(tmp_path, "b", b)
    a_q, b_q = tools.read_wav(pa), tools.read_wav(pb)  # what the stem actually mixes
    total = 5321  # not a multiple of the block
    placements = [
        Placement(pb, 2999, 1800),  # listed out of order: the renderer sorts
        Placement(pa, 1000, 2500),  # overlaps b on 2999..3500
    ]
    stem = render_stem(tmp_path / "stems" / "S.wav", placements, total, 123_456_789, block=block)
    expected = np.zeros(total)
    expected[1000:3500] += a_q
    expected[2999:4799] += b_q
    got = check_bwf(tools, stem, total, 123_456_789)
    assert np.max(np.abs(got - expected)) <= 1.5 * LSB
    assert np.all(got[:1000] == 0) and np.all(got[4799:] == 0)
    # first sample of each placement lands exactly where asked
    assert got[1000] == pytest.approx(a_q[0], abs=1.5 * LSB)
    assert got[4798] == pytest.approx(b_q[-1], abs=1.5 * LSB)
    assert not list((tmp_path / "stems").glob("*.part"))


def test_render_stem_cuts_at_total_and_honours_length_and_gain(tools, tmp_path):
    a = noise(3000, seed=5, amp=0.5)
    pa = _line_file(tmp_path, "a", a)
    a_q = tools.read_wav(pa)
    total = 4321
    placements = [
        Placement(pa, 0, 1200, gain=0.5),  # only the first 1200 samples of the file are laid
        Placement(pa, 2500, 3000),  # runs past the end: cut at total
    ]
    got = tools.read_wav(render_stem(tmp_path / "cut.wav", placements, total, 0, block=1000))
    expected = np.zeros(total)
    expected[0:1200] += 0.5 * a_q[:1200]
    expected[2500:] += a_q[: total - 2500]
    assert got.size == total
    assert np.max(np.abs(got - expected)) <= 1.5 * LSB


def test_render_stem_long_placement_across_many_blocks(tools, tmp_path):
    """A placement that starts several blocks before the current one must still be mixed."""
    short = noise(50, seed=8, amp=0.3)
    long = noise(9000, seed=9, amp=0.3)
    ps, pl = _line_file(tmp_path, "s", short), _line_file(tmp_path, "l", long)
    s_q, l_q = tools.read_wav(ps), tools.read_wav(pl)
    total = 10_500
    placements = [Placement(pl, 100, 9000), Placement(ps, 4000, 50), Placement(ps, 9500, 50)]
    got = tools.read_wav(render_stem(tmp_path / "long.wav", placements, total, 0, block=1000))
    expected = np.zeros(total)
    expected[100:9100] += l_q
    expected[4000:4050] += s_q
    expected[9500:9550] += s_q
    assert np.max(np.abs(got - expected)) <= 1.5 * LSB


def test_render_stem_without_placements_is_silence(tools, tmp_path):
    stem = render_stem(tmp_path / "empty.wav", [], 3001, 77, block=1000)
    got = check_bwf(tools, stem, 3001, 77)
    assert np.all(got == 0)


def test_write_silence_reads_back_as_zeros_and_keeps_the_file_whole(tools, tmp_path):
    """Silence is skipped over, not computed; the file still has every sample, at the end too."""
    a = noise(1001, seed=4, amp=0.5)
    path = tmp_path / "gaps.wav"
    with BwfWriter(path, 5) as out:
        out.write_silence(48_000)
        out.write(a)
        out.write_silence(7)
        out.write(a)
        out.write_silence(3)  # ends in silence: the file is extended to full length at close
    got = check_bwf(tools, path, 48_000 + 1001 + 7 + 1001 + 3, 5)
    a_q = np.rint(a * 2**23) / 2**23
    assert np.all(got[:48_000] == 0) and np.all(got[-3:] == 0) and np.all(got[49_001:49_008] == 0)
    np.testing.assert_allclose(got[48_000:49_001], a_q, atol=LSB)
    np.testing.assert_allclose(got[49_008:50_009], a_q, atol=LSB)
    dense = tmp_path / "dense" / "gaps.wav"
    with BwfWriter(dense, 5) as out:
        out.write(np.concatenate([np.zeros(48_000), a, np.zeros(7), a, np.zeros(3)]).astype(np.float32))
    assert path.read_bytes() == dense.read_bytes()


@pytest.mark.parametrize("block", [1000, 240_000])
def test_mix_spans_covers_the_programme_and_silence_comes_whole(tmp_path, block):
    a, b = noise(2500, seed=1, amp=0.4), noise(1800, seed=2, amp=0.4)
    pa, pb = _line_file(tmp_path, "a", a), _line_file(tmp_path, "b", b)
    groups = [[Placement(pa, 1000, 2500), Placement(pa, 20_000, 2500)], [Placement(pb, 3500, 1800, gain=0.0),
                                                                         Placement(pb, 3500, 1800)]]
    spans = list(mix_spans(groups, 30_000, block))
    assert spans[0][0] == 0 and sum(n for _, _, n in spans) == 30_000
    assert all(b0 + n == nxt for (b0, _, n), (nxt, _, _) in zip(spans, spans[1:], strict=False))
    silent = [(b0, n) for b0, buf, n in spans if buf is None]
    assert silent == [(0, 1000), (5300, 14_700), (22_500, 7500)]  # touching lines are one sounding stretch
    dense = np.concatenate([buf for _, buf in mix_blocks(groups, 30_000, block)], axis=1)
    sparse = np.concatenate([buf if buf is not None else np.zeros((2, n), np.float32) for _, buf, n in spans], axis=1)
    np.testing.assert_array_equal(dense, sparse)
