"""``otio-dub cache``: inspect or prune the render cache."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .common import user_errors


@click.group()
def cache() -> None:
    """Inspect or prune the render cache of fitted takes."""


_cache_option = click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                             help="Cache folder (default: the user cache dir, or $OTIO_DUB_CACHE).")


@cache.command("info")
@_cache_option
@user_errors
def cache_info(cache_dir: Path | None) -> None:
    """Where the cache is, how many takes it holds and how big it is (creates nothing)."""
    from ..store.cache import cache_info as read_info
    from ..store.cache import default_folder

    info = read_info(cache_dir or default_folder())

    def when(t: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"

    click.echo(f"Cache:   {info['folder']}\nTakes:   {info['entries']}\nSize:    {info['bytes'] / 1e6:.1f} MB\n"
               f"Used:    {when(info['oldest_use'])} .. {when(info['newest_use'])}")


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        value = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text) * 86400
    except (ValueError, IndexError):
        value = float("nan")
    if not value >= 0 or value == float("inf"):  # nan, negative, infinite
        raise click.BadParameter(f"{text!r} is not a duration like 30d, 12h or 2w", param_hint="--older-than")
    return value


@cache.command("prune")
@_cache_option
@click.option("--older-than", metavar="AGE", help="Drop takes unused for AGE (30d, 12h, 2w; a bare number is days).")
@click.option("--all", "everything", is_flag=True, help="Drop every take.")
@user_errors
def cache_prune(cache_dir: Path | None, older_than: str | None, everything: bool) -> None:
    """Drop old takes (and files a killed run left behind); only in a folder marked as a cache."""
    from ..store.cache import RenderCache, default_folder

    if not everything and older_than is None:
        raise click.UsageError("say --older-than AGE or --all")
    age = None if everything or older_than is None else _duration(older_than)  # before the cache folder is touched
    folder = cache_dir or default_folder()
    if not folder.expanduser().exists():
        click.echo(f"Removed 0 take(s) from {folder} (no cache there yet)")
        return
    store = RenderCache(folder, create=False)
    try:
        removed = store.prune(age)
    finally:
        store.close()
    click.echo(f"Removed {removed} take(s) from {store.folder}")
