"""A user's photos -> the 64x64 cache: import, decode, prepare, and the built-in portraits."""
