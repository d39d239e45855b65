"""The pygame window around a `Viewer`: events in, the renderer's picture out.

All the window does is translate pygame's events into the viewer's key names (and clicks on the
scrubber into a seek) and show `Viewer.render()`. Everything else is in `viz.viewer`, so the
tests can drive the same window headless (`SDL_VIDEODRIVER=dummy`) with posted key events.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from viz.render import HEIGHT, SCRUBBER, WIDTH
from viz.viewer import Viewer

INSTALL_HINT = "the viewer window needs pygame: pip install 'steve-evolving[viz]' (or pygame)"


def _pygame() -> Any:
    try:
        import pygame
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None
    return pygame


def key_name(event: Any) -> str:
    """The viewer's name for a pygame KEYDOWN event: the character typed where there is one
    (`+`, `?`, `]`), else pygame's key name without spaces (`right`, `pagedown`, `escape`)."""
    pygame = _pygame()
    char = getattr(event, "unicode", "") or ""
    if char == " ":
        return "space"
    if len(char) == 1 and char.isprintable():
        return char.lower() if char.isalpha() else char
    return str(pygame.key.name(event.key)).replace(" ", "").lower()


class Window:
    """A pygame window showing a viewer; `step()` is one turn of its event loop."""

    def __init__(self, viewer: Viewer, title: str = "steve") -> None:
        self.pygame = _pygame()
        self.viewer = viewer
        self.pygame.display.init()
        self.pygame.display.set_caption(title)
        self.screen = self.pygame.display.set_mode((WIDTH, HEIGHT))
        self.keys: list[str] = []  # every key the window passed on, in order

    def step(self, dt: float) -> NDArray[np.uint8]:
        """Handle pending events, let `dt` seconds pass, draw; returns what is on screen."""
        pg = self.pygame
        for event in pg.event.get():
            if event.type == pg.QUIT:
                self.viewer.quit = True
            elif event.type == pg.KEYDOWN:
                name = key_name(event)
                self.keys.append(name)
                self.viewer.handle(name)
            elif event.type == pg.MOUSEBUTTONDOWN and event.button == 1:
                x, y, w, h = SCRUBBER
                mx, my = event.pos
                if x <= mx < x + w and y - 8 <= my < y + h + 4:
                    self.viewer.seek_fraction((mx - x) / w)
        self.viewer.tick(dt)
        img = self.viewer.render()
        surface = pg.surfarray.make_surface(np.ascontiguousarray(img.transpose(1, 0, 2)))
        self.screen.blit(surface, (0, 0))
        pg.display.flip()
        return img

    def screen_pixels(self) -> NDArray[np.uint8]:
        """What the window shows now (H, W, 3), read back from the display surface."""
        return np.asarray(self.pygame.surfarray.array3d(self.screen)).transpose(1, 0, 2)

    def run(self, fps: int = 30, seconds: float | None = None) -> None:
        """The event loop, until the viewer quits (or `seconds` pass)."""
        clock = self.pygame.time.Clock()
        start = last = time.perf_counter()
        while not self.viewer.quit:
            now = time.perf_counter()
            self.step(now - last)
            last = now
            if seconds is not None and now - start >= seconds:
                break
            clock.tick(fps)

    def close(self) -> None:
        self.pygame.display.quit()
