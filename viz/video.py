"""An episode of a recorded run as a GIF or MP4: `steve export-video`.

Headless: the frames come from the same renderer as the viewer (`viz.render`), no window is
opened. A GIF is written with Pillow (a dependency of matplotlib, always there); an MP4 with
imageio and its ffmpeg plugin (`pip install imageio imageio-ffmpeg`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from viz.render import Chrome, render_frame
from viz.replay import RunReplay


def episode_images(
    replay: RunReplay, episode: str | int, *, scale: float = 1.0
) -> list[NDArray[np.uint8]]:
    """The rendered frames of one episode (one per subgoal attempt)."""
    first = replay.index_of(episode, 0)
    e = replay.episode_of(first)
    frames = replay.episode_frames(replay.episodes[e])
    out = []
    for i, frame in enumerate(frames):
        chrome = Chrome(
            mode="video",
            playing=True,
            cursor=first + i,
            total=len(replay),
            starts=replay.starts,
        )
        out.append(_scaled(render_frame(frame, chrome), scale))
    return out


def export_episode(
    run_dir: str | Path,
    episode: str | int,
    out: str | Path,
    *,
    fps: float = 2.0,
    scale: float = 1.0,
    hold_last: int = 3,
    regenerate: bool = True,
) -> Path:
    """Write one episode of a run to `out` (.gif or .mp4); returns the path.

    `fps` is subgoal attempts per second; the last frame is held `hold_last` frames longer so
    the episode's end can be read before a GIF loops."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{out}: the video must end in .gif or .mp4")
    replay = RunReplay(run_dir, regenerate=regenerate)
    try:
        images = episode_images(replay, episode, scale=scale)
    finally:
        replay.close()
    images += [images[-1]] * max(0, hold_last)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(images, out, fps=fps)
    return out


def write_video(images: list[NDArray[np.uint8]], out: Path, *, fps: float) -> None:
    """Frames to a GIF (Pillow: one palette shared by all frames, so only what changes between
    frames is stored) or an MP4 (imageio with its ffmpeg plugin)."""
    if out.suffix.lower() == ".mp4":
        try:
            import imageio.v3 as iio

            iio.imwrite(out, np.stack(images), fps=fps, codec="libx264", macro_block_size=2)
        except (ImportError, ValueError, OSError, RuntimeError) as exc:
            raise RuntimeError(
                f"MP4 export failed ({exc}); it needs imageio and its ffmpeg plugin:"
                " pip install imageio imageio-ffmpeg (or export a .gif)"
            ) from exc
        return
    sample = Image.fromarray(np.concatenate(images[:: max(1, len(images) // 6)], axis=0))
    palette = sample.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    frames = [
        Image.fromarray(i).quantize(palette=palette, dither=Image.Dither.NONE) for i in images
    ]
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)


def _scaled(img: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
