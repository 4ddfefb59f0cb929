"""``haven new``: start a script of your own, from a commented template or a built-in exercise.

The new file goes in the user scripts folder (``paths.user_scripts_dir()``, created 0700), where
``haven list`` finds it and marks it as yours. An existing file is never overwritten: the file
is created with ``O_EXCL``, so even two ``haven new`` runs at once cannot clobber each other.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from player import paths
from player.errors import BadInputError, NotFoundError
from player.files import FileAccessError, read_regular
from player.format.model import ID_RE  # the one id pattern
from player.printable import printable

MAX_ID_CHARS = 100

# The default starter: short, valid, and using every action and top-level key once, each with
# a note, so that reading it teaches the format. @ID@ and @TITLE@ are filled in (the text has
# its own braces: YAML flow mappings and {param} references).
TEMPLATE = """\
# @TITLE@: your own Haven exercise. Its id is @ID@ (the file name without .yaml).
#
# A starter script: short, complete, and using every action once, with a note on each.
# Change the words, timings and order, and delete whatever you do not need. Then:
#   haven validate @ID@     check it (each problem comes with its line and column)
#   haven play @ID@         listen to it (or: haven render @ID@ -o @ID@.wav)
#   haven show @ID@         its sections and the lengths --minutes can fit it to
#
# Writing tips: keep sentences short and plain, invite rather than instruct ("you might"), and
# tell the listener early on that they can open their eyes, move or stop at any time.
# Durations are seconds (10) or text like 45s or 1m30s. Pauses, "after" silences and breathing
# given with "for" are elastic: they stretch or shrink to fit --minutes. Spoken text does not.

haven: 1                    # the script format version
title: @TITLE@
summary: A short pause with the breath, started from Haven's template.
credit: Paced breathing; my own words.  # where the practice comes from (haven show prints it)
category: breathing         # breathing, meditation, body-scan, self-compassion, sleep or relaxation
tags: [short, my-own]       # a few words to find it by
voice: {rate: 0.95}         # how it speaks: rate (0.5 to 2, 1 is normal), volume, engine, name
language: en                # the language it is written in: picks a voice that speaks it
tones: {level_db: -24}      # breathing tones: level_db, low_hz, high_hz, hold (steady or rest)
ambient: none               # a background bed from the start: {sound: brown-noise, level_db: -30}
ending: bell                # how it ends: bell, fade (good for sleep) or silence
params:                     # words the listener can change: --param place="the garden"
  place:
    default: wherever you are
    help: where you are practising, spoken in the welcome
lexicon:                    # words the voice says wrong, and how to say them
  Haven: hay-vn             # a respelling every voice reads; per voice: {espeak: ..., piper: ...}

steps:
  - bell                                 # one strike of the bell
  - section: Arriving                    # a heading: `haven show` lists it, WAV files mark it
  - say: Welcome. Take a moment to arrive, {place}.   # {place} becomes the param's value
    after: 2s                            # silence after the words (elastic)
  - say: You can keep your eyes open or close them, move whenever you like, and stop at any time.
    after: 2s
  - pause: 10s                           # quiet time to practise (elastic)

  - section: Breathing
  - ambient: brown-noise                 # start (or change) the background bed here,
    level_db: -30                        # this many dB below full level
  - say: Now let a soft tone guide your breath. It rises as you breathe in, and falls as you breathe out.
    rate: 0.9                            # just this line a little slower
  - breathe: 4-6                         # in for 4 s, out for 6 s; or a name: coherent, box, 4-7-8
    for: 1m                              # how long, in whole breaths (elastic); or cycles: 6
    cues: tones                          # tones, voice (spoken "in" and "out"), both or none
    ramp_to: 4-8                         # slowly lengthen the out-breath as it goes
    tones: {hold: rest}                  # tone settings for this breathing only
    say:                                 # words spoken over the breathing, tones carrying on
      - at: cycle 3 out                  # from the start of the third out-breath
        text: Let the out-breath be a little softer.
  - repeat: 2                            # the steps below, twice
    steps:
      - say: Breathe in, and breathe out, at your own pace.
        volume: 0.8                      # a little quieter (0 to 1)
      - pause: 8s
        fixed: true                      # keeps its length whatever --minutes asks

  - bell: {strikes: 2, gap: 5s}          # two strikes, five seconds apart
  - section: Closing
  - ambient: none                        # the bed fades out
  - say: Gently let the practice go. When you are ready, open your eyes and move a little.
    after: 3s
