"""The audio engine: synthesis, timeline, mixing, loudness, rendering and live playback."""
