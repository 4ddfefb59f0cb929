"""The exercise library: built-in and user exercises, programs, lengths, code-built sessions, feeds and reminders."""
