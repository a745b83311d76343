"""Audio, video and files, side by side in one run: the transcode against the ffmpeg command
line, Range reads against lighttpd, and the web workers' memory while clients stream a file.

- transcode: a 1920 x 1080 MPEG-2 video with MPEG audio (60 s; --quick: 6 s), made by PyAV,
  turned into video-max as ingest does it (app.ingest.transcode in the ingest's child process,
  app.ingest.sandbox) and by ``ffmpeg`` doing the same conversion (libx264 CRF 23 veryfast,
  720 lines by a bicubic scale, AAC 128 kbit/s, fast start, the same threads), by turns, the
  median of three. Target: ffmpeg's time / ours >= 0.95.
- Range reads: 1 MB ranges at random places of that transcode, from this server
  (``/iiif-av/...``, gunicorn as the Procfile runs it) and from lighttpd serving the same file
  as a static file, with the same ranges in the same order (wrk). Target: ours / lighttpd >= 0.5.
- memory: a file of 1 GB (--quick: 128 MB) kept as a family F asset and streamed whole by 16
  clients at once: the web workers' resident memory before, at the most, and after.

Usage: ``.venv/bin/python -m bench.av [--quick]``. Needs Debian's ``ffmpeg``, ``lighttpd`` and
``wrk`` (``make ffmpeg wrk iipimage``); without one, its part says so and is left out.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from app.factory import create_app
from app.ingest import sandbox, transcode
from app.storage.db import dispose
from bench.http import RESULTS, answers, rss_megabytes, start, wrk

OURS, STATIC = 18191, 18192
THREADS = 2
CHUNK = 2**20

RANGES = """
math.randomseed(7)
local size, chunk = %d, %d
request = function()
  local first = math.random(0, size - chunk)
  return wrk.format("GET", "%s", {["Range"] = "bytes=" .. first .. "-" .. (first + chunk - 1)})
