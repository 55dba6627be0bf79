"""Operating Signoff: start-up checks and `signoff doctor`."""
