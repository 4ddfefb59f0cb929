"""The listing's header cache: same answers as parsing, follows edits, never breaks a listing."""

from __future__ import annotations

import os
import subprocess
import sys

from player.library import catalog as library
from player import paths


def _write(path, title, category="breathing"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"title: {title}\nsummary: s\ncategory: {category}\nsteps:\n  - say: Hello.\n",
        encoding="utf-8",
    )


def test_cached_listing_equals_a_parsed_one():
    first = library.list_scripts()  # parses every file and writes the cache
    assert (paths.cache_dir() / library.HEADER_CACHE).is_file()
    assert library.list_scripts() == first  # from the cache


def test_an_edited_script_is_read_again():
    path = paths.user_scripts_dir() / "mine.yaml"
    _write(path, "Before")
    assert {s.id: s.title for s in library.list_scripts()}["mine"] == "Before"
    _write(path, "After, a longer title", category="sleep")
    os.utime(path, ns=(1, 1))  # a different stamp even on a coarse clock
    mine = {s.id: s for s in library.list_scripts()}["mine"]
    assert (mine.title, mine.category) == ("After, a longer title", "sleep")


def test_a_damaged_cache_is_ignored_and_rewritten():
    library.list_scripts()
    cache = paths.cache_dir() / library.HEADER_CACHE
    cache.write_text("{not json", encoding="utf-8")
    assert library.list_scripts()[0].title
    assert cache.read_text(encoding="utf-8").startswith("{")


def test_broken_files_are_reported_every_time():
    path = paths.user_scripts_dir() / "broken.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("title: [unclosed\n", encoding="utf-8")
    for _ in range(2):
        broken = {s.id: s for s in library.list_scripts()}["broken"]
        assert broken.problem


def test_warm_listing_imports_no_yaml():
    library.list_scripts()
    code = (
        "import sys\nfrom player.library import catalog as library\nlibrary.list_scripts()\n"
        "print('YAML' if 'yaml' in sys.modules else 'NO-YAML')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "NO-YAML"
