"""Check-in questions on a terminal: a mood from 0 to 10, a short note, the care note.

Asked by playback (``haven play --checkin``), ``haven today`` and the journal commands, so
they live here rather than in one of those: playback must not import a command module.
Imports only click (and the journal's text cleaner, inside ``prompt_note``).
"""

from __future__ import annotations

import click

from player import layout

MOOD_PROMPT = "How do you feel right now, 0-10?"
NOTE_PROMPT = "A short note about this session (Enter to skip)"




class leave_on_ctrl_c:
    """Around a question (``click.prompt``/``click.confirm``): Ctrl-C leaves at once, as a
    ``KeyboardInterrupt`` the CLI turns into exit 130; it never just skips to the next
    question (or on into playback). End of input (Ctrl-D, a closed pipe) is not leaving:
    the ``answer`` bound by the question stays None, and the caller skips it."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None or not issubclass(kind, click.Abort):
            return False
        click.echo("", err=True)  # the prompt's line stays unfinished otherwise
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        return True  # end of input: the caller sees no answer


def prompt_mood(prompt_text: str = MOOD_PROMPT) -> int | None:
    """Ask for a 0-10 mood rating; Enter (or end of input) skips and returns ``None``.

    Anything else than a whole number from 0 to 10 is explained and asked again.
    """
    while True:
        answer = None
        with leave_on_ctrl_c():
            answer = click.prompt(prompt_text, default="", show_default=False, prompt_suffix=" ")
        if answer is None:  # end of input: skip
            return None
        answer = str(answer).strip()
        if not answer:
            return None
        if answer.isdigit() and 0 <= int(answer) <= 10:
            return int(answer)
        click.echo("Please answer with a whole number from 0 to 10, or press Enter to skip.", err=True)


def show_care(message: str) -> None:
    """Show ``player.care``'s note (paragraphs split by blank lines), wrapped for a terminal."""
    click.echo("\n" + "\n\n".join(layout.wrap(par) for par in message.split("\n\n")) + "\n")


def prompt_note(prompt_text: str = NOTE_PROMPT) -> str | None:
    """Ask for a one-line note; Enter (or end of input) skips and returns ``None``."""
    from player.journal.records import clean_typed_text

    answer = None
    with leave_on_ctrl_c():
        answer = click.prompt(prompt_text, default="", show_default=False, prompt_suffix=": ")
    if answer is None:  # end of input: skip
        return None
    # Keys such as the arrows type escape sequences into a plain prompt: drop them, so the
    # note is kept (a note may not hold control characters).
    return clean_typed_text(str(answer)) or None
