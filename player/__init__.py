"""Haven: an offline, voice-guided meditation and breathing exercise player."""

__version__ = "0.1.0"
