"""Audio files and maths with no timeline knowledge: resampling and stretching, pitch, loudness, broadcast WAV."""
