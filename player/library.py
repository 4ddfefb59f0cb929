"""Finding exercises by name: built-in scripts, the user's own scripts, or a path to a file.

A user script with the same id as a built-in one takes its place, so people can adapt a
built-in exercise without renaming it. Listing reads only each file's header fields with
libyaml when available, so ``haven list`` stays fast.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from player import paths
from player.errors import NotFoundError

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class ScriptInfo:
    id: str
    title: str
    summary: str
    category: str | None
    tags: tuple[str, ...]
    source: str  # "built-in" or "user"
    path: Path
    problem: str | None = None  # set when the header cannot be read

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "category": self.category,
            "tags": list(self.tags),
            "source": self.source,
            "path": str(self.path),
            "problem": self.problem,
        }


def _script_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        p.stem: p
        for p in sorted(folder.iterdir())
        if p.suffix in (".yaml", ".yml") and p.is_file() and ID_RE.match(p.stem)
    }


def script_paths() -> dict[str, tuple[Path, str]]:
    """Every known script id -> (path, source); user scripts shadow built-in ones."""
    found = {sid: (p, "built-in") for sid, p in _script_files(paths.builtin_dir("scripts")).items()}
    found.update({sid: (p, "user") for sid, p in _script_files(paths.user_scripts_dir()).items()})
    return dict(sorted(found.items()))


def looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or os.sep in name or (os.altsep or "\0") in name


def resolve(name: str) -> Path:
    """The file for NAME: a path to a .yaml file, or a user or built-in script id."""
    if looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise NotFoundError(f"no such script file: {name}")
        return path
    known = script_paths()
    if name in known:
        return known[name][0]
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise NotFoundError(
        f"no exercise named '{name}'{hint}; 'haven list' shows them all"
    )


def _read_header(path: Path) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as fh:
        data = yaml.load(fh.read(1 << 20), Loader=loader)  # noqa: S506 - a safe loader
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    return data


def list_scripts(category: str | None = None) -> list[ScriptInfo]:
    """Header information of every script, built-in and user, sorted by id."""
    result = []
    for sid, (path, source) in script_paths().items():
        try:
            head = _read_header(path)
            info = ScriptInfo(
                id=sid,
                title=str(head.get("title") or sid),
                summary=str(head.get("summary") or ""),
                category=head.get("category"),
                tags=tuple(str(t) for t in head.get("tags") or ()),
                source=source,
                path=path,
            )
        except Exception as exc:  # a broken user file must not break the listing
            info = ScriptInfo(sid, sid, "", None, (), source, path, problem=str(exc).splitlines()[0])
        if category is None or info.category == category:
            result.append(info)
    return result


def load(name: str, params: dict[str, str] | None = None):
    """Resolve NAME and load it as a validated Script."""
    from player.script import load_script

    return load_script(resolve(name), params=params)
