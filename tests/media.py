"""Audio, video and documents for the tests, made by FFmpeg's own encoders (PyAV).

Made in formats no browser plays as they are (MPEG-2 video with MPEG audio, PCM in a WAV), so
that what is served can only be a transcode: red on the left half, green on the right, a white
band moving down, and a 440 Hz tone.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 25


def _frame(index: int, width: int, height: int) -> av.VideoFrame:
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (220, 20, 20)
    pixels[:, width // 2 :] = (20, 200, 20)
    top = (index * 4) % max(1, height - 8)
    pixels[top : top + 8] = 255
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
    frame.pts, frame.time_base = index, Fraction(1, RATE)
    return frame


def _tone(start: int, count: int, rate: int, channels: int) -> av.AudioFrame:
    t = (np.arange(count) + start) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    interleaved = np.repeat(samples, channels).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(
        interleaved, format="s16", layout="stereo" if channels == 2 else "mono"
    )
    frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
    return frame


def video(
    path: Path,
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    *,
    container: str = "mpeg",
    codec: str = "mpeg2video",
    sound: str | None = "mp2",
) -> Path:
    """Write a video of ``seconds`` (MPEG-2 in an MPEG program stream, with MPEG audio)."""
    width, height = size
    with av.open(str(path), "w", format=container) as out:
        picture = out.add_stream(codec, rate=RATE)
        picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream(sound, rate=48_000) if sound else None
        if audio is not None:
            audio.layout = "stereo"
        for index in range(round(seconds * RATE)):
            out.mux(picture.encode(_frame(index, width, height)))
        out.mux(picture.encode(None))
        if audio is not None:
            _sound(out, audio, seconds, 48_000, 2)
    return path


def _sound(out: av.container.OutputContainer, audio, seconds: float, rate: int, channels: int):
    # The tone for ``seconds``, encoded a frame of 1152 samples (or the rest) at a time.
    start = 0
    while start < round(seconds * rate):
        count = min(1152, round(seconds * rate) - start)
        out.mux(audio.encode(_tone(start, count, rate, channels)))
        start += count
    out.mux(audio.encode(None))


def wav(path: Path, seconds: float = 2.0, rate: int = 22_050) -> Path:
    """Write a mono 16-bit PCM WAV of ``seconds``."""
    with av.open(str(path), "w", format="wav") as out:
        audio = out.add_stream("pcm_s16le", rate=rate)
        audio.layout = "mono"
        _sound(out, audio, seconds, rate, 1)
    return path


def mp3(path: Path, seconds: float = 2.0) -> Path:
    """Write an MP3 of ``seconds`` (a format family T takes as it comes)."""
    with av.open(str(path), "w", format="mp3") as out:
        audio = out.add_stream("libmp3lame", rate=44_100)
        audio.layout = "stereo"
        _sound(out, audio, seconds, 44_100, 2)
    return path


def pdf(path: Path) -> Path:
    """Write a one-page PDF."""
    from PIL import Image

    Image.new("RGB", (200, 100), (250, 250, 240)).save(path, "PDF")
    return path


def probe(data: bytes, tmp: Path) -> dict[str, object]:
    """Return what the bytes of a served media file are, read by FFmpeg: container, codecs,
    frame size, duration in seconds, the audio's rate and bit rate."""
    path = tmp / "probed"
    path.write_bytes(data)
    with av.open(str(path)) as made:
        found: dict[str, object] = {"format": made.format.name, "duration": made.duration / 1e6}
        for stream in made.streams:
            context = stream.codec_context
            if stream.type == "video":
                found.update(
                    video=context.codec.canonical_name, width=context.width, height=context.height
                )
                found["pix_fmt"] = context.pix_fmt
            elif stream.type == "audio":
                found.update(audio=context.codec.canonical_name, rate=context.sample_rate)
                found["bit_rate"] = context.bit_rate or made.bit_rate
    return found