"""

FROM_HEADER = """\
# @ID@: your own copy of Haven's built-in exercise '@FROM@', made with `haven new`.
# Edit it freely: `haven validate @ID@` checks it, `haven play @ID@` plays it. The built-in
# stays as it was@SHADOW@.

"""


@dataclass(frozen=True)
class NewScript:
    """What ``haven new`` made: the file, its id, and the built-in it copies or replaces."""

    path: Path
    id: str
    template: str | None  # the built-in it was copied from, if any
    shadows_builtin: bool  # a built-in has the same id: this file takes its place


def title_from_id(script_id: str) -> str:
    """``my-evening-pause`` -> ``My evening pause``."""
    words = script_id.split("-")
    return " ".join([words[0].capitalize(), *words[1:]])


def check_new_id(name: str) -> str:
    """The id NAME gives a new script, or a ``BadInputError`` that suggests a fixed one."""
    if name.endswith((".yaml", ".yml")):
        stem = name.rsplit(".", 1)[0]
        raise BadInputError(f"give the id without .yaml: haven new {printable(stem)}")
    if not ID_RE.match(name) or len(name) > MAX_ID_CHARS:
        fixed = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:MAX_ID_CHARS].strip("-")
        like = f", like '{fixed}'" if fixed else ", like 'my-exercise'"
        raise BadInputError(
            f"'{printable(name)}' cannot be a script id: use lower-case letters, digits and "
            f"single hyphens{like}"
        )
    return name


def _builtin_script(template: str) -> Path:
    from player.library.catalog import find_by_id

    folder = paths.builtin_dir("scripts")
    known = {p.stem: p for p in sorted(folder.glob("*.yaml"))}
    return find_by_id(template, known, what="built-in exercise",
                      listing="'haven list' shows them (yours are marked *)")


def _read_builtin(source: Path) -> str:
    """A built-in exercise's text, read like every other script (bounded, regular files only)."""
    from player.format.located_yaml import MAX_FILE_BYTES

    try:
        data = read_regular(source, limit=MAX_FILE_BYTES, what="script file", error=BadInputError)
        return data.decode("utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"the built-in exercise file {source} is missing") from None
    except UnicodeDecodeError:
        raise BadInputError(f"{source}: not valid UTF-8") from None


def new_script(name: str, template: str | None = None, replace: bool = False) -> NewScript:
    """Write a starter script NAME into the user scripts folder and return where it went.

    Without ``template`` the commented default; with it, a copy of that built-in exercise
    under a header saying where it came from. Refuses (``BadInputError``) to overwrite, and
    to take a built-in exercise's name (which would play in its place, in programs too)
    unless ``replace`` is given.
    """
    script_id = check_new_id(name)
    if not replace and (paths.builtin_dir("scripts") / f"{script_id}.yaml").is_file():
        raise BadInputError(
            f"'{script_id}' is the name of a built-in exercise: a script of yours with that "
            "name would play in its place everywhere, programs included",
            hint=f"for a copy to change, haven new my-{script_id} --from {script_id}; "
                 "to take its place anyway, add --replace",
        )
    if template is None:
        text = TEMPLATE.replace("@ID@", script_id).replace("@TITLE@", title_from_id(script_id))
    else:
        source = _builtin_script(template)
        shadow = " (while this file exists, it plays in its place)" if script_id == template else ""
        header = (
            FROM_HEADER.replace("@ID@", script_id).replace("@FROM@", template)
            .replace("@SHADOW@", shadow)
        )  # fmt: skip
        text = header + _read_builtin(source)
    try:
        folder = paths.ensure_private_dir(paths.user_scripts_dir())
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, paths.user_scripts_dir(), doing="create") from None
    path = folder / f"{script_id}.yaml"
    for other in (path, path.with_suffix(".yml")):
        if other.exists() or other.is_symlink():
            raise BadInputError(
                f"{other} already exists; choose another name, or edit that file"
            )
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BadInputError(f"{path} already exists; choose another name, or edit that file") from None
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, path, doing="create") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:  # a full disk: leave no half-written starter behind
        with contextlib.suppress(OSError):
            path.unlink()
        raise FileAccessError.from_os_error(exc, path, doing="write") from None
    shadows = (paths.builtin_dir("scripts") / f"{script_id}.yaml").is_file()
    return NewScript(path, script_id, template, shadows)