end
"""


def make_video(path: Path, seconds: float, width: int = 1920, height: int = 1080) -> Path:
    """Write a moving picture with a tone: MPEG-2 and MPEG audio in an MPEG program stream."""
    rate = 25
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w", format="mpeg") as out:
        picture = out.add_stream("mpeg2video", rate=rate)
        picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
        picture.bit_rate = 8_000_000
        sound = out.add_stream("mp2", rate=48_000)
        sound.layout = "stereo"
        for index in range(round(seconds * rate)):
            shift = index * 6
            pixels = np.stack(
                [(xx + shift) % 256, (yy + shift) % 256, (xx + yy) % 256], axis=-1
            ).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
        start_at = 0
        while start_at < seconds * 48_000:
            t = (np.arange(1152) + start_at) / 48_000
            tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(
                np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48_000, start_at
            frame.time_base = Fraction(1, 48_000)
            out.mux(sound.encode(frame))
            start_at += 1152
        out.mux(sound.encode(None))
    return path


def _ours(origin: Path, folder: Path) -> float:
    limits = transcode.Limits(max_seconds=4 * 3600, threads=THREADS, max_pixels=10**9)
    started = time.perf_counter()
    sandbox.run(
        transcode.derive, str(origin), str(folder), transcode.VIDEO_MAX, limits,
        memory=2**30, seconds=3600,
    )  # fmt: skip
    return time.perf_counter() - started


def _ffmpeg(origin: Path, out: Path) -> float:
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-threads", str(THREADS),
        "-i", str(origin), "-map", "0:v:0", "-map", "0:a:0",
        "-vf", "scale=-2:720:flags=bicubic", "-c:v", "libx264", "-preset", transcode.PRESET,
        "-crf", transcode.CRF, "-pix_fmt", "yuv420p", "-threads", str(THREADS),
        "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def transcodes(folder: Path, seconds: float, rounds: int) -> dict[str, Any]:
    """Time video-max as ingest runs it and as the ffmpeg command line does, by turns."""
    origin = make_video(folder / "origin.mpg", seconds)
    report: dict[str, Any] = {"origin": f"1920 x 1080 MPEG-2 + MP2, {seconds:g} s"}
    ours, theirs = [], []
    for n in range(rounds):
        made = folder / f"ours-{n}"
        made.mkdir()
        ours.append(_ours(origin, made))
        if shutil.which("ffmpeg"):
            theirs.append(_ffmpeg(origin, folder / f"ffmpeg-{n}.mp4"))
    report["ours_s"] = round(statistics.median(ours), 2)
    report["ours_bytes"] = (folder / "ours-0" / "default.mp4").stat().st_size
    if theirs:
        report["ffmpeg_s"] = round(statistics.median(theirs), 2)
        report["ffmpeg_bytes"] = (folder / "ffmpeg-0.mp4").stat().st_size
        version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
        report["ffmpeg"] = version.split("\n", 1)[0]
    report["ours_ffmpeg"] = f"FFmpeg {av.ffmpeg_version_info} (PyAV {av.__version__})"
    return report


def ingest(folder: Path, video: Path, size: int) -> dict[str, Any]:
    """Register the video (family T) and a file of ``size`` bytes (family F) from file:
    origins, ingest both; return the server's settings and the paths to read."""
    big = folder / "big.bin"
    with big.open("wb") as out:
        block = os.urandom(CHUNK)
        for _ in range(size // CHUNK):
            out.write(block)
    database = f"sqlite:///{folder / 'bench.sqlite3'}"
    storage = folder / "storage"
    config = {
        "DATABASE_URL": database,
        "STORAGE_DIR": str(storage),
        "ORIGIN_FILE_DIRS": [str(folder)],
        "ORIGIN_MAX_BYTES": 2 * size,
        "EMBEDDED_WORKER": False,
    }
    app = create_app(config)
    made = json.loads(app.test_cli_runner().invoke(args=["customer", "create", "b"]).output)
    token = base64.b64encode(f"{made['key']}:{made['secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    client, c = app.test_client(), made["id"]
    client.put(f"/customers/{c}/spaces/1", json={"name": "s"}, headers=headers)
    for name, family, path in (("film", "T", video), ("big", "F", big)):
        body = {"origin": path.as_uri(), "family": family}
        client.put(f"/customers/{c}/spaces/1/images/{name}", json=body, headers=headers)
    app.extensions["dlcs.queue"].drain()
    made_file = next(storage.rglob("default.mp4"))
    dispose(app)
    big.unlink()
    env = {
        "DATABASE_URL": database,
        "DLCS_STORAGE_DIR": str(storage),
        "DLCS_AUTO_MIGRATE": "false",
        "DLCS_EMBEDDED_WORKER": "false",
    }
    return {
        "env": env,
        "transcode": made_file,
        "video": f"/iiif-av/{c}/1/film/full/full/max/max/0/default.mp4",
        "file": f"/file/{c}/1/big",
    }


def start_lighttpd(folder: Path, root: Path) -> subprocess.Popen | None:
    """Start lighttpd serving ``root`` as static files, or None when it is not installed."""
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    if not Path(lighttpd).exists():
        return None
    config = folder / "static.conf"
    config.write_text(
        f'server.port = {STATIC}\nserver.bind = "127.0.0.1"\n'
        f'server.document-root = "{root}"\nserver.errorlog = "{folder}/static.log"\n'
        'mimetype.assign = (".mp4" => "video/mp4")\n'
    )
    process = subprocess.Popen([lighttpd, "-D", "-f", str(config)])
    return process if answers(f"http://127.0.0.1:{STATIC}/default.mp4", process, 20) else None


def ranges(folder: Path, port: int, path: str, size: int, seconds: float) -> dict[str, Any]:
    """Drive one server with wrk: 1 MB ranges of ``path`` at random places."""
    script = folder / f"ranges-{port}.lua"
    script.write_text(RANGES % (size, CHUNK, path))
    return wrk(f"http://127.0.0.1:{port}{path}", seconds, {}, str(script))


def streamed(master: subprocess.Popen, url: str, clients: int) -> dict[str, Any]:
    """Have ``clients`` read ``url`` whole at once; the workers' memory before, at the most
    while they read, and after."""
    before = rss_megabytes(master)
    peak = list(before)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            for n, size in enumerate(rss_megabytes(master)):
                if n < len(peak):
                    peak[n] = max(peak[n], size)

    def read() -> None:
        with urllib.request.urlopen(url, timeout=600) as got:
            while got.read(CHUNK):
                pass

    sampler = threading.Thread(target=sample)
    sampler.start()
    readers = [threading.Thread(target=read) for _ in range(clients)]
    started = time.perf_counter()
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    took = time.perf_counter() - started
    done.set()
    sampler.join()
    return {
        "clients": clients,
        "seconds": round(took, 2),
        "rss_mb": {"before": before, "most": peak, "after": rss_megabytes(master)},
    }


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark; return the report."""
    seconds, rounds, size = (6.0, 1, 128 * CHUNK) if quick else (60.0, 3, 1024 * CHUNK)
    with tempfile.TemporaryDirectory(prefix="dlcs-bench-av-") as name:
        folder = Path(name)
        report: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "transcode": transcodes(folder, seconds, rounds),
        }
        served = ingest(folder, folder / "origin.mpg", size)
        server = start(OURS, "wsgi:app", served["env"])
        static = start_lighttpd(folder, served["transcode"].parent)
        try:
            length = served["transcode"].stat().st_size
            runs: dict[str, list[dict[str, Any]]] = {"ours": []}
            if static is not None and shutil.which("wrk"):
                runs["lighttpd"] = []
                for _ in range(rounds):
                    runs["ours"].append(ranges(folder, OURS, served["video"], length, 5))
                    runs["lighttpd"].append(ranges(folder, STATIC, "/default.mp4", length, 5))
                report["ranges"] = {
                    who: {
                        "rps": round(statistics.median(r["rps"] for r in got), 1),
                        "p50_ms": statistics.median(r["p50_ms"] for r in got),
                        "p99_ms": statistics.median(r["p99_ms"] for r in got),
                        "failed": sum(r["failed"] for r in got),
                    }
                    for who, got in runs.items()
                }
                report["ranges"]["file_bytes"] = length
            url = f"http://127.0.0.1:{OURS}{served['file']}"
            report["stream"] = {"bytes": size, **streamed(server, url, 16)}
        finally:
            for process in (server, static):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
    report["targets"] = _targets(report)
    return report


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    made = report["transcode"]
    if "ffmpeg_s" in made:
        targets["transcode: ffmpeg's time / ours >= 0.95"] = round(
            made["ffmpeg_s"] / made["ours_s"], 3
        )
    if "ranges" in report:
        found = report["ranges"]
        targets["1 MB ranges: ours / lighttpd >= 0.5"] = round(
            found["ours"]["rps"] / found["lighttpd"]["rps"], 3
        )
    return targets


def show(report: dict[str, Any]) -> None:
    """Print a report."""
    made = report["transcode"]
    print(f"\ntranscode, video-max, of {made['origin']} ({THREADS} threads)")
    for who, said in (("ours", "ours_ffmpeg"), ("ffmpeg", "ffmpeg")):
        if f"{who}_s" in made:
            took, size = made[f"{who}_s"], made[f"{who}_bytes"]
            print(f"  {who:6} {took:8.2f} s {size:>12,} bytes  {made[said]}")
    if "ffmpeg_s" not in made:
        print("  ffmpeg is not installed (make ffmpeg): not compared")
    if "ranges" in report:
        print(f"1 MB ranges of the transcode ({report['ranges']['file_bytes']:,} bytes), wrk -c16")
        for who in ("ours", "lighttpd"):
            r = report["ranges"][who]
            failed = f"  FAILED {r['failed']}" if r["failed"] else ""
            print(f"  {who:18} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                  f"p99 {r['p99_ms']:.2f} ms{failed}")  # fmt: skip
    else:
        print("lighttpd or wrk is not installed (make iipimage wrk): ranges not compared")
    stream = report["stream"]
    print(f"{stream['clients']} clients reading a file of {stream['bytes']:,} bytes whole: "
          f"{stream['seconds']} s; web workers' RSS (MB) {stream['rss_mb']}")  # fmt: skip
    for target, value in report["targets"].items():
        print(f"  {target:44} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short video, one round (CI)")
    args = parser.parse_args()
    report = run(args.quick)
    show(report)
    RESULTS.mkdir(exist_ok=True)
    name = "av-quick.json" if args.quick else "av.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
