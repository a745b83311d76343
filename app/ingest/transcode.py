"""What ingest makes of audio and video (family T): a transcode each browser plays, by FFmpeg.

Run, like :mod:`app.ingest.decode`, in a child process bounded in memory and time
(:mod:`app.ingest.sandbox`): FFmpeg's demuxers and decoders read bytes a stranger chose. The
libraries are FFmpeg's own, through PyAV (the ``av`` package, whose wheel carries them with
libx264, AAC and LAME): nothing to install beside the Python packages, and the same encoders
as the ``ffmpeg`` command line.

The policies (vocabulary: ImageOptimisationPolicy), as the DLCS has them:

- ``video-max``: H.264 video and AAC audio in an MP4, at most 720 lines (the aspect ratio kept,
  never enlarged), its index at the front ("fast start") so that a player starts before the
  end has arrived;
- ``audio-max``: MP3, 128 kbit/s constant, 44.1 kHz.

What was made is probed again (its duration and size are what is recorded, not the origin's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from app.ingest.decode import Inspected, inspect
from app.ingest.errors import IngestError

VIDEO_MAX, AUDIO_MAX = "video-max", "audio-max"
POLICIES = (VIDEO_MAX, AUDIO_MAX)
# What each policy makes: the name of its file, and its media type (the MP3's as DLCS names it,
# and as a manifest's format says it: Chromium plays it).
MADE = {VIDEO_MAX: ("default.mp4", "video/mp4"), AUDIO_MAX: ("default.mp3", "audio/mp3")}
LINES = 720
CRF, PRESET = "23", "veryfast"  # (x264: its default quality, at a quarter of its medium's time)
AUDIO_RATE, MP3_BITS, AAC_BITS = 44_100, 128_000, 128_000


@dataclass(frozen=True)
class Limits:
    """What a transcode may be (from the app's configuration)."""

    max_seconds: float  # the longest duration of an origin (DLCS_AV_MAX_SECONDS)
    threads: int  # threads of each decoder and encoder (DLCS_TRANSCODE_THREADS)
    max_pixels: int  # (what :func:`app.ingest.decode.inspect` refuses of an image)


@dataclass(frozen=True)
class Transcode:
    """One file made of an origin: its name in the work folder and what it is."""

    policy: str
    name: str
    media_type: str
    size: int
    duration: int  # milliseconds
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Transcoded:
    """What :func:`derive` found of the origin and made of it."""

    found: Inspected
    transcodes: tuple[Transcode, ...]


def default_policy(kind: str) -> str:
    """Return the policy an origin of ``kind`` ("video", "audio") is transcoded with."""
    return VIDEO_MAX if kind == "video" else AUDIO_MAX


def derive(origin: str, folder: str, policy: str | None, limits: Limits) -> Transcoded:
    """Transcode the audio or video file ``origin`` into ``folder`` by ``policy`` (None: the
    default for what it holds); fail with an :class:`IngestError` saying why not."""
    with open(origin, "rb") as file:
        found = inspect(file, limits.max_pixels)
    if found.kind == "image":
        raise IngestError(
            f"the origin is {found.media_type}, not audio or video: register it with family I"
        )
    try:
        with av.open(origin, metadata_errors="ignore") as container:
            video, audio = _streams(container)
            duration = _duration(container, video or audio)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise IngestError(f"the origin could not be read as audio or video: {exc}") from exc
    if video is None and audio is None:
        raise IngestError(
            f"the origin ({found.media_type}) holds no audio or video stream that can be "
            "decoded: register it with family F"
        )
    if duration is not None and duration > limits.max_seconds:
        raise IngestError(
            f"the origin lasts {duration:.0f} s, over the limit of {limits.max_seconds:.0f} s "
            "for audio and video (DLCS_AV_MAX_SECONDS)"
        )
    kind = "video" if video is not None else "audio"
    policy = policy or default_policy(kind)
    if policy == VIDEO_MAX and video is None:
        raise IngestError(
            f"the origin holds no video stream, so {VIDEO_MAX} cannot be applied: use {AUDIO_MAX}"
        )
    if policy == AUDIO_MAX and audio is None:
        raise IngestError(
            f"the origin holds no audio stream, so {AUDIO_MAX} cannot be applied: use {VIDEO_MAX}"
        )
    name, media_type = MADE[policy]
    path = Path(folder) / name
    try:
        if policy == VIDEO_MAX:
            _video_max(origin, path, limits)
        else:
            _audio_max(origin, path, limits)
        made = _probe(path, policy, media_type)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, av.error.MemoryError):
            raise MemoryError(str(exc)) from exc  # (as Python's own: the sandbox says it)
        raise IngestError(f"the origin could not be transcoded ({policy}): {exc}") from exc
    return Transcoded(Inspected(found.media_type, kind), (made,))


