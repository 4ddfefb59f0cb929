"""Settings: one TOML file, typed validation, clear errors, atomic owner-only writes."""

from __future__ import annotations

import stat

import pytest

from player import config, paths
from player.errors import ConfigError
from player.journal.rules import Rules


def test_defaults_without_a_file(haven_home):
    cfg = config.load_config()
    assert cfg.path == haven_home / "config" / "config.toml"
    assert not cfg.path.exists()
    assert cfg["journal.day_starts_at"] == "04:00"
    assert cfg["journal.min_minutes"] == 1
    assert cfg["journal.goal_days_per_week"] == 5
    assert cfg["journal.week_starts"] == "monday"
    assert cfg["journal.show_streaks"] is True
    assert cfg["audio.loudness_lufs"] == -18
    assert cfg["play.checkin"] is False
    assert cfg["voice.engine"] == "auto" and cfg["voice.rate"] == 1.0
    assert cfg["ambient.sound"] == "none" and cfg["ambient.level_db"] == -24
    assert cfg.journal_rules == Rules(day_starts_at=240, min_minutes=1.0, goal_days_per_week=5, week_starts=0)
    assert cfg.explicit == frozenset()


def test_set_get_round_trip_and_file_modes():
    assert config.set("journal.day_starts_at", "5:30") == ("journal.day_starts_at", "05:30")
    assert config.set("show_streaks", "off") == ("journal.show_streaks", False)
    assert config.set("journal.min_minutes", "2.5") == ("journal.min_minutes", 2.5)
    assert config.set("goal_days_per_week", "4") == ("journal.goal_days_per_week", 4)
    assert config.set("week_starts", "Sunday") == ("journal.week_starts", "sunday")
    assert config.set("voice", "en-gb") == ("voice.name", "en-gb")
    assert config.set("loudness", "-23") == ("audio.loudness_lufs", -23)
    assert config.set("checkin", "yes") == ("play.checkin", True)
    assert config.set("ambient.sound", "rain") == ("ambient.sound", "rain")
    cfg = config.load_config()
    assert cfg.journal_rules == Rules(day_starts_at=330, min_minutes=2.5, goal_days_per_week=4, week_starts=6)
    assert cfg.show_streaks is False
    assert config.get("voice.name") == "en-gb"
    path = paths.config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left
    text = path.read_text()
    assert "[journal]" in text and 'day_starts_at = "05:30"' in text and "show_streaks = false" in text
    assert "engine" not in text  # only what the user set is written


def test_unset_returns_to_the_default():
    config.set("journal.min_minutes", "10")
    assert config.unset("min_minutes") == ("journal.min_minutes", 1)
    assert config.load_config()["journal.min_minutes"] == 1
    assert "min_minutes" not in paths.config_path().read_text()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("journal.day_starts_at", "13:00", "between 00:00 and 12:00"),
        ("journal.day_starts_at", "4am", 'must be a time "HH:MM"'),
        ("journal.min_minutes", "-1", "must be a number from 0 to 1440"),
        ("journal.min_minutes", "lots", "must be a number from 0 to 1440"),
        ("journal.goal_days_per_week", "8", "must be a whole number from 1 to 7"),
        ("journal.goal_days_per_week", "4.5", "must be a whole number from 1 to 7"),
        ("journal.week_starts", "someday", "must be a day of the week"),
        ("journal.show_streaks", "maybe", "must be true or false"),
        ("voice.rate", "3", "must be a number from 0.5 to 2"),
        ("audio.loudness_lufs", "0", "must be a number from -40 to -6"),
        ("ambient.sound", "thunder", "must be one of: none, "),
        ("voice.engine", "Big Engine", "must be a name"),
    ],
)
def test_invalid_values_are_refused_with_the_key_named(key, value, message):
    with pytest.raises(ConfigError) as info:
        config.set(key, value)
    assert str(info.value).startswith(f"{key}: {value!r} ")
    assert message in str(info.value)
    assert not paths.config_path().exists()


def test_unknown_keys_get_the_nearest_suggestion():
    with pytest.raises(ConfigError, match=r"unknown setting 'journal.min_minute'; did you mean 'journal.min_minutes'\?"):
        config.set("journal.min_minute", "2")
    with pytest.raises(ConfigError, match=r"did you mean 'journal.show_streaks'\?"):
        config.get("show_streak")
    with pytest.raises(ConfigError, match=r"^unknown setting 'colour'$"):
        config.get("colour")


def test_errors_in_the_file_name_the_file_and_key():
    path = paths.config_path()
    paths.ensure_private_dir(path.parent)
    path.write_text("[journal]\nmin_minutes = -3\n")
    with pytest.raises(ConfigError, match=r"config.toml: journal.min_minutes: -3 must be a number"):
        config.load_config()
    path.write_text("[journal]\nday_start = \"05:00\"\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'journal.day_start'; did you mean 'journal.day_starts_at'\?"):
        config.load_config()
    path.write_text("[journal\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load_config()
    path.write_text("[journal]\nshow_streaks = \"no\"\nmin_minutes = 2\n")
    cfg = config.load_config()
    assert cfg["show_streaks"] is False and cfg["min_minutes"] == 2


def test_setting_keeps_other_values():
    config.set("journal.min_minutes", "5")
    config.set("voice.rate", "0.8")
    cfg = config.load_config()
    assert (cfg["journal.min_minutes"], cfg["voice.rate"]) == (5, 0.8)
    assert cfg.explicit == {"journal.min_minutes", "voice.rate"}


def test_describe_lists_every_setting():
    config.set("voice.rate", "0.9")
    rows = {r["key"]: r for r in config.describe()}
    assert set(rows) == {s.key for s in config.SETTINGS}
    assert rows["voice.rate"]["set"] and rows["voice.rate"]["value"] == 0.9 and rows["voice.rate"]["default"] == 1.0
    assert not rows["journal.min_minutes"]["set"]
