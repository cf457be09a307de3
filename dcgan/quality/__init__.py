"""Judging generated images against real ones: SWD, colour, MS-SSIM, nearest images."""