def _streams(container: Any) -> tuple[Any, Any]:
    # The first video stream (not a cover picture) and the first audio stream with a decoder.
    video = next(
        (
            s
            for s in container.streams.video
            if s.codec_context.codec is not None and not s.disposition & 0x400  # (attached pic)
        ),
        None,
    )
    audio = next((s for s in container.streams.audio if s.codec_context.codec is not None), None)
    return video, audio


def _duration(container: Any, stream: Any) -> float | None:
    # Seconds, as the container says, else as the stream does; None when neither knows.
    if container.duration:
        return float(container.duration) / av.time_base
    if stream is not None and stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _scaled(width: int, height: int, aspect: Fraction | None) -> tuple[int, int]:
    # At most LINES lines, never enlarged, in square pixels of the frame's shape; even sides
    # (4:2:0 halves both).
    shown = width * aspect if aspect else Fraction(width)
    lines = min(height, LINES)
    wide = shown * lines / height
    return max(2, round(wide / 2) * 2), max(2, lines // 2 * 2)


def _threads(stream: Any, limits: Limits) -> None:
    stream.codec_context.thread_count = limits.threads
    stream.thread_type = "AUTO"


def _video_max(origin: str, path: Path, limits: Limits) -> None:
    with av.open(origin, metadata_errors="ignore") as source:
        video, audio = _streams(source)
        _threads(video, limits)
        context = video.codec_context
        aspect = context.sample_aspect_ratio
        width, height = _scaled(context.width, context.height, aspect)
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        options = {"movflags": "+faststart"}
        with av.open(str(path), "w", format="mp4", options=options) as out:
            encoder = out.add_stream("libx264", rate=rate, options={"crf": CRF, "preset": PRESET})
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.codec_context.thread_count = limits.threads
            sound = None
            if audio is not None:
                _threads(audio, limits)
                sound = out.add_stream("aac", rate=min(audio.rate or AUDIO_RATE, 48_000))
                sound.layout = "stereo" if audio.codec_context.channels > 1 else "mono"
                sound.bit_rate = AAC_BITS
            wanted = [video] + ([audio] if audio is not None else [])
            for packet in source.demux(*wanted):
                for frame in packet.decode():
                    if packet.stream is video:
                        frame = frame.reformat(width, height, "yuv420p", interpolation="BICUBIC")
                        out.mux(encoder.encode(frame))
                    elif sound is not None:
                        out.mux(sound.encode(frame))
            out.mux(encoder.encode(None))
            if sound is not None:
                out.mux(sound.encode(None))


def _audio_max(origin: str, path: Path, limits: Limits) -> None:
    with av.open(origin, metadata_errors="ignore") as source:
        _, audio = _streams(source)
        _threads(audio, limits)
        with av.open(str(path), "w", format="mp3") as out:
            encoder = out.add_stream("libmp3lame", rate=AUDIO_RATE)
            encoder.layout = "stereo" if audio.codec_context.channels > 1 else "mono"
            encoder.bit_rate = MP3_BITS
            for packet in source.demux(audio):
                for frame in packet.decode():
                    out.mux(encoder.encode(frame))
            out.mux(encoder.encode(None))


def _probe(path: Path, policy: str, media_type: str) -> Transcode:
    # What was made, read back: its size, its duration and, for video, its frame.
    with av.open(str(path)) as made:
        video, audio = _streams(made)
        seconds = _duration(made, video or audio) or 0.0
        width = video.codec_context.width if video is not None else None
        height = video.codec_context.height if video is not None else None
    return Transcode(
        policy=policy,
        name=path.name,
        media_type=media_type,
        size=os.path.getsize(path),
        duration=round(seconds * 1000),
        width=width,
        height=height,
    )
